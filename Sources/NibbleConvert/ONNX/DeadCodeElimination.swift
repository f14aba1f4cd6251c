import NibbleFormat

/// The importer's last pass: drops nodes and tensors the outputs do not depend on (folded shape
/// subgraphs, weights replaced by BatchNorm folding) and renumbers tensors compactly.
/// Graph inputs are kept even when unused: the caller still feeds them.
enum DeadCodeElimination {
    static func run(_ r: ONNXImporter.Result) -> ONNXImporter.Result {
        let g = r.graph
        var needed = [Bool](repeating: false, count: g.tensors.count)
        for o in g.outputs { needed[o] = true }
        var keepNode = [Bool](repeating: false, count: g.nodes.count)
        for (i, node) in g.nodes.enumerated().reversed() where node.outputs.contains(where: { needed[$0] }) {
            keepNode[i] = true
            for t in node.inputs where t != absentTensor { needed[t] = true }
            for t in node.outputs { needed[t] = true }
        }
        for i in g.inputs { needed[i] = true }
        var remap = [Int](repeating: absentTensor, count: g.tensors.count)
        var out = Graph(metadata: g.metadata)
        var constants: [Int: HostTensor] = [:]
        for (i, t) in g.tensors.enumerated() where needed[i] {
            remap[i] = out.tensors.count
            if let c = r.constants[i] { constants[out.tensors.count] = c }
            out.tensors.append(t)
        }
        func map(_ t: Int) -> Int { t == absentTensor ? absentTensor : remap[t] }
        for (i, node) in g.nodes.enumerated() where keepNode[i] {
            var n = node
            n.inputs = node.inputs.map(map)
            n.outputs = node.outputs.map(map)
            out.nodes.append(n)
        }
        out.inputs = g.inputs.map(map)
        out.outputs = g.outputs.map(map)
        return ONNXImporter.Result(graph: out, constants: constants, prequantized: r.prequantized)
    }
}
