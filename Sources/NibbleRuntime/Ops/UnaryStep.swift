import NibbleFormat
import NibbleKernels

/// Elementwise activations: Relu, Clip, Sigmoid, HardSigmoid (ONNX: max(0, min(1, αx+β))),
/// HardSwish (x·HardSigmoid(x) with α=1/6, β=1/2; MobileNetV3).
struct UnaryStep {
    enum Function { case relu, clip, sigmoid, hardSigmoid, hardSwish }
    let function: Function
    let input: Int, output: Int, count: Int
    let alpha: Float, beta: Float
    let low: Float, high: Float

    static func make(_ c: NodeChecker) throws(NibbleError) -> UnaryStep {
        try c.requireInputs(1...1)
        let x = try c.input(0)
        try c.require(x, dtype: .float32, "input")
        try c.requireShape(c.output, c.tensor(x).shape, "output")
        try c.require(c.output, dtype: .float32, "output")
        let f: Function
        switch c.node.op {
        case .relu: f = .relu
        case .clip: f = .clip
        case .sigmoid: f = .sigmoid
        case .hardSigmoid: f = .hardSigmoid
        default: f = .hardSwish
        }
        let alpha = try c.float(.alpha, default: f == .hardSwish ? 1.0 / 6 : 0.2)
        let beta = try c.float(.beta, default: 0.5)
        let low = try c.float(.outputMin, default: -.infinity), high = try c.float(.outputMax, default: .infinity)
        if low > high { throw c.fail("output_min \(low) > output_max \(high)") }
        return UnaryStep(function: f, input: x, output: c.output, count: c.tensor(x).elementCount,
                         alpha: alpha, beta: beta, low: low, high: high)
    }

    func run(_ b: Bindings) { runTask(b, task: 0, of: 1) }

    /// Task `task` of `tasks`: a range of elements (in blocks of 16, whole vectors).
    func runTask(_ b: Bindings, task: Int, of tasks: Int) {
        let x = b.f32(input), y = b.f32(output)
        let r = TaskSplit.range(count, task: task, of: tasks, multiple: 16)
        switch function {
        case .relu: for i in r { y[i] = max(x[i], 0) }
        case .clip: for i in r { y[i] = min(max(x[i], low), high) }
        case .sigmoid: ActivationRows.sigmoid(x + r.lowerBound, count: r.count, into: y + r.lowerBound)
        case .hardSigmoid: ActivationRows.hardSigmoid(x + r.lowerBound, count: r.count, alpha: alpha, beta: beta, into: y + r.lowerBound)
        case .hardSwish: ActivationRows.hardSwish(x + r.lowerBound, count: r.count, into: y + r.lowerBound)
        }
    }
}
