// AVX2 (this module and NibbleKernelsAVX512 compile this file): the few-pixel ternary dot products of
// TernaryConvDirect, 8 output channels × 32 indices per step, read straight from the packed masks. Per channel:
// the 4 mask bytes become 0/−1 bytes P and M (`TernaryByteMasks`: vpshufb + vpand + vpcmpeqb, or one vpmovm2b),
// and M − P is the −1/0/+1 weight w; vpmaddubsw(q, w) − vpmaddubsw(zp, w) is
// w·(q − zp) summed over byte pairs. Three vphaddw levels then reduce the 8 channels' vectors to one: lane j of the
// low half is channel j's sum over the chunk's first 16 indices, of the high half over the next 16.
// No overflow: a pair is |w₀(q₀ − zp) + w₁(q₁ − zp)| ≤ 2·255 = 510 and a 16-index unit ≤ 16·255 = 4080 < 2^15, so
// every int16 step is exact; units are sign-extended to int32 and summed per group (≤ 255 · group length, and int32
// wraps like the reference's Int32 sum in any case). Same contract as SmallWeightMicrokernelGeneric.maskDot8.
#if arch(x86_64)
import _Builtin_intrinsics.intel

/// Byte j of `lanes(m)` is −1 where bit j of m is set, else 0: vpshufb spreads byte b of m over lanes 8b…8b+7, then
/// vpand + vpcmpeqb against each lane's bit (AVX2; the AVX-512 module moves the mask in one vpmovm2b instead,
/// `TernaryByteMasks`).
enum ShuffleByteMasks {
    @inline(__always) static func lanes(_ m: UInt32) -> __m256i {
        let spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                      2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)
        let bits = _mm256_set1_epi64x(Int64(bitPattern: 0x8040_2010_0804_0201))
        return _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(Int32(bitPattern: m)), spread), bits), bits)
    }
}

extension SmallWeightMicrokernelMaddubs {
    @inline(__always)
    static func maskDot8(plus: UnsafePointer<UInt32>, minus: UnsafePointer<UInt32>, halfWordsPerRow: Int, rows: Int, first: Int,
                         rowLength: Int, x: UnsafePointer<UInt8>, zeroPoint: Int32, alphaT: UnsafePointer<Float>,
                         unitsPerGroup: Int) -> SIMD8<Float> {
        // zp = 0 (ReLU inputs) skips the correction multiply.
        zeroPoint == 0
            ? maskDot8(plus: plus, minus: minus, halfWordsPerRow: halfWordsPerRow, rows: rows, first: first, rowLength: rowLength,
                       x: x, zeroPoint: 0, alphaT: alphaT, unitsPerGroup: unitsPerGroup, correct: false)
            : maskDot8(plus: plus, minus: minus, halfWordsPerRow: halfWordsPerRow, rows: rows, first: first, rowLength: rowLength,
                       x: x, zeroPoint: zeroPoint, alphaT: alphaT, unitsPerGroup: unitsPerGroup, correct: true)
    }

    @inline(__always)
    static func maskDot8(plus: UnsafePointer<UInt32>, minus: UnsafePointer<UInt32>, halfWordsPerRow: Int, rows: Int, first: Int,
                         rowLength: Int, x: UnsafePointer<UInt8>, zeroPoint: Int32, alphaT: UnsafePointer<Float>,
                         unitsPerGroup: Int, correct: Bool) -> SIMD8<Float> {
        let zp = _mm256_set1_epi8(Int8(truncatingIfNeeded: zeroPoint))
        @inline(__always) func lanes(_ m: UInt32) -> __m256i { TernaryByteMasks.lanes(m) }
        @inline(__always) func row(_ j: Int) -> Int { Swift.min(first &+ j, rows &- 1) }
        let p0 = plus + row(0) &* halfWordsPerRow, p1 = plus + row(1) &* halfWordsPerRow
        let p2 = plus + row(2) &* halfWordsPerRow, p3 = plus + row(3) &* halfWordsPerRow
        let p4 = plus + row(4) &* halfWordsPerRow, p5 = plus + row(5) &* halfWordsPerRow
        let p6 = plus + row(6) &* halfWordsPerRow, p7 = plus + row(7) &* halfWordsPerRow
        let dm = minus - plus
        let xr = UnsafeRawPointer(x), ar = UnsafeRawPointer(alphaT)
        let units = (rowLength &+ 15) >> 4
        var acc = SIMD8<Int32>(), s = SIMD8<Float>()
        var gi = 0, u = 0, end = Swift.min(unitsPerGroup, units)
        // Adds a finished group's α·Float(sum) per channel (the reference's `sum += α · Float(acc)`).
        @inline(__always) func unitDone() {
            u &+= 1
            if u == end {
                let sum: SIMD8<Float> = _mm256_cvtepi32_ps(unsafeBitCast(acc, to: __m256i.self))
                s += ar.loadUnaligned(fromByteOffset: 32 &* gi, as: SIMD8<Float>.self) * sum
                acc = SIMD8<Int32>(); gi &+= 1; end = Swift.min(end &+ unitsPerGroup, units)
            }
        }
        var c = 0
        while u < units {
            let xv = xr.loadUnaligned(fromByteOffset: 32 &* c, as: __m256i.self)
            @inline(__always) func dot(_ p: UnsafePointer<UInt32>) -> __m256i {
                let w = _mm256_sub_epi8(lanes(p[c &+ dm]), lanes(p[c]))
                let d = _mm256_maddubs_epi16(xv, w)
                return correct ? _mm256_sub_epi16(d, _mm256_maddubs_epi16(zp, w)) : d
            }
            let h01 = _mm256_hadd_epi16(dot(p0), dot(p1)), h23 = _mm256_hadd_epi16(dot(p2), dot(p3))
            let h45 = _mm256_hadd_epi16(dot(p4), dot(p5)), h67 = _mm256_hadd_epi16(dot(p6), dot(p7))
            let t = unsafeBitCast(_mm256_hadd_epi16(_mm256_hadd_epi16(h01, h23), _mm256_hadd_epi16(h45, h67)), to: SIMD16<Int16>.self)
            acc &+= int32Lanes(t.lowHalf)
            unitDone()
            if u < units {
                acc &+= int32Lanes(t.highHalf)
                unitDone()
            }
            c &+= 1
        }
        return s
    }
}
#endif
