// Shared source (symlinked into every kernel module): exp and the logistic sigmoid without libm (the core links no C
// math library, so it also builds embedded). `exp` is the scalar definition and reference twin; `expLanes` does the
// same IEEE operations per lane, branch-free, so every level gives the same floats. The runtime's scalar Sigmoid loop
// it replaces ran at ~6 ns per value: three fifths of a PyTorch EfficientNet-B0's time (its SiLUs are Sigmoid · x).

public enum Exponential {
    /// exp(x): range reduction x = n·ln2 + r with n = x·log2(e) rounded half to even and |r| ≤ ln2/2 (Cody–Waite:
    /// ln2 in a high and a low part so r keeps full precision), a degree-7 Taylor polynomial for e^r (truncation
    /// error < 2e-9 relative) by Horner's rule, and 2^n built from exponent bits. Relative error ≈ 1e-7.
    /// x > 88.7 → +∞, x < −87.3 → 0 (in between n + 127 is in 1…255: 2^n is a normal float or +∞), NaN → NaN.
    @inline(__always)
    public static func exp(_ x: Float) -> Float {
        if x > 88.7 { return .infinity }
        if x < -87.3 { return 0 }
        if x.isNaN { return x }
        let n = (x * 1.442_695_04).rounded(.toNearestOrEven)
        let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6
        var p: Float = 1.0 / 5040
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        return p * Float(bitPattern: UInt32(Int32(n) + 127) << 23)
    }

    /// `exp` of every lane. Lanes out of range or NaN are computed on 0, then replaced by exp's answers for them.
    @inline(__always)
    static func expLanes(_ x: FVec) -> FVec {
        let high = x .> FVec(repeating: 88.7), low = x .< FVec(repeating: -87.3), nan = x .!= x
        let safe = x.replacing(with: 0, where: high).replacing(with: 0, where: low).replacing(with: 0, where: nan)
        let n = (safe * 1.442_695_04).rounded(.toNearestOrEven)
        let r = (safe - n * 0.693_145_75) - n * 1.428_606_8e-6
        var p = FVec(repeating: 1.0 / 5040)
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        // n + 127 is an integer in 1…255: 2^23 + (n + 127) holds it in its low mantissa bits (a float → int lane
        // conversion would be a per-lane call here, see LaneConversion).
        let biased = unsafeBitCast(n + FVec(repeating: 8_388_735), to: FVec.MaskStorage.self) & FVec.MaskStorage(repeating: 0xFF)
        let y = p * unsafeBitCast(biased &<< 23, to: FVec.self)
        return y.replacing(with: .infinity, where: high).replacing(with: 0, where: low).replacing(with: x, where: nan)
    }

    /// y[i] = 1 / (1 + exp(−x[i])) for i < count, a vector at a time (the last one partial). `y` may be `x`.
    @inline(__always)
    public static func sigmoid(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
        let one = FVec(repeating: 1)
        LaneRows.map(x, count: count, into: y) { one / (one + expLanes(-$0)) }
    }

    /// y[i] = x[i] · sigmoid(x[i]) (Swish, SiLU) for i < count: the floats of `sigmoid` and then a multiply, as the
    /// graph Sigmoid → Mul computes them, in one pass. `y` may be `x`.
    @inline(__always)
    public static func swish(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
        let one = FVec(repeating: 1)
        LaneRows.map(x, count: count, into: y) { $0 * (one / (one + expLanes(-$0))) }
    }
}
