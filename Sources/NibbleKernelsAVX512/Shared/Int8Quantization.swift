// Shared source (symlinked into every kernel module, and used by the reference twins), so the
// quantize and dequantize steps are the same IEEE operations everywhere and results compare bit-exactly.

/// Per-tensor uint8 activation quantization and the per-output-channel float epilogue.
public enum Int8Quantization {
    /// q = clamp(round_half_even(x / scale) + zeroPoint, 0, 255), as ONNX QuantizeLinear.
    @inline(__always)
    public static func quantize(_ x: Float, scale: Float, zeroPoint: Int32) -> UInt8 {
        let v = (x / scale).rounded(.toNearestOrEven) + Float(zeroPoint)
        if !(v >= 0) { return 0 }  // also maps NaN to 0
        if v >= 255 { return 255 }
        return UInt8(v)
    }

    /// y = clamp(acc · (inputScale · weightScale) + bias); `scale` is that product, computed by the caller.
    @inline(__always)
    public static func dequantize(_ acc: Int32, scale: Float, bias: Float, outputMin: Float, outputMax: Float) -> Float {
        let y = Float(acc) * scale + bias
        return Swift.max(Swift.min(y, outputMax), outputMin)
    }

    /// y[i] = `dequantize`(acc[i] − c) for `count` accumulators (c: the zero-point term zp·Σw of their row), 16
    /// lanes at a time and the rest as one partial vector, with the scalar form's IEEE operations per lane (multiply,
    /// then add, then `clampLanes`), so every level writes the same floats. One pass for both: subtracting in place
    /// first, then converting 8 lanes at a time, had been 12 % of a digits32 MobileNet's run.
    @inline(__always)
    public static func dequantize(_ acc: UnsafePointer<Int32>, minus c: Int32, count: Int, scale: Float, bias: Float,
                                  outputMin: Float, outputMax: Float, into y: UnsafeMutablePointer<Float>) {
        let cv = SIMD16<Int32>(repeating: c), s = SIMD16<Float>(repeating: scale), b = SIMD16<Float>(repeating: bias)
        let hi = SIMD16<Float>(repeating: outputMax), lo = SIMD16<Float>(repeating: outputMin)
        var i = 0
        while i &+ 16 <= count {
            let a = UnsafeRawPointer(acc + i).loadUnaligned(as: SIMD16<Int32>.self) &- cv
            UnsafeMutableRawPointer(y + i).storeBytes(of: clampLanes(floatLanes(a) * s + b, lo: lo, hi: hi), as: SIMD16<Float>.self)
            i &+= 16
        }
        let rest = count &- i
        if rest > 0 {
            var a = SIMD16<Int32>()
            for t in 0..<rest { a[t] = acc[i &+ t] }
            let v = clampLanes(floatLanes(a &- cv) * s + b, lo: lo, hi: hi)
            for t in 0..<rest { y[i &+ t] = v[t] }
        }
    }

    /// Quantizes `count` floats into bytes, 8 lanes at a time with the scalar form's IEEE operations per lane (divide,
    /// round half to even, add, the same clamps), so every level gives the same bytes. The last count mod 8 values
    /// go through one partial vector: conv rows of 14 or 7 values made the scalar tail, with its division per value,
    /// 9 % of an int8 3x3 conv.
    @inline(__always)
    public static func quantize(_ x: UnsafePointer<Float>, count: Int, scale: Float, zeroPoint: Int32,
                                into q: UnsafeMutablePointer<UInt8>) {
        let s = SIMD8<Float>(repeating: scale), z = SIMD8<Float>(repeating: Float(zeroPoint))
        var i = 0
        while i &+ 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(q + i).storeBytes(of: quantizeLanes(v, s, z), as: SIMD8<UInt8>.self)
            i &+= 8
        }
        let rest = count &- i
        if rest > 0 {
            // Raw loads and stores, all loads first: `q` may be `x`'s own memory (`QuantizeRows`).
            var v = SIMD8<Float>()
            for t in 0..<rest { v[t] = UnsafeRawPointer(x + (i &+ t)).load(as: Float.self) }
            let b = quantizeLanes(v, s, z)
            for t in 0..<rest { UnsafeMutableRawPointer(q + (i &+ t)).storeBytes(of: b[t], as: UInt8.self) }
        }
    }

    /// `quantize(_:scale:zeroPoint:)` of 8 lanes: x / scale rounded half to even, plus the zero point, clamped.
    @inline(__always)
    static func quantizeLanes(_ x: SIMD8<Float>, _ s: SIMD8<Float>, _ z: SIMD8<Float>) -> SIMD8<UInt8> {
        // The clamped value is an integer in 0...255, so 2^23 + v is exact and its low mantissa byte is v (a float →
        // int vector conversion here would be a generic per-lane call).
        let bits = unsafeBitCast(clampedLanes(x, s, z) + SIMD8<Float>(repeating: 8_388_608), to: SIMD8<UInt32>.self)
        return byteLanes(bits)
    }

    /// Float(q) − zp for q = quantize(x) of 8 lanes (exact: both are integers below 2^24), for kernels that compute
    /// Σ (q − zp)·w in floats.
    @inline(__always)
    public static func quantizedFloats(_ x: SIMD8<Float>, scale s: SIMD8<Float>, zeroPoint z: SIMD8<Float>) -> SIMD8<Float> {
        clampedLanes(x, s, z) - z
    }

    /// round_half_even(x / scale) + zeroPoint clamped to 0...255, as floats; !(v >= 0) → 0 also maps NaN.
    @inline(__always)
    static func clampedLanes(_ x: SIMD8<Float>, _ s: SIMD8<Float>, _ z: SIMD8<Float>) -> SIMD8<Float> {
        let v = (x / s).rounded(.toNearestOrEven) + z
        let low = v.replacing(with: 0, where: .!(v .>= 0))
        return low.replacing(with: 255, where: low .> 255)   // pointwiseMin here is a per-lane call
    }

    /// Σ_k w[o][k] for every row, so Σ (q - zp)·w = Σ q·w - zp·Σ w keeps the inner loop zero-point free.
    /// 64 bytes at a time as 16 words: each byte biased to w + 128 (xor 0x80), its two byte pairs added into 16-bit
    /// fields (≤ 510 each, so 128 steps fit before they are folded into 32 bits), Σ w = Σ fields − 128·length. The
    /// per-byte widening it replaces had been half of an int8 FC's time (G1: the 4 MB of weights read twice).
    @inline(__always)
    public static func rowSums(_ w: UnsafePointer<Int8>, rows: Int, length: Int, into s: UnsafeMutablePointer<Int32>) {
        let bias = SIMD16<UInt32>(repeating: 0x8080_8080), pairs = SIMD16<UInt32>(repeating: 0x00FF_00FF)
        let low16 = SIMD16<UInt32>(repeating: 0xFFFF)
        for o in 0..<rows {
            let row = w + o &* length, r = UnsafeRawPointer(row)
            var wide = SIMD16<UInt32>()
            var k = 0
            while k &+ 64 <= length {
                var fields = SIMD16<UInt32>()
                let end = Swift.min(length & ~63, k &+ 128 &* 64)
                while k < end {
                    let x = r.loadUnaligned(fromByteOffset: k, as: SIMD16<UInt32>.self) ^ bias
                    fields &+= (x & pairs) &+ ((x &>> 8) & pairs)
                    k &+= 64
                }
                wide &+= (fields & low16) &+ (fields &>> 16)
            }
            var acc = Int32(truncatingIfNeeded: wide.wrappedSum()) &- Int32(truncatingIfNeeded: 128 &* k)
            while k < length { acc &+= Int32(row[k]); k &+= 1 }
            s[o] = acc
        }
    }
}
