/// `nibble convert --outputs`: keep only some outputs of an ONNX graph, and only the nodes they depend on. A
/// classifier exported by skl2onnx ends in an int64 label (ArgMax) and an ai.onnx.ml ZipMap beside its probabilities;
/// neither can be a Nibble output, and lowering refuses them, so the probabilities alone must be selectable. Any
/// value a node produces may be chosen (an intermediate tensor becomes an output).
extension ONNXImporter {
    /// The model with `names` as its graph outputs, in that order, and the nodes none of them depends on removed
    /// (their order kept). Names must be graph outputs or node outputs; graph inputs and initializers cannot be.
    static func selectingOutputs(_ names: [String], of model: Onnx_ModelProto) throws -> Onnx_ModelProto {
        let g = model.graph
        var producer: [String: Int] = [:]
        for (i, n) in g.node.enumerated() { for o in n.output where !o.isEmpty { producer[o] = i } }
        var seen = Set<String>()
        for name in names {
            if !seen.insert(name).inserted { throw ConvertError.invalidInput("--outputs: '\(name)' is named twice") }
            if producer[name] == nil {
                throw ConvertError.invalidInput("--outputs: no node of the ONNX graph produces '\(name)'; its graph outputs are \(g.output.map { "'\($0.name)'" }.joined(separator: ", "))")
            }
        }
        // Walk back from the chosen outputs through every input (subgraph attributes are not followed: the importer
        // refuses control flow anyway).
        var needed = Set<Int>()
        var pending = names.compactMap { producer[$0] }
        while let i = pending.popLast() {
            if !needed.insert(i).inserted { continue }
            for input in g.node[i].input { if let p = producer[input] { pending.append(p) } }
        }
        var selected = model
        selected.graph.node = g.node.indices.filter(needed.contains).map { g.node[$0] }
        let declared = Dictionary(g.output.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        selected.graph.output = names.map { name in
            declared[name] ?? { var v = Onnx_ValueInfoProto(); v.name = name; return v }()
        }
        return selected
    }
}
