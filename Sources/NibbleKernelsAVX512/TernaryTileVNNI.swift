// AVX-512 VNNI only (this module alone compiles this file): the ternary GEMM tile on vpdpbusd. One instruction
// multiplies 64 u8 × s8 pairs and adds each 4 into an int32 lane, exact for any int8 weight, so a panel quad of the
// 4 × 16 tile costs 4 vpdpbusd (one zmm per row) where vpmaddubsw needs two ymm multiplies and two int16 adds per
// row. Same contract and panel layout as SmallWeightMicrokernelGeneric.tile; the int16 options are not needed.
#if arch(x86_64)
import _Builtin_intrinsics.intel

enum TernaryTileVNNI {
    static let tileRows = SmallWeightMicrokernelGeneric.tileRows
    static let tileColumns = SmallWeightMicrokernelGeneric.tileColumns
    /// A chunk's last 1 or 2 pixels past a multiple of 16 run as `column` dot products (TernaryConvTiled).
    static let columnDots = true

    /// One pixel's column of `tile` with the quads along the lanes: Σ_{t < 4·quads} a_r[t] · x[t] − corrections[2r + 1]
    /// for rows a_r = a + r·lda (r < 4), x the pixel's reduction bytes, the last 64-byte step masked. A 7² map's
    /// 49th pixel then costs its own products instead of a tile's 16 columns.
    @inline(__always)
    static func column(quads: Int, a: UnsafePointer<Int8>, lda: Int, x: UnsafePointer<UInt8>,
                       corrections: UnsafePointer<Int32>) -> SIMD4<Int32> {
        let a0 = UnsafeRawPointer(a), a1 = a0 + lda, a2 = a0 + 2 &* lda, a3 = a0 + 3 &* lda
        let z = _mm512_setzero_si512()
        var c0 = z, c1 = z, c2 = z, c3 = z
        let bytes = 4 &* quads
        var i = 0
        while i < bytes {
            let rest = bytes &- i
            let mask: __mmask64 = rest >= 64 ? ~0 : (1 &<< UInt64(truncatingIfNeeded: rest)) &- 1
            let xv = _mm512_maskz_loadu_epi8(mask, x + i)
            c0 = _mm512_dpbusd_epi32(c0, xv, _mm512_maskz_loadu_epi8(mask, a0 + i))
            c1 = _mm512_dpbusd_epi32(c1, xv, _mm512_maskz_loadu_epi8(mask, a1 + i))
            c2 = _mm512_dpbusd_epi32(c2, xv, _mm512_maskz_loadu_epi8(mask, a2 + i))
            c3 = _mm512_dpbusd_epi32(c3, xv, _mm512_maskz_loadu_epi8(mask, a3 + i))
            i &+= 64
        }
        return SIMD4(_mm512_reduce_add_epi32(c0) &- corrections[1], _mm512_reduce_add_epi32(c1) &- corrections[3],
                     _mm512_reduce_add_epi32(c2) &- corrections[5], _mm512_reduce_add_epi32(c3) &- corrections[7])
    }

    /// Σ_{i < quads} Σ_{t < 4} a_r[4i + t] · b[64i + 4j + t] − corrections[2r + 1] for rows a_r = a + r·lda (r < 4),
    /// columns j < 16. Even and odd quads go to separate sums, so 8 vpdpbusd chains cover its latency.
    @inline(__always)
    static func tile(quads: Int, a: UnsafePointer<Int8>, lda: Int, b: UnsafePointer<UInt8>, quadsPerWiden: Int,
                     corrections: UnsafePointer<Int32>, lanesStartCorrected: Bool) -> Int32Tile4x16 {
        @inline(__always) func dp(_ acc: __m512i, _ x: __m512i, _ w: UnsafeRawPointer, _ o: Int) -> __m512i {
            _mm512_dpbusd_epi32(acc, x, _mm512_set1_epi32(w.loadUnaligned(fromByteOffset: o, as: Int32.self)))
        }
        let a0 = UnsafeRawPointer(a), a1 = a0 + lda, a2 = a0 + 2 &* lda, a3 = a0 + 3 &* lda
        var c0 = _mm512_set1_epi32(0 &- corrections[1]), c1 = _mm512_set1_epi32(0 &- corrections[3])
        var c2 = _mm512_set1_epi32(0 &- corrections[5]), c3 = _mm512_set1_epi32(0 &- corrections[7])
        let z = _mm512_setzero_si512()
        var d0 = z, d1 = z, d2 = z, d3 = z
        var bp = UnsafeRawPointer(b)
        var i = 0
        while i &+ 2 <= quads {
            let x = bp.loadUnaligned(as: __m512i.self), y = bp.loadUnaligned(fromByteOffset: 64, as: __m512i.self)
            let o = 4 &* i
            c0 = dp(c0, x, a0, o); c1 = dp(c1, x, a1, o); c2 = dp(c2, x, a2, o); c3 = dp(c3, x, a3, o)
            d0 = dp(d0, y, a0, o &+ 4); d1 = dp(d1, y, a1, o &+ 4); d2 = dp(d2, y, a2, o &+ 4); d3 = dp(d3, y, a3, o &+ 4)
            bp += 128
            i &+= 2
        }
        if i < quads {
            let x = bp.loadUnaligned(as: __m512i.self), o = 4 &* i
            c0 = dp(c0, x, a0, o); c1 = dp(c1, x, a1, o); c2 = dp(c2, x, a2, o); c3 = dp(c3, x, a3, o)
        }
        func v(_ x: __m512i, _ y: __m512i) -> SIMD16<Int32> { unsafeBitCast(_mm512_add_epi32(x, y), to: SIMD16<Int32>.self) }
        let r0 = v(c0, d0), r1 = v(c1, d1), r2 = v(c2, d2), r3 = v(c3, d3)
        return Int32Tile4x16(r0a: r0.lowHalf, r0b: r0.highHalf, r1a: r1.lowHalf, r1b: r1.highHalf,
                             r2a: r2.lowHalf, r2b: r2.highHalf, r3a: r3.lowHalf, r3b: r3.highHalf)
    }
}
#endif
