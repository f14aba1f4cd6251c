// AVX2 only (this module alone compiles this file): the tile of Int8ConvIndirect, 4 output pixels × 16 output
// channels. The activations sit in the padded image already widened to int16, so one vpbroadcastd from memory gives
// a pixel's channel pair in every lane, and the weights are read as int8 pairs and widened with vpmovsxbw (the
// panel keeps a byte per weight). vpmaddwd then adds the two products of 8 channels into int32 lanes: exact, as
// |a·w + a'·w'| ≤ 2·255·128, where vpmaddubsw's int16 pair sums would saturate. Per channel pair: 2 weight loads and
// widenings, 4 broadcasts, 8 vpmaddwd, 8 vpaddd for 128 multiply-adds, with no im2col and no per-run widening of
// the activations in the inner loop (Int8MicrokernelMaddwd spends 10 shuffles per 128 on both).
#if arch(x86_64)
import _Builtin_intrinsics.intel

enum Int8MicrokernelIndirect {
    typealias Value = Int16
    static let valuesPerStep = 2
    static let tileRows = 4
    static let tileColumns = 16
    /// The panel's weights are used in place every run on AVX2 too, so any layer with 16 pixels takes this kernel.
    static let minimumPixelsPerChannel = 0
    /// Stride-1 convs too, 1×1 included: on AVX2 the int16 image still beats the im2col kernel there (Zen 4 at AVX2:
    /// 64→256 on 56² 0.94 against 1.39 ms).
    static let takesStrideOne = true

    /// Byte of a panel step (32 bytes) where channel j's pair starts: channels 0–7 then 8–15.
    @inline(__always) static func panelOffset(channel j: Int) -> Int { 16 &* (j >> 3) &+ 2 &* (j & 7) }

    struct Tile {
        var sums: Int32Tile4x16
        /// Pixels r ..< r + 4 (r = 0).
        @inline(__always) func pixels(_ r: Int) -> Int32Tile4x16 { sums }
    }

    /// out[r][j] = Σ_{s < segments} Σ_{p < stepsPerSegment} Σ_{u < 2} row_r[offsets[s] + 4p + 2u as int16] ·
    /// panel[32·(s·stepsPerSegment + p) + panelOffset(j) + u] for pixel rows r < 4 (row_r = image + pixel(r), in bytes)
    /// and channels j < 16.
    @inline(__always)
    static func tile(image: UnsafeRawPointer, pixel: (Int) -> Int, offsets tapOffsets: UnsafePointer<Int>, segments taps: Int,
                     stepsPerSegment pairsPerTap: Int, panel: UnsafeRawPointer) -> Tile {
        let a0 = image + pixel(0), a1 = image + pixel(1), a2 = image + pixel(2), a3 = image + pixel(3)
        let z = _mm256_setzero_si256()
        var c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z
        var bp = panel
        for t in 0..<taps {
            let off = tapOffsets[t]
            let r0 = a0 + off, r1 = a1 + off, r2 = a2 + off, r3 = a3 + off
            var o = 0
            let end = 4 &* pairsPerTap
            while o < end {
                let w0 = _mm256_cvtepi8_epi16(bp.loadUnaligned(as: __m128i.self))
                let w1 = _mm256_cvtepi8_epi16(bp.loadUnaligned(fromByteOffset: 16, as: __m128i.self))
                var x = _mm256_set1_epi32(r0.loadUnaligned(fromByteOffset: o, as: Int32.self))
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(x, w0)); c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(x, w1))
                x = _mm256_set1_epi32(r1.loadUnaligned(fromByteOffset: o, as: Int32.self))
                c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(x, w0)); c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(x, w1))
                x = _mm256_set1_epi32(r2.loadUnaligned(fromByteOffset: o, as: Int32.self))
                c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(x, w0)); c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(x, w1))
                x = _mm256_set1_epi32(r3.loadUnaligned(fromByteOffset: o, as: Int32.self))
                c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(x, w0)); c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(x, w1))
                bp += 32
                o &+= 4
            }
        }
        func v(_ x: __m256i) -> SIMD8<Int32> { unsafeBitCast(x, to: SIMD8<Int32>.self) }
        return Tile(sums: Int32Tile4x16(r0a: v(c00), r0b: v(c01), r1a: v(c10), r1b: v(c11), r2a: v(c20), r2b: v(c21),
                                        r3a: v(c30), r3b: v(c31)))
    }
}
#endif
