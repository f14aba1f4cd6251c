// AVX2 only (this module alone compiles this file): exact int8 dot products with vpmaddwd. Activation bytes
// (u8) and weights (s8) are widened to int16, so each vpmaddwd lane is a·w + a'·w' with |·| ≤ 2·255·128 — exact
// in int32, unlike pmaddubsw, whose int16 sum saturates (the reason the portable tile widens to int32 and
// multiplies with vpmulld, 4× fewer MACs per instruction). Same contract and panel layout as
// Int8MicrokernelGeneric, so Int8ConvTiled and Int8FullyConnectedTiled run it unchanged.
#if arch(x86_64)
import _Builtin_intrinsics.intel

enum Int8MicrokernelMaddwd {
    static let tileRows = 4
    static let tileColumns = 16
    /// The panel layout is the generic tile's, and so is its column gather.
    @inline(__always)
    static func interleaveColumns(from src: UnsafePointer<UInt8>, offsets: UnsafePointer<Int>, k: Int,
                                  index: SIMD64<UInt8>, into panel: UnsafeMutablePointer<UInt8>) {
        Int8MicrokernelGeneric.interleaveColumns(from: src, offsets: offsets, k: k, index: index, into: panel)
    }

    /// Weights a[kk..<kk+valid] as int16 (zero past `valid`), the 4-element pattern in every 64-bit lane: the
    /// multiplier for one k-quad of four panel columns. A partial quad is assembled byte by byte so the last
    /// row is never read past its end.
    @inline(__always)
    static func weightQuad(_ a: UnsafePointer<Int8>, _ kk: Int, _ valid: Int) -> __m256i {
        var w: UInt32 = 0
        if valid == 4 {
            w = UnsafeRawPointer(a + kk).loadUnaligned(as: UInt32.self)
        } else {
            for t in 0..<valid { w |= UInt32(UInt8(bitPattern: a[kk &+ t])) << UInt32(8 &* t) }
        }
        // Four copies of the quad's bytes widened at once (vpbroadcastd + vpmovsxbw): the same int16 pattern in every
        // 64-bit lane with two operations instead of movd, widen and broadcast.
        return _mm256_cvtepi8_epi16(_mm_set1_epi32(Int32(bitPattern: w)))
    }

    /// Sums each column's two partial lanes: `lo` holds columns 0…3 and `hi` columns 4…7 as
    /// [c0 k0k1, c0 k2k3, c1 …]; vphaddd gives [0 1 4 5 | 2 3 6 7], vpermd puts them in order. (The
    /// immediate-operand forms such as vpermq are C macros, which Swift does not import.)
    @inline(__always)
    static func columns(_ lo: __m256i, _ hi: __m256i) -> __m256i {
        _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(lo, hi), _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7))
    }

    /// out[r·16 + j] = Σ_k a[r][k] · b[k][j] for r < rows, over the panel layout of Int8ConvTiled
    /// (per k-quad: 16 columns × 4 interleaved bytes; K past the end holds 0).
    /// All 16 columns are computed whatever `columns` (the live ones) is.
    @inline(__always)
    static func tile(k: Int, a: UnsafePointer<Int8>, lda: Int, rows: Int, b: UnsafePointer<UInt8>, columns _: Int,
                     out: UnsafeMutablePointer<Int32>) {
        let a0 = a
        let a1 = Int8MicrokernelGeneric.row(a, 1, lda: lda, rows: rows)
        let a2 = Int8MicrokernelGeneric.row(a, 2, lda: lda, rows: rows)
        let a3 = Int8MicrokernelGeneric.row(a, 3, lda: lda, rows: rows)
        let o = UnsafeMutableRawPointer(out)
        // Two passes of 8 columns: 8 accumulators + 2 activation + 1 weight registers fit in 16 ymm.
        for half in 0..<2 {
            let z = _mm256_setzero_si256()
            var c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z
            var bp = UnsafeRawPointer(b) + 32 &* half
            var kk = 0
            while kk < k {
                let valid = Swift.min(4, k &- kk)
                let x0 = _mm256_cvtepu8_epi16(bp.loadUnaligned(as: __m128i.self))
                let x1 = _mm256_cvtepu8_epi16(bp.loadUnaligned(fromByteOffset: 16, as: __m128i.self))
                var w = weightQuad(a0, kk, valid)
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(x0, w)); c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(x1, w))
                w = weightQuad(a1, kk, valid)
                c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(x0, w)); c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(x1, w))
                w = weightQuad(a2, kk, valid)
                c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(x0, w)); c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(x1, w))
                w = weightQuad(a3, kk, valid)
                c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(x0, w)); c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(x1, w))
                bp += 64
                kk &+= 4
            }
            let at = 32 &* half
            o.storeBytes(of: columns(c00, c01), toByteOffset: at, as: __m256i.self)
            o.storeBytes(of: columns(c10, c11), toByteOffset: 64 &+ at, as: __m256i.self)
            o.storeBytes(of: columns(c20, c21), toByteOffset: 128 &+ at, as: __m256i.self)
            o.storeBytes(of: columns(c30, c31), toByteOffset: 192 &+ at, as: __m256i.self)
        }
    }

    /// Σ_i x[i]·w_r[i] for four weight rows (the fully connected kernel's inner product).
    @inline(__always)
    static func dot4(n: Int, x: UnsafePointer<UInt8>, _ w0: UnsafePointer<Int8>, _ w1: UnsafePointer<Int8>,
                     _ w2: UnsafePointer<Int8>, _ w3: UnsafePointer<Int8>) -> SIMD4<Int32> {
        let z = _mm256_setzero_si256()
        var s0 = z, s1 = z, s2 = z, s3 = z
        let xr = UnsafeRawPointer(x)
        let r0 = UnsafeRawPointer(w0), r1 = UnsafeRawPointer(w1), r2 = UnsafeRawPointer(w2), r3 = UnsafeRawPointer(w3)
        var i = 0
        while i &+ 16 <= n {
            let xv = _mm256_cvtepu8_epi16(xr.loadUnaligned(fromByteOffset: i, as: __m128i.self))
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(xv, _mm256_cvtepi8_epi16(r0.loadUnaligned(fromByteOffset: i, as: __m128i.self))))
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(xv, _mm256_cvtepi8_epi16(r1.loadUnaligned(fromByteOffset: i, as: __m128i.self))))
            s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(xv, _mm256_cvtepi8_epi16(r2.loadUnaligned(fromByteOffset: i, as: __m128i.self))))
            s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(xv, _mm256_cvtepi8_epi16(r3.loadUnaligned(fromByteOffset: i, as: __m128i.self))))
            i &+= 16
        }
        // Horizontal sums of the four accumulators at once: two vphaddd rounds, then the 128-bit halves.
        let h = unsafeBitCast(_mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3)),
                              to: SIMD8<Int32>.self)
        return Int8MicrokernelGeneric.dot4Tail(h.lowHalf &+ h.highHalf, from: i, n: n, x: x, w0, w1, w2, w3)
    }
}
#endif
