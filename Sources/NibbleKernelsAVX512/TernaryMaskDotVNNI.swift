// AVX-512 only (this module alone compiles this file): the few-pixel ternary dot products of TernaryConvDirect,
// 16 output channels × 64 indices per step, read straight from the packed masks (the AVX2 code takes 8 × 32).
// Per channel the two 64-bit masks become −1/0/+1 bytes w with two masked moves (+1 where the + bit is set, then
// −1 where the − bit is), and one vpdpbusd(x, w) sums w·x over each quad into 16 int32 lanes; with a zero point a
// second vpdpbusd(zp, w) is subtracted, so each lane holds Σ w·(q − zp) over its quad, exact in int32. The 16
// channels' vectors are then reduced to one vector per 16-index unit with the channels along the lanes: two levels
// of vpermt2d pair sums (4 quads → 1 unit) and a 4 × 4 transpose of 128-bit blocks. Each unit's sums are added per
// group in int32 and each group's α·Float(sum) in group order — the reference's operations, so bit-identical.
// Same contract as SmallWeightMicrokernelMaddubs.maskDot8, for 16 channels.
#if arch(x86_64)
import _Builtin_intrinsics.intel

enum TernaryMaskDotVNNI {
    /// Output channels per call.
    static let rows = 16

    /// s[j] = Σ_{groups gi} αT[16·gi + j] · Float(Σ_{k ∈ gi} T[r, k]·(x[k] − zp)) for rows r = min(first + j, rows − 1),
    /// j < 16, summed in group order. Masks are TernaryPlanes rows read as 64-bit words (`halfWordsPerRow` / 2 per row);
    /// a group is `unitsPerGroup` × 16 indices (the last one may be short); x is readable up to the row's whole
    /// 64-index words and 0 past the row.
    @inline(__always)
    static func dot(plus: UnsafePointer<UInt32>, minus: UnsafePointer<UInt32>, halfWordsPerRow: Int, rows: Int, first: Int,
                    rowLength: Int, x: UnsafePointer<UInt8>, zeroPoint: Int32, alphaT: UnsafePointer<Float>,
                    unitsPerGroup: Int) -> SIMD16<Float> {
        // zp = 0 (ReLU inputs) skips the correction products.
        zeroPoint == 0
            ? dot(plus: plus, minus: minus, halfWordsPerRow: halfWordsPerRow, rows: rows, first: first, rowLength: rowLength,
                  x: x, zeroPoint: 0, alphaT: alphaT, unitsPerGroup: unitsPerGroup, correct: false)
            : dot(plus: plus, minus: minus, halfWordsPerRow: halfWordsPerRow, rows: rows, first: first, rowLength: rowLength,
                  x: x, zeroPoint: zeroPoint, alphaT: alphaT, unitsPerGroup: unitsPerGroup, correct: true)
    }

    /// αT[16·gi + j] = α[min(first + j, rows − 1), gi]: one 16-channel vector per group. Whole 16 × 16 blocks are
    /// transposed in registers (four butterfly levels of vpermt2ps; element by element the transpose was a quarter of
    /// G1), the last groups element by element.
    @inline(__always)
    static func transposeScales(_ alpha: UnsafePointer<Float>, rows: Int, first: Int, groups: Int, into alphaT: UnsafeMutablePointer<Float>) {
        @inline(__always) func a(_ j: Int) -> UnsafeRawPointer { UnsafeRawPointer(alpha + Swift.min(first &+ j, rows &- 1) &* groups) }
        // Level d pairs rows i and i + d (i & d == 0): i keeps its lanes l with l & d == 0 and takes i + d's lane l − d
        // for the others, i + d takes i's lane l + d and keeps the rest — bit d of the row and the lane index trade
        // places. After d = 8, 4, 2, 1, row i holds column i.
        @inline(__always) func keep(_ d: Int32) -> __m512i { lanes { l in l & d == 0 ? l : 16 | (l &- d) } }
        @inline(__always) func take(_ d: Int32) -> __m512i { lanes { l in l & d == 0 ? l &+ d : 16 | l } }
        let k8 = keep(8), t8 = take(8), k4 = keep(4), t4 = take(4), k2 = keep(2), t2 = take(2), k1 = keep(1), t1 = take(1)
        @inline(__always) func pair(_ x: inout __m512, _ y: inout __m512, _ k: __m512i, _ t: __m512i) {
            let a = x, b = y
            x = _mm512_permutex2var_ps(a, k, b)
            y = _mm512_permutex2var_ps(a, t, b)
        }
        let p0 = a(0), p1 = a(1), p2 = a(2), p3 = a(3), p4 = a(4), p5 = a(5), p6 = a(6), p7 = a(7)
        let p8 = a(8), p9 = a(9), p10 = a(10), p11 = a(11), p12 = a(12), p13 = a(13), p14 = a(14), p15 = a(15)
        let out = UnsafeMutableRawPointer(alphaT)
        var gb = 0
        while gb &+ 16 <= groups {
            let o = 4 &* gb
            var v0 = p0.loadUnaligned(fromByteOffset: o, as: __m512.self), v1 = p1.loadUnaligned(fromByteOffset: o, as: __m512.self)
            var v2 = p2.loadUnaligned(fromByteOffset: o, as: __m512.self), v3 = p3.loadUnaligned(fromByteOffset: o, as: __m512.self)
            var v4 = p4.loadUnaligned(fromByteOffset: o, as: __m512.self), v5 = p5.loadUnaligned(fromByteOffset: o, as: __m512.self)
            var v6 = p6.loadUnaligned(fromByteOffset: o, as: __m512.self), v7 = p7.loadUnaligned(fromByteOffset: o, as: __m512.self)
            var v8 = p8.loadUnaligned(fromByteOffset: o, as: __m512.self), v9 = p9.loadUnaligned(fromByteOffset: o, as: __m512.self)
            var v10 = p10.loadUnaligned(fromByteOffset: o, as: __m512.self), v11 = p11.loadUnaligned(fromByteOffset: o, as: __m512.self)
            var v12 = p12.loadUnaligned(fromByteOffset: o, as: __m512.self), v13 = p13.loadUnaligned(fromByteOffset: o, as: __m512.self)
            var v14 = p14.loadUnaligned(fromByteOffset: o, as: __m512.self), v15 = p15.loadUnaligned(fromByteOffset: o, as: __m512.self)
            pair(&v0, &v8, k8, t8); pair(&v1, &v9, k8, t8); pair(&v2, &v10, k8, t8); pair(&v3, &v11, k8, t8)
            pair(&v4, &v12, k8, t8); pair(&v5, &v13, k8, t8); pair(&v6, &v14, k8, t8); pair(&v7, &v15, k8, t8)
            pair(&v0, &v4, k4, t4); pair(&v1, &v5, k4, t4); pair(&v2, &v6, k4, t4); pair(&v3, &v7, k4, t4)
            pair(&v8, &v12, k4, t4); pair(&v9, &v13, k4, t4); pair(&v10, &v14, k4, t4); pair(&v11, &v15, k4, t4)
            pair(&v0, &v2, k2, t2); pair(&v1, &v3, k2, t2); pair(&v4, &v6, k2, t2); pair(&v5, &v7, k2, t2)
            pair(&v8, &v10, k2, t2); pair(&v9, &v11, k2, t2); pair(&v12, &v14, k2, t2); pair(&v13, &v15, k2, t2)
            pair(&v0, &v1, k1, t1); pair(&v2, &v3, k1, t1); pair(&v4, &v5, k1, t1); pair(&v6, &v7, k1, t1)
            pair(&v8, &v9, k1, t1); pair(&v10, &v11, k1, t1); pair(&v12, &v13, k1, t1); pair(&v14, &v15, k1, t1)
            let q = 16 &* o
            out.storeBytes(of: v0, toByteOffset: q, as: __m512.self); out.storeBytes(of: v1, toByteOffset: q &+ 64, as: __m512.self)
            out.storeBytes(of: v2, toByteOffset: q &+ 128, as: __m512.self); out.storeBytes(of: v3, toByteOffset: q &+ 192, as: __m512.self)
            out.storeBytes(of: v4, toByteOffset: q &+ 256, as: __m512.self); out.storeBytes(of: v5, toByteOffset: q &+ 320, as: __m512.self)
            out.storeBytes(of: v6, toByteOffset: q &+ 384, as: __m512.self); out.storeBytes(of: v7, toByteOffset: q &+ 448, as: __m512.self)
            out.storeBytes(of: v8, toByteOffset: q &+ 512, as: __m512.self); out.storeBytes(of: v9, toByteOffset: q &+ 576, as: __m512.self)
            out.storeBytes(of: v10, toByteOffset: q &+ 640, as: __m512.self); out.storeBytes(of: v11, toByteOffset: q &+ 704, as: __m512.self)
            out.storeBytes(of: v12, toByteOffset: q &+ 768, as: __m512.self); out.storeBytes(of: v13, toByteOffset: q &+ 832, as: __m512.self)
            out.storeBytes(of: v14, toByteOffset: q &+ 896, as: __m512.self); out.storeBytes(of: v15, toByteOffset: q &+ 960, as: __m512.self)
            gb &+= 16
        }
        while gb < groups {
            let o = 4 &* gb
            let v = SIMD16<Float>(p0.loadUnaligned(fromByteOffset: o, as: Float.self), p1.loadUnaligned(fromByteOffset: o, as: Float.self),
                                  p2.loadUnaligned(fromByteOffset: o, as: Float.self), p3.loadUnaligned(fromByteOffset: o, as: Float.self),
                                  p4.loadUnaligned(fromByteOffset: o, as: Float.self), p5.loadUnaligned(fromByteOffset: o, as: Float.self),
                                  p6.loadUnaligned(fromByteOffset: o, as: Float.self), p7.loadUnaligned(fromByteOffset: o, as: Float.self),
                                  p8.loadUnaligned(fromByteOffset: o, as: Float.self), p9.loadUnaligned(fromByteOffset: o, as: Float.self),
                                  p10.loadUnaligned(fromByteOffset: o, as: Float.self), p11.loadUnaligned(fromByteOffset: o, as: Float.self),
                                  p12.loadUnaligned(fromByteOffset: o, as: Float.self), p13.loadUnaligned(fromByteOffset: o, as: Float.self),
                                  p14.loadUnaligned(fromByteOffset: o, as: Float.self), p15.loadUnaligned(fromByteOffset: o, as: Float.self))
            out.storeBytes(of: v, toByteOffset: 16 &* o, as: SIMD16<Float>.self)
            gb &+= 1
        }
    }

    /// Index vectors of `_mm512_permutex2var_epi32` (lanes ≥ 16 pick from the second source).
    @inline(__always)
    static func lanes(_ f: (Int32) -> Int32) -> __m512i {
        var v = SIMD16<Int32>()
        for l in 0..<16 { v[l] = f(Int32(l)) }
        return unsafeBitCast(v, to: __m512i.self)
    }

    @inline(__always)
    static func dot(plus: UnsafePointer<UInt32>, minus: UnsafePointer<UInt32>, halfWordsPerRow: Int, rows: Int, first: Int,
                    rowLength: Int, x: UnsafePointer<UInt8>, zeroPoint: Int32, alphaT: UnsafePointer<Float>,
                    unitsPerGroup: Int, correct: Bool) -> SIMD16<Float> {
        let rowBytes = 4 &* halfWordsPerRow
        let p = UnsafeRawPointer(plus), m = UnsafeRawPointer(minus)
        @inline(__always) func row(_ j: Int) -> Int { Swift.min(first &+ j, rows &- 1) &* rowBytes }
        let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4), r5 = row(5), r6 = row(6), r7 = row(7)
        let r8 = row(8), r9 = row(9), r10 = row(10), r11 = row(11), r12 = row(12), r13 = row(13), r14 = row(14), r15 = row(15)
        let one = _mm512_set1_epi8(1), minusOne = _mm512_set1_epi8(-1), zero = _mm512_setzero_si512()
        let zp = _mm512_set1_epi8(Int8(truncatingIfNeeded: zeroPoint))
        // Level 1, rows (a, b) → lane 4g + 2e + h = (a, b)[e] quads h + (h + 2) of unit g.
        let pairA = lanes { l in (l & 2) << 3 | (l & ~3) | (l & 1) }, pairB = lanes { l in (l & 2) << 3 | (l & ~3) | (l & 1) | 2 }
        // Level 2, pairs (a, b) → lane 4g + 2f + e = (a, b)[f] halves 0 + 1 of row e of unit g.
        let quadA = lanes { l in (l & 2) << 3 | (l & ~3) | (l & 1) << 1 }, quadB = lanes { l in (l & 2) << 3 | (l & ~3) | (l & 1) << 1 | 1 }
        // Level 3, a 4 × 4 transpose of 128-bit blocks: lo/hi keep blocks 0, 1 / 2, 3 of two vectors, then even/odd
        // take block b of all four.
        let blocksLo = lanes { l in (l & 8) << 1 | (l & 4) | (l & 3) }, blocksHi = lanes { l in (l & 8) << 1 | (l & 4) | (l & 3) | 8 }
        let even = lanes { l in (l & 8) << 1 | (l & 4) << 1 | (l & 3) }, odd = lanes { l in (l & 8) << 1 | (l & 4) << 1 | (l & 3) | 4 }
        let units = (rowLength &+ 15) >> 4
        var acc = SIMD16<Int32>(), s = SIMD16<Float>()
        var gi = 0, u = 0, end = Swift.min(unitsPerGroup, units)
        var offset = 0
        while u < units {
            let xv = UnsafeRawPointer(x).loadUnaligned(fromByteOffset: offset, as: __m512i.self)
            // Row j's 64 quad sums Σ w·(q − zp).
            @inline(__always) func quads(_ r: Int) -> __m512i {
                let kp = p.loadUnaligned(fromByteOffset: r &+ (offset >> 3), as: UInt64.self)
                let km = m.loadUnaligned(fromByteOffset: r &+ (offset >> 3), as: UInt64.self)
                let w = _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(kp, one), km, minusOne)
                let d = _mm512_dpbusd_epi32(zero, xv, w)
                return correct ? _mm512_sub_epi32(d, _mm512_dpbusd_epi32(zero, zp, w)) : d
            }
            @inline(__always) func pair(_ a: __m512i, _ b: __m512i, _ i: __m512i, _ k: __m512i) -> __m512i {
                _mm512_add_epi32(_mm512_permutex2var_epi32(a, i, b), _mm512_permutex2var_epi32(a, k, b))
            }
            let q0 = pair(pair(quads(r0), quads(r1), pairA, pairB), pair(quads(r2), quads(r3), pairA, pairB), quadA, quadB)
            let q1 = pair(pair(quads(r4), quads(r5), pairA, pairB), pair(quads(r6), quads(r7), pairA, pairB), quadA, quadB)
            let q2 = pair(pair(quads(r8), quads(r9), pairA, pairB), pair(quads(r10), quads(r11), pairA, pairB), quadA, quadB)
            let q3 = pair(pair(quads(r12), quads(r13), pairA, pairB), pair(quads(r14), quads(r15), pairA, pairB), quadA, quadB)
            let lo01 = _mm512_permutex2var_epi32(q0, blocksLo, q1), hi01 = _mm512_permutex2var_epi32(q0, blocksHi, q1)
            let lo23 = _mm512_permutex2var_epi32(q2, blocksLo, q3), hi23 = _mm512_permutex2var_epi32(q2, blocksHi, q3)
            // Adds one unit's sums (channels along the lanes) and finishes its group: the reference's
            // `sum += α · Float(acc)` per channel, groups in order.
            @inline(__always) func unit(_ v: __m512i) {
                acc &+= unsafeBitCast(v, to: SIMD16<Int32>.self)
                u &+= 1
                if u == end {
                    let sum: SIMD16<Float> = _mm512_cvtepi32_ps(unsafeBitCast(acc, to: __m512i.self))
                    s += UnsafeRawPointer(alphaT).loadUnaligned(fromByteOffset: 64 &* gi, as: SIMD16<Float>.self) * sum
                    acc = SIMD16<Int32>(); gi &+= 1; end = Swift.min(end &+ unitsPerGroup, units)
                }
            }
            unit(_mm512_permutex2var_epi32(lo01, even, lo23))
            if u < units { unit(_mm512_permutex2var_epi32(lo01, odd, lo23)) }
            if u < units { unit(_mm512_permutex2var_epi32(hi01, even, hi23)) }
            if u < units { unit(_mm512_permutex2var_epi32(hi01, odd, hi23)) }
            offset &+= 64
        }
        return s
    }
}
#endif
