import NibbleFormat
import NibbleKernels

/// Elementwise activations: Relu, Clip, Sigmoid, HardSigmoid (ONNX: max(0, min(1, αx+β))),
/// HardSwish (x·HardSigmoid(x) with α=1/6, β=1/2; MobileNetV3), LeakyRelu (x < 0: αx), Tanh, Swish (x·Sigmoid(x);
/// EfficientNet).
struct UnaryStep {
    enum Function { case relu, clip, sigmoid, hardSigmoid, hardSwish, leakyRelu, tanh, swish }
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
        case .leakyRelu: f = .leakyRelu
        case .tanh: f = .tanh
        case .swish: f = .swish
        default: f = .hardSwish
        }
        let alpha = try c.float(.alpha, default: f == .hardSwish ? 1.0 / 6 : f == .leakyRelu ? 0.01 : 0.2)
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
        case .leakyRelu: for i in r { y[i] = x[i] < 0 ? alpha * x[i] : x[i] }
        case .tanh: for i in r { y[i] = UnaryStep.tanh(x[i]) }
        case .swish: ActivationRows.swish(x + r.lowerBound, count: r.count, into: y + r.lowerBound)
        }
    }

    /// tanh: for |x| < 1 Lambert's continued fraction cut to its [7/6] Padé form x(135135 + 17325x² + 378x⁴ + x⁶) /
    /// (135135 + 62370x² + 3150x⁴ + 28x⁶), beyond it 1 − 2 / (e^{2|x|} + 1) with the core's exp (where that subtraction
    /// loses no digits) and the sign of x; e^{2|x|} overflows to +∞ past ≈ 44, giving exactly ±1. Relative error
    /// ≤ 2.2e-7 over the whole range (checked against float64 tanh); odd, so −0 stays −0; NaN stays NaN.
    @inline(__always)
    static func tanh(_ x: Float) -> Float {
        let a = abs(x)
        if !(a >= 1) {
            let x2 = x * x
            return x * (135_135 + x2 * (17_325 + x2 * (378 + x2))) / (135_135 + x2 * (62_370 + x2 * (3_150 + x2 * 28)))
        }
        let t = 1 - 2 / (Exponential.exp(2 * a) + 1)
        return x < 0 ? -t : t
    }
}
