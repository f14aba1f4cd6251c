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
        let (first, last) = ArenaPlan.lifetimes(graph)
        let planned = (0..<count).filter { graph.tensors[$0].role != .constant && first[$0] != Int.max }
        var offsets = [Int](repeating: -1, count: count)
        let packed = ArenaPlan.pack(planned.map { (graph.tensors[$0].byteCount, first[$0], last[$0]) })
        for (k, t) in planned.enumerated() { offsets[t] = packed.offsets[k] }
        let top = packed.top
        self.offsets = offsets
        self.tensorBytes = top
        var io = 0
        for i in graph.inputs { io += graph.tensors[i].byteCount }
        for o in graph.outputs { io += graph.tensors[o].byteCount }
        self.ioBytes = io
        self.scratchOffset = Layout.alignUp(top)
        self.scratchBytes = Layout.alignUp(scratchBytes)
    }

    /// First and last node index at which each tensor is live: graph inputs from -1, graph outputs and inputs
    /// to `nodes.count` (the caller reads outputs after a run and may run again); Int.max/-1 for unused ones.
    static func lifetimes(_ graph: Graph) -> (first: [Int], last: [Int]) {
        let count = graph.tensors.count
        var first = [Int](repeating: Int.max, count: count)
        var last = [Int](repeating: -1, count: count)
        for i in graph.inputs { first[i] = -1 }
        for (n, node) in graph.nodes.enumerated() {
            for i in node.inputs where i != absentTensor { last[i] = max(last[i], n) }
            for o in node.outputs { first[o] = min(first[o], n); last[o] = max(last[o], n) }
        }
        for o in graph.outputs { last[o] = graph.nodes.count }
        for i in graph.inputs { last[i] = graph.nodes.count }
        return (first, last)
    }

    /// Greedy by size (largest first, lowest free offset): items whose [first, last] lifetimes overlap never
    /// share bytes. Returns each item's offset (in the order given) and the bytes used.
    static func pack(_ items: [(size: Int, first: Int, last: Int)]) -> (offsets: [Int], top: Int) {
        let order = items.indices.sorted { items[$0].size != items[$1].size ? items[$0].size > items[$1].size : $0 < $1 }
        var offsets = [Int](repeating: 0, count: items.count)
        // Kept sorted by offset, so the intervals whose lifetimes overlap an item come in offset order without a sort
        // per item (a CAT placement of DenseNet-121 packs ~2,000 items for each of its hundreds of trial plans).
        var placed: [(offset: Int, end: Int, first: Int, last: Int)] = []
        var top = 0
        for k in order {
            let it = items[k]
            let size = Layout.alignUp(max(it.size, 1))
            var candidate = 0
            for c in placed where !(c.last < it.first || it.last < c.first) {
                if candidate + size <= c.offset { break }
                candidate = max(candidate, c.end)
            }
            offsets[k] = candidate
            var at = placed.count
            while at > 0 && placed[at - 1].offset > candidate { at -= 1 }
            placed.insert((candidate, candidate + size, it.first, it.last), at: at)
            top = max(top, candidate + size)
        }
        return (offsets, top)
    }

    /// The most bytes live at once, summed over the items live at each node (no packing losses): the peak a
    /// perfect planner would reach.
    static func peakLive(_ items: [(size: Int, first: Int, last: Int)], nodeCount: Int) -> Int {
        liveBytes(items, nodeCount: nodeCount).max() ?? 0
    }

    /// Per node step, the bytes of the items live at it (what `peakLive` takes the maximum of).
    static func liveBytes(_ items: [(size: Int, first: Int, last: Int)], nodeCount: Int) -> [Int] {
        // Each item adds its size from its first live step to its last: a difference array, one pass over the items.
        let count = max(nodeCount, 1)
        var change = [Int](repeating: 0, count: count + 1)
        for it in items {
            let lo = max(it.first, 0), hi = min(it.last, count - 1)
            if lo > hi { continue }
            change[lo] += it.size
            change[hi + 1] -= it.size
        }
        var live = 0
        return (0..<count).map { n in
            live += change[n]
            return live
        }
    }
}
