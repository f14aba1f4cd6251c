import NibbleFormat

/// One node, validated and resolved into what its kernel needs. A closed enum, not a protocol:
/// the run loop is a switch, with no existentials or allocation (DESIGN.md, embedded-grade core).
enum Step {
    case conv(ConvStep)
    case fullyConnected(FullyConnectedStep)
    /// Conv or FullyConnected with ternary residual edges.
    case ternary(TernaryStep)
    /// Conv or FullyConnected with `wKaM` bit-serial packed weights.
    case bitSerial(BitSerialStep)
    /// 1x1 Conv or FullyConnected with sparse (CSR or N:M) weights.
    case sparse(SparseStep)
    case binary(BinaryStep)
    case unary(UnaryStep)
    case pool(PoolStep)
    case globalAveragePool(GlobalAveragePoolStep)
    case softmax(SoftmaxStep)
    case reshape(ReshapeStep)
    case concat(ConcatStep)
    /// Transpose and Slice.
    case stridedCopy(StridedCopyStep)
    case matMul(MatMulStep)

    /// Validates node `index` of `graph` (attributes, dtypes, shapes against the op's own shape rule)
    /// and returns its step with the scratch bytes its kernel needs.
    static func make(graph: Graph, index: Int) throws(NibbleError) -> (Step, scratchBytes: Int) {
        let c = NodeChecker(graph: graph, index: index)
        let node = graph.nodes[index]
        if node.precision != .float32 && node.op != .conv && node.op != .fullyConnected {
            throw c.fail("precision \(node.precision.name) is only supported for Conv and FullyConnected")
        }
        if node.precision == .ternary {
            let (s, scratch) = try TernaryStep.make(c); return (.ternary(s), scratch)
        }
        if node.precision == .bitSerial {
            let (s, scratch) = try BitSerialStep.make(c); return (.bitSerial(s), scratch)
        }
        if node.precision == .sparse {
            let (s, scratch) = try SparseStep.make(c); return (.sparse(s), scratch)
        }
        switch node.op {
        case .conv:
            let (s, scratch) = try ConvStep.make(c); return (.conv(s), scratch)
        case .fullyConnected:
            let (s, scratch) = try FullyConnectedStep.make(c); return (.fullyConnected(s), scratch)
        case .add, .sub, .mul, .div: return (.binary(try BinaryStep.make(c)), 0)
        case .relu, .clip, .sigmoid, .hardSigmoid, .hardSwish, .leakyRelu, .tanh, .swish: return (.unary(try UnaryStep.make(c)), 0)
        case .maxPool, .averagePool: return (.pool(try PoolStep.make(c)), 0)
        case .globalAveragePool: return (.globalAveragePool(try GlobalAveragePoolStep.make(c)), 0)
        case .softmax: return (.softmax(try SoftmaxStep.make(c)), 0)
        case .reshape: return (.reshape(try ReshapeStep.make(c)), 0)
        case .concat: return (.concat(try ConcatStep.make(c)), 0)
        case .transpose: return (.stridedCopy(try StridedCopyStep.transpose(c)), 0)
        case .slice: return (.stridedCopy(try StridedCopyStep.slice(c)), 0)
        case .matMul: return (.matMul(try MatMulStep.make(c)), 0)
        }
    }

    @inline(__always)
    func run(_ b: Bindings) {
        switch self {
        case .conv(let s): s.run(b)
        case .fullyConnected(let s): s.run(b)
        case .ternary(let s): s.run(b)
        case .bitSerial(let s): s.run(b)
        case .sparse(let s): s.run(b)
        case .binary(let s): s.run(b)
        case .unary(let s): s.run(b)
        case .pool(let s): s.run(b)
        case .globalAveragePool(let s): s.run(b)
        case .softmax(let s): s.run(b)
        case .reshape(let s): s.run(b)
        case .concat(let s): s.run(b)
        case .stridedCopy(let s): s.run(b)
        case .matMul(let s): s.run(b)
        }
    }

    /// Steps a session's threads split into tasks over output channels (or groups), or elements; the others run
    /// whole on the calling thread. Elementwise steps split from 16 Ki values (64 KiB), below which waking the
    /// workers costs about what the loop does.
    var splitsIntoTasks: Bool {
        switch self {
        case .conv, .fullyConnected, .bitSerial, .pool: return true
        case .binary(let s): return s.count >= 16384 && !s.isFolded
        case .unary(let s): return s.count >= 16384
        default: return false
        }
    }

    /// Where task 0's kernel scratch starts inside the step's scratch; each task needs the bytes from there to
    /// the end (before it: what one phase writes for all tasks of the next to read).
    var taskScratchOffset: Int {
        if case .bitSerial(let s) = self { return s.kernelOffset }
        return 0
    }

    /// Rounds of tasks, each finished before the next starts: 2 for bit-serial steps (pack the input, then the
    /// conv that reads every packed pixel), 1 otherwise.
    var taskPhases: Int {
        if case .bitSerial = self { return 2 }
        return 1
    }

    /// Task `task` of `tasks` in `phase` of a step that `splitsIntoTasks`, with its own kernel scratch.
    @inline(__always)
    func runTask(_ b: Bindings, phase: Int, task: Int, of tasks: Int, scratch: UnsafeMutableRawPointer) {
        switch self {
        case .conv(let s): s.runTask(b, task: task, of: tasks, scratch: scratch)
        case .fullyConnected(let s): s.runTask(b, task: task, of: tasks, scratch: scratch)
        case .bitSerial(let s): s.runTask(b, phase: phase, task: task, of: tasks, scratch: scratch)
        case .pool(let s): s.runTask(b, task: task, of: tasks)
        case .binary(let s): s.runTask(b, task: task, of: tasks)
        case .unary(let s): s.runTask(b, task: task, of: tasks)
        default: if task == 0 { run(b) }
        }
    }

    /// Which kernel runs this step, for stats and `nibble inspect`.
    var kernelName: String {
        switch self {
        case .conv(let s): return s.kernelName
        case .fullyConnected(let s): return s.kernelName
        case .ternary(let s): return s.kernelName
        case .bitSerial(let s): return s.kernelName
        case .sparse(let s): return s.kernelName
        case .binary: return "fp32 elementwise"
        case .unary: return "fp32 activation"
        case .pool(let s): return s.isMax ? "fp32 max pool" : "fp32 average pool"
        case .globalAveragePool: return "fp32 global average pool"
        case .softmax: return "fp32 softmax"
        case .reshape: return "copy"
        case .concat: return "copy"
        case .stridedCopy(let s): return s.isSlice ? "copy" : "fp32 transpose"
        case .matMul: return "fp32 matmul (reference)"
        }
    }
}
