// Shared source (symlinked into every kernel module).

/// Where one residual edge's sums go in a ternary layer's float output (TernaryConv.accumulateEdge): the first
/// enabled edge of a chunk stores 0 + s, later edges add s, and the last one also adds the channel's bias and
/// clamps. That is TernaryConvReference's `y = 0`, `y += s` per edge and `epilogue`, operation for operation, so
/// the results are bit-identical, in one pass over the output instead of three (zeroing and the epilogue had been
/// 8 % of L1). The writers are `@_transparent`: as `@inline(__always)` methods they stayed calls, the 16 sums passed
/// through memory (10 % of L5).
public struct TernaryEdgeOutput {
    public var y: UnsafeMutablePointer<Float>
    public var first: Bool
    public var last: Bool
    public var bias: UnsafePointer<Float>?
    public var outputMin: Float
    public var outputMax: Float

    public init(_ y: UnsafeMutablePointer<Float>, first: Bool, last: Bool, bias: UnsafePointer<Float>? = nil,
                outputMin: Float = -.infinity, outputMax: Float = .infinity) {
        self.y = y
        self.first = first
        self.last = last
        self.bias = bias
        self.outputMin = outputMin
        self.outputMax = outputMax
    }

    /// y[at] ← s as above, for output channel `channel`.
    @_transparent
    func write(_ s: Float, at i: Int, channel: Int) {
        var v = (first ? 0 : y[i]) + s
        if last { v = Swift.max(Swift.min(v + (bias?[channel] ?? 0), outputMax), outputMin) }
        y[i] = v
    }

    /// y[at + t] ← s[t] for t < count (≤ 16), channel `channel`.
    @_transparent
    func write(_ s: SIMD16<Float>, at i: Int, count: Int, channel: Int) {
        guard count == 16 else {
            for t in 0..<count { write(s[t], at: i &+ t, channel: channel) }
            return
        }
        let p = UnsafeMutableRawPointer(y + i)
        var v = (first ? SIMD16<Float>() : p.loadUnaligned(as: SIMD16<Float>.self)) + s
        if last {
            v = clampLanes(v + SIMD16(repeating: bias?[channel] ?? 0), lo: SIMD16(repeating: outputMin), hi: SIMD16(repeating: outputMax))
        }
        p.storeBytes(of: v, as: SIMD16<Float>.self)
    }
}
