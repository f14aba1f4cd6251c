/// exp(x) for Float without libm (the core links no C math library, so it also builds embedded).
/// Range reduction x = n·ln2 + r with |r| ≤ ln2/2, then a degree-7 Taylor polynomial for e^r
/// (truncation error < 2e-9 relative) and 2^n by building the exponent bits. Relative error ≈ 1e-7.
@inline(__always)
func expf(_ x: Float) -> Float {
    if x > 88.7 { return .infinity }
    if x < -87.3 { return 0 }
    if x.isNaN { return x }
    let n = (x * 1.442_695_04).rounded()
    // ln2 split in a high and a low part so r keeps full precision (Cody-Waite).
    let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6
    var p: Float = 1.0 / 5040
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let e = Int32(n) + 127
    if e <= 0 { return p * Float(bitPattern: UInt32(1) << 23) * Float(bitPattern: UInt32(e + 126) << 23) }
    return p * Float(bitPattern: UInt32(e) << 23)
}
