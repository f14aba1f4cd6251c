// Shared source (symlinked into every kernel module): ONNX HardSigmoid and HardSwish (MobileNetV3) a vector at a time,
// with the runtime's scalar operations per lane — Swift's max(x, y) = y >= x ? y : x and min(x, y) = y < x ? y : x,
// so NaN and ±0 come out alike — and the same floats at every level.

public enum HardActivations {
    /// max(0, min(1, α·x + β)), the scalar twin.
    @inline(__always)
    public static func hardSigmoid(_ x: Float, alpha: Float, beta: Float) -> Float { max(0, min(1, alpha * x + beta)) }

    /// x · max(0, min(1, x / 6 + 1/2)), the scalar twin.
    @inline(__always)
    public static func hardSwish(_ x: Float) -> Float { x * max(0, min(1, x / 6 + 0.5)) }

    /// max(0, min(1, v)) per lane, as the scalar forms order it.
    @inline(__always)
    static func unitClamp(_ v: FVec) -> FVec {
        let one = FVec(repeating: 1), zero = FVec()
        let upper = one.replacing(with: v, where: v .< one)          // min(1, v) = v < 1 ? v : 1 (NaN → 1)
        return zero.replacing(with: upper, where: upper .>= zero)   // max(0, u) = u >= 0 ? u : 0
    }

    /// y[i] = hardSigmoid(x[i]) for i < count (`y` may be `x`).
    @inline(__always)
    public static func hardSigmoid(_ x: UnsafePointer<Float>, count: Int, alpha: Float, beta: Float, into y: UnsafeMutablePointer<Float>) {
        let a = FVec(repeating: alpha), b = FVec(repeating: beta)
        LaneRows.map(x, count: count, into: y) { unitClamp(a * $0 + b) }
    }

    /// y[i] = hardSwish(x[i]) for i < count (`y` may be `x`).
    @inline(__always)
    public static func hardSwish(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
        let six = FVec(repeating: 6), half = FVec(repeating: 0.5)
        LaneRows.map(x, count: count, into: y) { $0 * unitClamp($0 / six + half) }
    }
}
