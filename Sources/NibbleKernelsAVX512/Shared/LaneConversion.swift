// Shared source (symlinked into every kernel module).
// Lane-wise conversions, one instruction each on x86: Float(v) (vcvtdq2ps) and Int32(v) of int16 lanes (vpmovsxwd).
// The stdlib's generic `SIMD8<Float>(someInt32Vector)` has a specialization the linker may take from the baseline
// (SSE2) module, and it stays an out-of-line call: it was 10 % of the ternary L5 kernel (8 calls per tile) and sat in
// every indirect-kernel epilogue. A per-lane loop in this module is inlined and vectorized for the module's target.

@inline(__always) func floatLanes(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    var r = SIMD8<Float>()
    for i in 0..<8 { r[i] = Float(v[i]) }
    return r
}

@inline(__always) func int32Lanes(_ v: SIMD8<Int16>) -> SIMD8<Int32> {
    var r = SIMD8<Int32>()
    for i in 0..<8 { r[i] = Int32(v[i]) }
    return r
}

@inline(__always) func floatLanes(_ v: SIMD16<Int32>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for i in 0..<16 { r[i] = Float(v[i]) }
    return r
}

/// Float lanes of two 8-lane halves as one 16-lane vector (one vcvtdq2ps on AVX-512).
@inline(__always) func floatLanes(_ low: SIMD8<Int32>, _ high: SIMD8<Int32>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    for i in 0..<8 { r[i] = Float(low[i]); r[i &+ 8] = Float(high[i]) }
    return r
}

/// The low byte of each lane (one vpmovdb on AVX-512). The stdlib's generic SIMD16<UInt8>(truncatingIfNeeded:) of
/// 32-bit lanes stayed an out-of-line call: 4 % of a CAT MobileNet's run, from SymbolQuantization; the 8-lane one
/// was called by every int8 input quantization.
@inline(__always) func byteLanes(_ v: SIMD16<UInt32>) -> SIMD16<UInt8> {
    var r = SIMD16<UInt8>()
    for i in 0..<16 { r[i] = UInt8(truncatingIfNeeded: v[i]) }
    return r
}

@inline(__always) func byteLanes(_ v: SIMD8<UInt32>) -> SIMD8<UInt8> {
    var r = SIMD8<UInt8>()
    for i in 0..<8 { r[i] = UInt8(truncatingIfNeeded: v[i]) }
    return r
}

/// Each byte zero-extended to 32 bits (one vpmovzxbd on AVX-512); the generic stdlib conversion stayed a call
/// here too (1.5 % of a digits32 MobileNet's run, from Int8ConvTiled.interleavePanel).
@inline(__always) func wordLanes(_ v: SIMD16<UInt8>) -> SIMD16<UInt32> {
    var r = SIMD16<UInt32>()
    for i in 0..<16 { r[i] = UInt32(v[i]) }
    return r
}

/// Float(b) − zp for 8 bytes: 2^23 + b has b in its low mantissa bits, so OR-ing a byte into 2^23's bits and
/// subtracting 2^23 + zp gives b − zp exactly (zp an integer in 0…255).
@inline(__always) func floatsMinus(_ b: SIMD8<UInt8>, zeroPoint z: SIMD8<Float>) -> SIMD8<Float> {
    let bits = SIMD8<UInt32>(truncatingIfNeeded: b) | SIMD8<UInt32>(repeating: 0x4B00_0000)
    return unsafeBitCast(bits, to: SIMD8<Float>.self) - (SIMD8<Float>(repeating: 8_388_608) + z)
}
