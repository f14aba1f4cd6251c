// AVX-512 VNNI only (this module alone compiles this file): vpdpbusd multiplies 4 adjacent u8·s8
// pairs and adds them into one int32 lane, which is why panels interleave K in groups of 4.
#if arch(x86_64)
import _Builtin_intrinsics.intel

/// 6 x 32 int32 tile (two zmm per row) and a 4-row dot product, both exact.
enum Int8MicrokernelVNNI {
    static let tileRows = 6
    static let tileColumns = 32

    @inline(__always)
    static func dp(_ acc: SIMD16<Int32>, _ u8: SIMD16<Int32>, _ s8: SIMD16<Int32>) -> SIMD16<Int32> {
        unsafeBitCast(_mm512_dpbusd_epi32(unsafeBitCast(acc, to: __m512i.self), unsafeBitCast(u8, to: __m512i.self),
                                          unsafeBitCast(s8, to: __m512i.self)), to: SIMD16<Int32>.self)
    }

    /// Four weight bytes of one row as an int32; past the end of K they read as zero.
    @inline(__always)
    static func weightGroup(_ a: UnsafePointer<Int8>, _ kk: Int, _ k: Int) -> SIMD16<Int32> {
        if kk &+ 4 <= k {
            return SIMD16<Int32>(repeating: UnsafeRawPointer(a + kk).loadUnaligned(as: Int32.self))
        }
        var v: UInt32 = 0
        var t = 0
        while kk &+ t < k { v |= UInt32(UInt8(bitPattern: a[kk &+ t])) << UInt32(8 &* t); t &+= 1 }
        return SIMD16<Int32>(repeating: Int32(bitPattern: v))
    }

    /// out[r·32 + j] = Σ_k a[r][k] · b[k][j] for r < rows, j < 32; with `columns` ≤ 16 only j < 16 (the panel's
    /// first zmm): a map's last panel of a few pixels then costs half a tile.
    @inline(__always)
    static func tile(k: Int, a: UnsafePointer<Int8>, lda: Int, rows: Int, b: UnsafePointer<UInt8>, columns: Int,
                     out: UnsafeMutablePointer<Int32>) {
        if columns <= 16 {
            tile(FirstVector.self, k: k, a: a, lda: lda, rows: rows, b: b, out: out)
        } else {
            tile(BothVectors.self, k: k, a: a, lda: lda, rows: rows, b: b, out: out)
        }
    }

    @inline(__always)
    static func tile<V: PanelVectors>(_: V.Type, k: Int, a: UnsafePointer<Int8>, lda: Int, rows: Int, b: UnsafePointer<UInt8>,
                                      out: UnsafeMutablePointer<Int32>) {
        let wide = V.both
        let a0 = a
        let a1 = Int8MicrokernelGeneric.row(a, 1, lda: lda, rows: rows)
        let a2 = Int8MicrokernelGeneric.row(a, 2, lda: lda, rows: rows)
        let a3 = Int8MicrokernelGeneric.row(a, 3, lda: lda, rows: rows)
        let a4 = Int8MicrokernelGeneric.row(a, 4, lda: lda, rows: rows)
        let a5 = Int8MicrokernelGeneric.row(a, 5, lda: lda, rows: rows)
        var c00 = SIMD16<Int32>(), c01 = SIMD16<Int32>(), c10 = SIMD16<Int32>(), c11 = SIMD16<Int32>()
        var c20 = SIMD16<Int32>(), c21 = SIMD16<Int32>(), c30 = SIMD16<Int32>(), c31 = SIMD16<Int32>()
        var c40 = SIMD16<Int32>(), c41 = SIMD16<Int32>(), c50 = SIMD16<Int32>(), c51 = SIMD16<Int32>()
        var bp = UnsafeRawPointer(b)
        let kFull = k & ~3
        var kk = 0
        while kk < kFull {
            let b0 = bp.loadUnaligned(as: SIMD16<Int32>.self)
            let b1 = wide ? bp.loadUnaligned(fromByteOffset: 64, as: SIMD16<Int32>.self) : b0
            bp += 128
            var w = SIMD16<Int32>(repeating: UnsafeRawPointer(a0 + kk).loadUnaligned(as: Int32.self))
            c00 = dp(c00, b0, w); if wide { c01 = dp(c01, b1, w) }
            w = SIMD16<Int32>(repeating: UnsafeRawPointer(a1 + kk).loadUnaligned(as: Int32.self))
            c10 = dp(c10, b0, w); if wide { c11 = dp(c11, b1, w) }
            w = SIMD16<Int32>(repeating: UnsafeRawPointer(a2 + kk).loadUnaligned(as: Int32.self))
            c20 = dp(c20, b0, w); if wide { c21 = dp(c21, b1, w) }
            w = SIMD16<Int32>(repeating: UnsafeRawPointer(a3 + kk).loadUnaligned(as: Int32.self))
            c30 = dp(c30, b0, w); if wide { c31 = dp(c31, b1, w) }
            w = SIMD16<Int32>(repeating: UnsafeRawPointer(a4 + kk).loadUnaligned(as: Int32.self))
            c40 = dp(c40, b0, w); if wide { c41 = dp(c41, b1, w) }
            w = SIMD16<Int32>(repeating: UnsafeRawPointer(a5 + kk).loadUnaligned(as: Int32.self))
            c50 = dp(c50, b0, w); if wide { c51 = dp(c51, b1, w) }
            kk &+= 4
        }
        if kk < k {
            let b0 = bp.loadUnaligned(as: SIMD16<Int32>.self)
            let b1 = wide ? bp.loadUnaligned(fromByteOffset: 64, as: SIMD16<Int32>.self) : b0
            var w = weightGroup(a0, kk, k); c00 = dp(c00, b0, w); if wide { c01 = dp(c01, b1, w) }
            w = weightGroup(a1, kk, k); c10 = dp(c10, b0, w); if wide { c11 = dp(c11, b1, w) }
            w = weightGroup(a2, kk, k); c20 = dp(c20, b0, w); if wide { c21 = dp(c21, b1, w) }
            w = weightGroup(a3, kk, k); c30 = dp(c30, b0, w); if wide { c31 = dp(c31, b1, w) }
            w = weightGroup(a4, kk, k); c40 = dp(c40, b0, w); if wide { c41 = dp(c41, b1, w) }
            w = weightGroup(a5, kk, k); c50 = dp(c50, b0, w); if wide { c51 = dp(c51, b1, w) }
        }
        let o = UnsafeMutableRawPointer(out)
        o.storeBytes(of: c00, as: SIMD16<Int32>.self); o.storeBytes(of: c01, toByteOffset: 64, as: SIMD16<Int32>.self)
        o.storeBytes(of: c10, toByteOffset: 128, as: SIMD16<Int32>.self); o.storeBytes(of: c11, toByteOffset: 192, as: SIMD16<Int32>.self)
        o.storeBytes(of: c20, toByteOffset: 256, as: SIMD16<Int32>.self); o.storeBytes(of: c21, toByteOffset: 320, as: SIMD16<Int32>.self)
        o.storeBytes(of: c30, toByteOffset: 384, as: SIMD16<Int32>.self); o.storeBytes(of: c31, toByteOffset: 448, as: SIMD16<Int32>.self)
        o.storeBytes(of: c40, toByteOffset: 512, as: SIMD16<Int32>.self); o.storeBytes(of: c41, toByteOffset: 576, as: SIMD16<Int32>.self)
        o.storeBytes(of: c50, toByteOffset: 640, as: SIMD16<Int32>.self); o.storeBytes(of: c51, toByteOffset: 704, as: SIMD16<Int32>.self)
    }

    /// Int8MicrokernelGeneric.interleaveColumns' contract for this tile's 32 columns. Two-table byte permutes
    /// (VBMI vpermt2b) do the gather and the interleave: two taps' 32 gathered columns into one register (out of
    /// the 64 bytes at each tap's offset), then 16 columns × 4 taps from two such registers, twice. That is 4
    /// permutes per 4 taps where interleavePanel widens, shifts and ors 22 times.
    @inline(__always)
    static func interleaveColumns(from src: UnsafePointer<UInt8>, offsets: UnsafePointer<Int>, k: Int,
                                  index: SIMD64<UInt8>, into panel: UnsafeMutablePointer<UInt8>) {
        var pair = SIMD64<UInt8>(), low = SIMD64<UInt8>(), high = SIMD64<UInt8>()
        for j in 0..<32 { pair[j] = index[j]; pair[j &+ 32] = index[j] | 64 }
        for j in 0..<16 {
            for t in 0..<4 {
                // Tap t of column j: the first (t even) or second (t odd) tap of pair ab (t < 2) or cd (t ≥ 2).
                let at = (t & 1) &* 32 &+ (t >> 1) &* 64 &+ j
                low[4 &* j &+ t] = UInt8(truncatingIfNeeded: at)
                high[4 &* j &+ t] = UInt8(truncatingIfNeeded: at &+ 16)
            }
        }
        let pairIndex = unsafeBitCast(pair, to: __m512i.self)
        let lowIndex = unsafeBitCast(low, to: __m512i.self), highIndex = unsafeBitCast(high, to: __m512i.self)
        let s = UnsafeRawPointer(src), zero = _mm512_setzero_si512()
        @inline(__always) func bytes(_ o: Int) -> __m512i { o >= 0 ? s.loadUnaligned(fromByteOffset: o, as: __m512i.self) : zero }
        var d = UnsafeMutableRawPointer(panel)
        var kk = 0
        while kk < k {
            let o1 = kk &+ 1 < k ? offsets[kk &+ 1] : -1
            let o2 = kk &+ 2 < k ? offsets[kk &+ 2] : -1
            let o3 = kk &+ 3 < k ? offsets[kk &+ 3] : -1
            let ab = _mm512_permutex2var_epi8(bytes(offsets[kk]), pairIndex, bytes(o1))
            let cd = _mm512_permutex2var_epi8(bytes(o2), pairIndex, bytes(o3))
            d.storeBytes(of: _mm512_permutex2var_epi8(ab, lowIndex, cd), as: __m512i.self)
            d.storeBytes(of: _mm512_permutex2var_epi8(ab, highIndex, cd), toByteOffset: 64, as: __m512i.self)
            d += 128
            kk &+= 4
        }
    }

    @inline(__always)
    static func dot4(n: Int, x: UnsafePointer<UInt8>, _ w0: UnsafePointer<Int8>, _ w1: UnsafePointer<Int8>,
                     _ w2: UnsafePointer<Int8>, _ w3: UnsafePointer<Int8>) -> SIMD4<Int32> {
        var s0 = SIMD16<Int32>(), s1 = SIMD16<Int32>(), s2 = SIMD16<Int32>(), s3 = SIMD16<Int32>()
        let xr = UnsafeRawPointer(x)
        let r0 = UnsafeRawPointer(w0), r1 = UnsafeRawPointer(w1), r2 = UnsafeRawPointer(w2), r3 = UnsafeRawPointer(w3)
        var i = 0
        while i &+ 64 <= n {
            let xv = xr.loadUnaligned(fromByteOffset: i, as: SIMD16<Int32>.self)
            s0 = dp(s0, xv, r0.loadUnaligned(fromByteOffset: i, as: SIMD16<Int32>.self))
            s1 = dp(s1, xv, r1.loadUnaligned(fromByteOffset: i, as: SIMD16<Int32>.self))
            s2 = dp(s2, xv, r2.loadUnaligned(fromByteOffset: i, as: SIMD16<Int32>.self))
            s3 = dp(s3, xv, r3.loadUnaligned(fromByteOffset: i, as: SIMD16<Int32>.self))
            i &+= 64
        }
        let t = SIMD4<Int32>(s0.wrappedSum(), s1.wrappedSum(), s2.wrappedSum(), s3.wrappedSum())
        return Int8MicrokernelGeneric.dot4Tail(t, from: i, n: n, x: x, w0, w1, w2, w3)
    }
}
#endif
