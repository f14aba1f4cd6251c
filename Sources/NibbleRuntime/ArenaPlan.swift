import NibbleFormat

/// Where each non-constant tensor lives in the session arena, planned once from tensor lifetimes.
/// Greedy by size (largest first, lowest free offset), as TFLite Micro's GreedyMemoryPlanner does:
/// tensors whose lifetimes overlap never share bytes. Scratch for kernels sits after the tensors.
public struct ArenaPlan: Sendable {
    /// Byte offset of each tensor in the arena; -1 for constants (they live in the weights section).
    public let offsets: [Int]
    /// Bytes used by tensors at peak (what the planner packed them into).
    public let tensorBytes: Int
    /// Bytes of the graph's inputs and outputs, which are part of `tensorBytes` (reported beside it).
    public let ioBytes: Int
    /// Scratch bytes for kernels (im2col panels, quantized inputs), after the tensors.
    public let scratchOffset: Int
    public let scratchBytes: Int
    /// Total arena bytes, a multiple of `Layout.alignment`.
    public var totalBytes: Int { scratchOffset + scratchBytes }

    /// `scratchBytes`: the largest scratch any node needs.
    public init(graph: Graph, scratchBytes: Int) {
        let count = graph.tensors.count
        var first = [Int](repeating: Int.max, count: count)
        var last = [Int](repeating: -1, count: count)
        for i in graph.inputs { first[i] = -1; last[i] = max(last[i], -1) }
        for (n, node) in graph.nodes.enumerated() {
            for i in node.inputs where i != absentTensor { last[i] = max(last[i], n) }
            for o in node.outputs { first[o] = min(first[o], n); last[o] = max(last[o], n) }
        }
        // Outputs must survive the whole run so the caller can read them afterwards.
        for o in graph.outputs { last[o] = graph.nodes.count }
        // Inputs too: the caller sets them once and may run again.
        for i in graph.inputs { last[i] = graph.nodes.count }

        let planned = (0..<count).filter { graph.tensors[$0].role != .constant && first[$0] != Int.max }
        let order = planned.sorted {
            let a = graph.tensors[$0].byteCount, b = graph.tensors[$1].byteCount
            return a != b ? a > b : $0 < $1
        }
        var offsets = [Int](repeating: -1, count: count)
        var placed: [(offset: Int, end: Int, first: Int, last: Int)] = []
        var top = 0
        for t in order {
            let size = Layout.alignUp(max(graph.tensors[t].byteCount, 1))
            // Intervals already placed whose lifetimes overlap this one, by offset.
            let conflicts = placed.filter { !($0.last < first[t] || last[t] < $0.first) }.sorted { $0.offset < $1.offset }
            var candidate = 0
            for c in conflicts {
                if candidate + size <= c.offset { break }
                candidate = max(candidate, c.end)
            }
            offsets[t] = candidate
            placed.append((candidate, candidate + size, first[t], last[t]))
            top = max(top, candidate + size)
        }
        self.offsets = offsets
        self.tensorBytes = top
        var io = 0
        for i in graph.inputs { io += graph.tensors[i].byteCount }
        for o in graph.outputs { io += graph.tensors[o].byteCount }
        self.ioBytes = io
        self.scratchOffset = Layout.alignUp(top)
        self.scratchBytes = Layout.alignUp(scratchBytes)
    }
}
