// Shared source (symlinked into every kernel module).
// Swift.max(Swift.min(v, hi), lo) in every lane — the scalar epilogues' clamp, with the same answers for NaN
// and ±0 — as two compares and blends. On SIMD floats `clamped(lowerBound:upperBound:)` and `pointwiseMin` compile
// to per-lane calls here (they were 40 % of the sparse L5 kernel), and so does a function generic over the vector
// type, hence one overload per width.

@inline(__always) func clampLanes(_ v: SIMD4<Float>, lo: SIMD4<Float>, hi: SIMD4<Float>) -> SIMD4<Float> {
    let c = v.replacing(with: hi, where: hi .< v)
    return c.replacing(with: lo, where: lo .>= c)
}

@inline(__always) func clampLanes(_ v: SIMD8<Float>, lo: SIMD8<Float>, hi: SIMD8<Float>) -> SIMD8<Float> {
    let c = v.replacing(with: hi, where: hi .< v)
    return c.replacing(with: lo, where: lo .>= c)
}

/// `clampLanes` with a half left out where its bound is infinite (`low`: lo > −∞, `high`: hi < +∞): such a half
/// changes no lane, NaN included, and most layers have no upper bound (ReLU) or none at all.
@inline(__always) func clampLanes(_ v: SIMD8<Float>, lo: SIMD8<Float>, hi: SIMD8<Float>, low: Bool, high: Bool) -> SIMD8<Float> {
    let c = high ? v.replacing(with: hi, where: hi .< v) : v
    return low ? c.replacing(with: lo, where: lo .>= c) : c
}

@inline(__always) func clampLanes(_ v: SIMD16<Float>, lo: SIMD16<Float>, hi: SIMD16<Float>) -> SIMD16<Float> {
    let c = v.replacing(with: hi, where: hi .< v)
    return c.replacing(with: lo, where: lo .>= c)
}

/// Swift.min(Swift.max(v, lo), hi) in every lane: BinaryStep's clamp order (the two orders differ only for lo = −0,
/// hi = +0), for epilogues that fold a residual Add and its fused clamp.
@inline(__always) func clampLanesLowFirst(_ v: SIMD8<Float>, lo: SIMD8<Float>, hi: SIMD8<Float>) -> SIMD8<Float> {
    let c = v.replacing(with: lo, where: lo .>= v)
    return c.replacing(with: hi, where: hi .< c)
}
