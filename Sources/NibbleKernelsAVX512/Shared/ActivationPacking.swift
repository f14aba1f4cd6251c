// Shared source (symlinked into every kernel module): the vector part of BitPacking.packActivations, compiled once
// per ISA level so its 8-lane operations are one ymm instruction on AVX2 (the portable module runs two SSE ones).
// Each block of 8 pixels × 64 channels is quantized into registers (8 pixels are contiguous in NCHW) and its words are
// assembled there, one and-or per value and plane, with the values of BitPacking.quantize + planeBits. One- and
// two-plane unsigned activations compare each value against the least floats that round to each level instead of
// dividing by the step.

public enum ActivationPacking {
    /// Packs the whole blocks of 8 pixels of `range` (from its start) into BitPlaneLayout order ([plane][pixel][word])
    /// and returns the first pixel it left (BitPacking packs the rest one at a time). `bipolar`: x ≥ 0 → 1; otherwise
    /// clamp(round_half_even(x / step), lowest, highest) (NaN → 0), its low `bits` bits as planes.
    public static func packBlocks(_ x: UnsafePointer<Float>, step: Float, vectors nv: Int, wordsPerVector wpv: Int,
                                  channels: Int, bits: Int, bipolar: Bool, lowest: Int, highest: Int,
                                  into packed: UnsafeMutablePointer<UInt64>, pixels range: Range<Int>) -> Int {
        let lo = SIMD8<Float>(repeating: Float(lowest)), hi = SIMD8<Float>(repeating: Float(highest))
        let stepV = SIMD8<Float>(repeating: step)
        if bits == 1 { return packOnePlane(x, step: stepV, vectors: nv, wordsPerVector: wpv, channels: channels, bipolar: bipolar,
                                           lo: lo, hi: hi, into: packed, pixels: range) }
        if bits == 2 && !bipolar && lowest == 0 && highest == 3 && step > 0 && step.isFinite {
            return packTwoPlanes(x, step: step, vectors: nv, wordsPerVector: wpv, channels: channels, into: packed, pixels: range)
        }
        return withUnsafeTemporaryAllocation(of: SIMD8<UInt32>.self, capacity: 8) { q in
            var v0 = range.lowerBound
            while v0 &+ 8 <= range.upperBound {
                for word in 0..<wpv {
                    let c0 = word &<< 6
                    let count = Swift.min(64, channels &- c0)
                    // Plane j of the 8 pixels' words, as 32-bit halves: q[2j] (channels c0..c0+31), q[2j+1] (the
                    // rest); a channel's bit is one and-or per lane, values exactly as `quantize` + `planeBits`.
                    for i in 0..<(2 &* bits) { q[i] = SIMD8<UInt32>() }
                    for c in 0..<count {
                        let xv = UnsafeRawPointer(x + ((c0 &+ c) &* nv &+ v0)).loadUnaligned(as: SIMD8<Float>.self)
                        let value = quantized(xv, step: stepV, lo: lo, hi: hi)
                        let shift = UInt32(truncatingIfNeeded: c & 31), half = c &>> 5
                        for j in 0..<bits { q[2 &* j &+ half] |= ((value &>> UInt32(truncatingIfNeeded: j)) & 1) &<< shift }
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

    /// packBlocks for one plane (w1a1, and 1-bit unsigned activations): both 32-bit halves of the 8 pixels' words stay
    /// in registers. Through `q` each channel was a load, an or and a store on the same slot, a store-forwarding chain
    /// that took 15 % of the M1 net.
    @inline(__always)
    static func packOnePlane(_ x: UnsafePointer<Float>, step: SIMD8<Float>, vectors nv: Int, wordsPerVector wpv: Int,
                             channels: Int, bipolar: Bool, lo: SIMD8<Float>, hi: SIMD8<Float>,
                             into packed: UnsafeMutablePointer<UInt64>, pixels range: Range<Int>) -> Int {
        // One unsigned plane (0…1): the bit is x / step > 1/2, and as x / step rounds monotonically that is x ≥ the
        // least such float (bipolar: x ≥ 0), a compare per value instead of a division. NaN compares false: 0, as in
        // `quantized`.
        let compares = bipolar || (lo[0] == 0 && hi[0] == 1 && step[0] > 0 && step[0].isFinite)
        let one = SIMD8<Float>(repeating: bipolar || !compares ? 0 : leastRounding(to: 1, step: step[0]))
        var v0 = range.lowerBound
        while v0 &+ 8 <= range.upperBound {
            for word in 0..<wpv {
                let c0 = word &<< 6
                let count = Swift.min(64, channels &- c0)
                var low = SIMD8<UInt32>(), high = SIMD8<UInt32>()
                for c in 0..<count {
                    let xv = UnsafeRawPointer(x + ((c0 &+ c) &* nv &+ v0)).loadUnaligned(as: SIMD8<Float>.self)
                    let bit = SIMD8<UInt32>(repeating: 1 &<< UInt32(truncatingIfNeeded: c & 31))
                    let set = compares ? bit.replacing(with: 0, where: .!(xv .>= one))
                        : (quantized(xv, step: step, lo: lo, hi: hi) & 1) &* bit
                    if c < 32 { low |= set } else { high |= set }
                }
                let base = packed + (v0 &* wpv &+ word)
                for l in 0..<8 { base[l &* wpv] = UInt64(low[l]) | UInt64(high[l]) &<< 32 }
            }
            v0 &+= 8
        }
        return v0
    }

    /// packBlocks for unsigned 2-bit activations (0…3, `step` > 0 and finite): with t_k the least float that rounds
    /// to k or more, the value is the number of t_1 ≤ t_2 ≤ t_3 that x reaches, so its high bit is x ≥ t_2 and its low
    /// bit the parity of the three compares (NaN compares false: 0). All four 32-bit halves of the pixels' two words
    /// stay in registers; through memory (the general path's `q`) each channel was a load-or-store chain per plane, and
    /// with the division it was a fifth of a w2a2 conv (L1). One native vector of pixels at a time (`FVec`): 16 on
    /// AVX-512 took L1's packing from 0.035 to 0.028 ms, while 16 on AVX2 (two ymm each) took it from 0.030 to 0.052.
    @inline(__always)
    static func packTwoPlanes(_ x: UnsafePointer<Float>, step: Float, vectors nv: Int, wordsPerVector wpv: Int, channels: Int,
                              into packed: UnsafeMutablePointer<UInt64>, pixels range: Range<Int>) -> Int {
        let t1 = FVec(repeating: leastRounding(to: 1, step: step))
        let t2 = FVec(repeating: leastRounding(to: 2, step: step))
        let t3 = FVec(repeating: leastRounding(to: 3, step: step))
        var v0 = range.lowerBound
        while v0 &+ FVec.scalarCount <= range.upperBound {
            for word in 0..<wpv {
                let c0 = word &<< 6
                let count = Swift.min(64, channels &- c0)
                // [plane][half]: plane 0 is the low bit; half 0 holds channels c0…c0+31.
                var halves = (FVec.MaskStorage(), FVec.MaskStorage(), FVec.MaskStorage(), FVec.MaskStorage())
                for half in 0..<2 {
                    var low = FVec.MaskStorage(), high = FVec.MaskStorage()
                    var c = half &<< 5
                    let end = Swift.min(count, c &+ 32)
                    while c < end {
                        let xv = UnsafeRawPointer(x + ((c0 &+ c) &* nv &+ v0)).loadUnaligned(as: FVec.self)
                        let bit = FVec.MaskStorage(repeating: Int32(bitPattern: 1 &<< UInt32(truncatingIfNeeded: c & 31)))
                        let second = xv .>= t2
                        low |= bit.replacing(with: 0, where: .!((xv .>= t1) .^ second .^ (xv .>= t3)))
                        high |= bit.replacing(with: 0, where: .!second)
                        c &+= 1
                    }
                    if half == 0 { halves.0 = low; halves.2 = high } else { halves.1 = low; halves.3 = high }
                }
                let plane0 = packed + ((v0 &* wpv) &+ word), plane1 = packed + (((nv &+ v0) &* wpv) &+ word)
                for l in 0..<FVec.scalarCount {
                    plane0[l &* wpv] = UInt64(UInt32(bitPattern: halves.0[l])) | UInt64(UInt32(bitPattern: halves.1[l])) &<< 32
                    plane1[l &* wpv] = UInt64(UInt32(bitPattern: halves.2[l])) | UInt64(UInt32(bitPattern: halves.3[l])) &<< 32
                }
            }
            v0 &+= FVec.scalarCount
        }
        return v0
    }

    /// The least float x with round_half_even(x / step) ≥ k (Float division; k ≥ 1), found by bisection over the
    /// non-negative floats, whose bit patterns order like the floats (x / step and its rounding grow with x): the
    /// threshold of level k of an unsigned activation. `step` > 0.
    static func leastRounding(to k: Int, step: Float) -> Float {
        let level = Float(k)
        var lo: UInt32 = 0, hi = Float.infinity.bitPattern
        while lo < hi {
            let mid = lo &+ (hi &- lo) / 2
            if (Float(bitPattern: mid) / step).rounded(.toNearestOrEven) >= level { hi = mid } else { lo = mid &+ 1 }
        }
        return Float(bitPattern: lo)
    }

    /// BitPacking.quantize's integers of 8 lanes, as their low 8 bits. Clamping x/step to [lo, hi] before rounding
    /// gives the same integers (lo and hi are whole). Then adding 1.5·2^23 rounds half to even and leaves the integer
    /// in the low mantissa bits: the portable module targets baseline x86-64, where `rounded` is a libm call per lane
    /// and the generic float→int conversion is not specialized.
    @inline(__always)
    static func quantized(_ xv: SIMD8<Float>, step: SIMD8<Float>, lo: SIMD8<Float>, hi: SIMD8<Float>) -> SIMD8<UInt32> {
        let u = xv / step
        var v = u.replacing(with: lo, where: .!(u .>= lo))
        v = v.replacing(with: hi, where: v .>= hi)
        v = v.replacing(with: 0, where: xv .!= xv)   // NaN → 0
        let biased = v + SIMD8<Float>(repeating: 12_582_912)
        return (unsafeBitCast(biased, to: SIMD8<UInt32>.self) &- 0x4B40_0000) & 0xFF
    }
}
