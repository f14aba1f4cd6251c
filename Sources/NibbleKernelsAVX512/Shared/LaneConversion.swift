// Shared source (symlinked into every kernel module).
// Float(v) in every lane, as one vcvtdq2ps. `SIMD8<Float>(someInt32Vector)` is a stdlib generic whose specialization
// the linker may take from the baseline (SSE2) module and that stays an out-of-line call: it was 10 % of the
// ternary L5 kernel, called 8 times per tile, and in every indirect-kernel epilogue. A per-lane loop in this module
// is inlined and vectorized for the module's target.

@inline(__always) func floatLanes(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    var r = SIMD8<Float>()
    for i in 0..<8 { r[i] = Float(v[i]) }
    return r
}
