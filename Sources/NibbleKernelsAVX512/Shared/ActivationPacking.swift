// Shared source (symlinked into every kernel module): the vector part of BitPacking.packActivations, compiled once
// per ISA level so its 8-lane operations are one ymm instruction on AVX2 (the portable module runs two SSE ones).
// Each block of 8 pixels × 64 channels is quantized into registers (8 pixels are contiguous in NCHW) and its words are
// assembled there, one and-or per value and plane, with the values of BitPacking.quantize + planeBits.

public enum ActivationPacking {
    /// Packs the whole blocks of 8 pixels of `range` (from its start) into BitPlaneLayout order ([plane][pixel][word])
    /// and returns the first pixel it left (BitPacking packs the rest one at a time). `bipolar`: x ≥ 0 → 1; otherwise
    /// clamp(round_half_even(x / step), lowest, highest) (NaN → 0), its low `bits` bits as planes.
    public static func packBlocks(_ x: UnsafePointer<Float>, step: Float, vectors nv: Int, wordsPerVector wpv: Int,
                                  channels: Int, bits: Int, bipolar: Bool, lowest: Int, highest: Int,
                                  into packed: UnsafeMutablePointer<UInt64>, pixels range: Range<Int>) -> Int {
        let lo = SIMD8<Float>(repeating: Float(lowest)), hi = SIMD8<Float>(repeating: Float(highest))
        let stepV = SIMD8<Float>(repeating: step)
        return withUnsafeTemporaryAllocation(of: SIMD8<UInt32>.self, capacity: 8) { q in
            var v0 = range.lowerBound
            while v0 &+ 8 <= range.upperBound {
                for word in 0..<wpv {
                    let c0 = word &<< 6
                    let count = Swift.min(64, channels &- c0)
                    // Plane j of the 8 pixels' words, as 32-bit halves: q[2j] (channels c0..c0+31), q[2j+1] (the
                    // rest); a channel's bit is one and-or per lane, values exactly as `quantize` + `planeBits`.
                    for i in 0..<(2 &* bits) { q[i] = SIMD8<UInt32>() }
                    if bipolar {
                        for c in 0..<count {
                            let xv = UnsafeRawPointer(x + ((c0 &+ c) &* nv &+ v0)).loadUnaligned(as: SIMD8<Float>.self)
                            let bit = SIMD8<UInt32>(repeating: 1 &<< UInt32(truncatingIfNeeded: c & 31))
                            q[c &>> 5] |= SIMD8<UInt32>().replacing(with: bit, where: xv .>= 0)
                        }
                    } else {
                        for c in 0..<count {
                            let xv = UnsafeRawPointer(x + ((c0 &+ c) &* nv &+ v0)).loadUnaligned(as: SIMD8<Float>.self)
                            // Clamping x/step to [lo, hi] before rounding gives the same integers as `quantize`
                            // (lo and hi are whole). Then adding 1.5·2^23 rounds half to even and leaves the integer
                            // in the low mantissa bits: this module targets baseline x86-64, where `rounded` is a
                            // libm call per lane and the generic float→int conversion is not specialized.
                            let u = xv / stepV
                            var v = u.replacing(with: lo, where: .!(u .>= lo))
                            v = v.replacing(with: hi, where: v .>= hi)
                            v = v.replacing(with: 0, where: xv .!= xv)   // NaN → 0
                            let biased = v + SIMD8<Float>(repeating: 12_582_912)
                            let value = (unsafeBitCast(biased, to: SIMD8<UInt32>.self) &- 0x4B40_0000) & 0xFF
                            let shift = UInt32(truncatingIfNeeded: c & 31), half = c &>> 5
                            for j in 0..<bits { q[2 &* j &+ half] |= ((value &>> UInt32(truncatingIfNeeded: j)) & 1) &<< shift }
                        }
                    }
                    for j in 0..<bits {
                        let low = q[2 &* j], high = q[2 &* j &+ 1]
                        let base = packed + ((j &* nv &+ v0) &* wpv &+ word)
                        for l in 0..<8 { base[l &* wpv] = UInt64(low[l]) | UInt64(high[l]) &<< 32 }
                    }
                }
                v0 &+= 8
            }
            return v0
        }
    }
}
