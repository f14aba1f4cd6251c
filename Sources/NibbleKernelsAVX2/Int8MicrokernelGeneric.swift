// Shared source (symlinked into every kernel module). Exact int8 dot products without VNNI: bytes are
// widened to int32 lanes (no pmaddubsw, whose int16 saturation would break exactness).

/// 4 x 16 int32 tile over the 4-byte-interleaved panel layout of Int8ConvTiled.
enum Int8MicrokernelGeneric {
    static let tileRows = 4
    static let tileColumns = 16

    /// Row `r` of a tile of `rows` weight rows at `a` (stride `lda`): rows past the last repeat it, so a partial
    /// tile reads only real weights (its extra output rows are not used). Every module's int8 tile uses it.
    @inline(__always)
    static func row(_ a: UnsafePointer<Int8>, _ r: Int, lda: Int, rows: Int) -> UnsafePointer<Int8> {
        a + Swift.min(r, rows &- 1) &* lda
    }

    /// The scalar end of every module's `dot4`: `t` plus Σ_{j in i..<n} x[j]·w_r[j] for the four rows.
    @inline(__always)
    static func dot4Tail(_ t: SIMD4<Int32>, from i: Int, n: Int, x: UnsafePointer<UInt8>, _ w0: UnsafePointer<Int8>,
                         _ w1: UnsafePointer<Int8>, _ w2: UnsafePointer<Int8>, _ w3: UnsafePointer<Int8>) -> SIMD4<Int32> {
        var t = t
        for j in i..<n {
            t &+= SIMD4<Int32>(Int32(w0[j]), Int32(w1[j]), Int32(w2[j]), Int32(w3[j])) &* Int32(x[j])
        }
        return t
    }

    /// panel[(k/4)·4·NR + 4j + t] = src[offsets[k + t] + index[j]] for columns j < NR (0 where k + t ≥ K): the
    /// panel of output pixels whose padded-grid positions are index[j] past `src`, so the grid's columns past each
    /// row are not computed. Index entries are < 64, and src[offsets[k] ..< offsets[k] + 64] must be readable.
    /// Byte by byte here (on Zen 4 the portable L3 int8 conv ran 3 % faster than on the grid's wider panels, L4 3 %
    /// slower).
    @inline(__always)
    static func interleaveColumns(from src: UnsafePointer<UInt8>, offsets: UnsafePointer<Int>, k: Int,
                                  index: SIMD64<UInt8>, into panel: UnsafeMutablePointer<UInt8>) {
        var d = panel
        var kk = 0
        while kk < k {
            for j in 0..<tileColumns {
                for t in 0..<4 { d[4 &* j &+ t] = kk &+ t < k ? src[offsets[kk &+ t] &+ Int(index[j])] : 0 }
            }
            d += 4 &* tileColumns
            kk &+= 4
        }
    }

    @inline(__always)
    static func weight(_ a: UnsafePointer<Int8>, _ i: Int) -> SIMD16<Int32> {
        SIMD16<Int32>(repeating: Int32(a[i]))
    }

    /// out[r·16 + j] = Σ_k a[r][k] · b[k][j] for r < rows (other rows are garbage-free but unused).
    /// All 16 columns are computed whatever `columns` (the live ones) is.
    @inline(__always)
    static func tile(k: Int, a: UnsafePointer<Int8>, lda: Int, rows: Int, b: UnsafePointer<UInt8>, columns _: Int,
                     out: UnsafeMutablePointer<Int32>) {
        let a0 = a
        let a1 = Int8MicrokernelGeneric.row(a, 1, lda: lda, rows: rows)
        let a2 = Int8MicrokernelGeneric.row(a, 2, lda: lda, rows: rows)
        let a3 = Int8MicrokernelGeneric.row(a, 3, lda: lda, rows: rows)
        var c0 = SIMD16<Int32>(), c1 = SIMD16<Int32>(), c2 = SIMD16<Int32>(), c3 = SIMD16<Int32>()
        let mask = SIMD16<UInt32>(repeating: 0xFF)
        var bp = UnsafeRawPointer(b)
        var kk = 0
        while kk < k {
            let v = bp.loadUnaligned(as: SIMD16<UInt32>.self)
            bp += 64
            let valid = Swift.min(4, k &- kk)
            for t in 0..<valid {
                let bt = SIMD16<Int32>(truncatingIfNeeded: (v &>> UInt32(8 &* t)) & mask)
                c0 &+= bt &* weight(a0, kk &+ t)
                c1 &+= bt &* weight(a1, kk &+ t)
                c2 &+= bt &* weight(a2, kk &+ t)
                c3 &+= bt &* weight(a3, kk &+ t)
            }
            kk &+= 4
        }
        let o = UnsafeMutableRawPointer(out)
        o.storeBytes(of: c0, as: SIMD16<Int32>.self)
        o.storeBytes(of: c1, toByteOffset: 64, as: SIMD16<Int32>.self)
        o.storeBytes(of: c2, toByteOffset: 128, as: SIMD16<Int32>.self)
        o.storeBytes(of: c3, toByteOffset: 192, as: SIMD16<Int32>.self)
    }

    /// Σ_i x[i]·w_r[i] for four weight rows.
    @inline(__always)
    static func dot4(n: Int, x: UnsafePointer<UInt8>, _ w0: UnsafePointer<Int8>, _ w1: UnsafePointer<Int8>,
                     _ w2: UnsafePointer<Int8>, _ w3: UnsafePointer<Int8>) -> SIMD4<Int32> {
        var s0 = SIMD16<Int32>(), s1 = SIMD16<Int32>(), s2 = SIMD16<Int32>(), s3 = SIMD16<Int32>()
        let xr = UnsafeRawPointer(x)
        let r0 = UnsafeRawPointer(w0), r1 = UnsafeRawPointer(w1), r2 = UnsafeRawPointer(w2), r3 = UnsafeRawPointer(w3)
        // 64 bytes per step viewed as 16 lanes of 4 bytes: byte t of lane i is element 4i+t in both
        // x and w, so the per-byte products summed over lanes and t give the dot product. Bytes are
        // pulled out with shifts (zero-extended for u8, sign-extended for s8): no generic conversions.
        let mask = SIMD16<Int32>(repeating: 0xFF)
        var i = 0
        while i &+ 64 <= n {
            let xv = xr.loadUnaligned(fromByteOffset: i, as: SIMD16<Int32>.self)
            let v0 = r0.loadUnaligned(fromByteOffset: i, as: SIMD16<Int32>.self)
            let v1 = r1.loadUnaligned(fromByteOffset: i, as: SIMD16<Int32>.self)
            let v2 = r2.loadUnaligned(fromByteOffset: i, as: SIMD16<Int32>.self)
            let v3 = r3.loadUnaligned(fromByteOffset: i, as: SIMD16<Int32>.self)
            for t in 0..<4 {
                let xb = (xv &>> Int32(8 &* t)) & mask
                let up = Int32(24 &- 8 &* t)
                s0 &+= xb &* ((v0 &<< up) &>> 24)
                s1 &+= xb &* ((v1 &<< up) &>> 24)
                s2 &+= xb &* ((v2 &<< up) &>> 24)
                s3 &+= xb &* ((v3 &<< up) &>> 24)
            }
            i &+= 64
        }
        let t = SIMD4<Int32>(s0.wrappedSum(), s1.wrappedSum(), s2.wrappedSum(), s3.wrappedSum())
        return Int8MicrokernelGeneric.dot4Tail(t, from: i, n: n, x: x, w0, w1, w2, w3)
    }
}
