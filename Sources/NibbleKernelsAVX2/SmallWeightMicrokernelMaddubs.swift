// AVX2 (this module and NibbleKernelsAVX512 compile this file): int8 tiles for small weights with vpmaddubsw.
// vpmaddubsw multiplies 32 u8 × s8 byte pairs and adds adjacent products into 16 int16 lanes, saturating; with
// |w| ≤ 64 a pair is at most 2·255·64 = 32640, so it never saturates and the result is exact (general int8
// weights need Int8MicrokernelMaddwd). Ternary weights (|w| ≤ 1) go further: up to 64 pair sums are added in
// int16 (64·510 = 32640) before one vpmaddwd by ones widens them, so a reduction quad costs one vpmaddubsw and
// one vpaddw per 8 columns — twice the MACs per instruction of vpmaddwd on bytes widened to int16.
// Same contract and panel layout as SmallWeightMicrokernelGeneric.
#if arch(x86_64)
import _Builtin_intrinsics.intel

enum SmallWeightMicrokernelMaddubs {
    static let tileRows = 4
    static let tileColumns = 16
    static let columnDots = SmallWeightMicrokernelGeneric.columnDots

    @inline(__always)
    static func column(quads: Int, a: UnsafePointer<Int8>, lda: Int, x: UnsafePointer<UInt8>,
                       corrections: UnsafePointer<Int32>) -> SIMD4<Int32> {
        SmallWeightMicrokernelGeneric.column(quads: quads, a: a, lda: lda, x: x, corrections: corrections)
    }

    @inline(__always)
    static func quadsPerWiden(maxAbsWeight: Int) -> Int { SmallWeightMicrokernelGeneric.quadsPerWiden(maxAbsWeight: maxAbsWeight) }
    @inline(__always)
    static func lanePair(low: Int32, high: Int32) -> Int32 { SmallWeightMicrokernelGeneric.lanePair(low: low, high: high) }

    /// Σ_{i < quads} Σ_{t < 4} a_r[4i + t] · b[64i + 4j + t] − corrections[2r + 1] for rows a_r = a + r·lda (r < 4),
    /// columns j < 16; exact when every weight's |w| ≤ maxAbsWeight and quadsPerWiden = quadsPerWiden(maxAbsWeight:).
    /// With `lanesStartCorrected` and quads ≤ quadsPerWiden, corrections[2r] (SmallWeightMicrokernelGeneric.lanePair)
    /// starts the int16 lanes instead: the subtraction is free, and each lane ends at Σ (b − zp)·w over its pair
    /// positions, within ±510·quads·maxAbsWeight like the uncorrected sum (vpaddw wraps, so only the end must fit).
    @inline(__always)
    static func tile(quads: Int, a: UnsafePointer<Int8>, lda: Int, b: UnsafePointer<UInt8>, quadsPerWiden: Int,
                     corrections: UnsafePointer<Int32>, lanesStartCorrected: Bool) -> Int32Tile4x16 {
        let ones = _mm256_set1_epi16(1)
        let a0 = UnsafeRawPointer(a), a1 = a0 + lda, a2 = a0 + 2 &* lda, a3 = a0 + 3 &* lda
        var bp = UnsafeRawPointer(b)
        // Pair sums in int16: columns 0…7 (s·0) and 8…15 (s·1), each column's two lanes holding k0k1 and k2k3.
        @inline(__always) func accumulate(_ s: inout Int16Tile, from first: Int, to end: Int) {
            var i = first
            while i < end {
                let x0 = bp.loadUnaligned(as: __m256i.self), x1 = bp.loadUnaligned(fromByteOffset: 32, as: __m256i.self)
                let o = 4 &* i
                var w = _mm256_set1_epi32(a0.loadUnaligned(fromByteOffset: o, as: Int32.self))
                s.s00 = _mm256_add_epi16(s.s00, _mm256_maddubs_epi16(x0, w)); s.s01 = _mm256_add_epi16(s.s01, _mm256_maddubs_epi16(x1, w))
                w = _mm256_set1_epi32(a1.loadUnaligned(fromByteOffset: o, as: Int32.self))
                s.s10 = _mm256_add_epi16(s.s10, _mm256_maddubs_epi16(x0, w)); s.s11 = _mm256_add_epi16(s.s11, _mm256_maddubs_epi16(x1, w))
                w = _mm256_set1_epi32(a2.loadUnaligned(fromByteOffset: o, as: Int32.self))
                s.s20 = _mm256_add_epi16(s.s20, _mm256_maddubs_epi16(x0, w)); s.s21 = _mm256_add_epi16(s.s21, _mm256_maddubs_epi16(x1, w))
                w = _mm256_set1_epi32(a3.loadUnaligned(fromByteOffset: o, as: Int32.self))
                s.s30 = _mm256_add_epi16(s.s30, _mm256_maddubs_epi16(x0, w)); s.s31 = _mm256_add_epi16(s.s31, _mm256_maddubs_epi16(x1, w))
                bp += 64
                i &+= 1
            }
        }
        func v(_ x: __m256i) -> SIMD8<Int32> { unsafeBitCast(x, to: SIMD8<Int32>.self) }
        if lanesStartCorrected && quads <= quadsPerWiden {
            var s = Int16Tile(lanes: corrections)
            accumulate(&s, from: 0, to: quads)
            // vpmaddwd by ones adds each column's two int16 lanes into its int32 lane: columns stay in order.
            return Int32Tile4x16(r0a: v(_mm256_madd_epi16(s.s00, ones)), r0b: v(_mm256_madd_epi16(s.s01, ones)),
                                 r1a: v(_mm256_madd_epi16(s.s10, ones)), r1b: v(_mm256_madd_epi16(s.s11, ones)),
                                 r2a: v(_mm256_madd_epi16(s.s20, ones)), r2b: v(_mm256_madd_epi16(s.s21, ones)),
                                 r3a: v(_mm256_madd_epi16(s.s30, ones)), r3b: v(_mm256_madd_epi16(s.s31, ones)))
        }
        let c0 = _mm256_set1_epi32(0 &- corrections[1]), c1 = _mm256_set1_epi32(0 &- corrections[3])
        let c2 = _mm256_set1_epi32(0 &- corrections[5]), c3 = _mm256_set1_epi32(0 &- corrections[7])
        var c00 = c0, c01 = c0, c10 = c1, c11 = c1, c20 = c2, c21 = c2, c30 = c3, c31 = c3
        var i = 0
        while i < quads {
            let end = Swift.min(quads, i &+ quadsPerWiden)
            var s = Int16Tile()
            accumulate(&s, from: i, to: end)
            i = end
            c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(s.s00, ones)); c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(s.s01, ones))
            c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(s.s10, ones)); c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(s.s11, ones))
            c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(s.s20, ones)); c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(s.s21, ones))
            c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(s.s30, ones)); c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(s.s31, ones))
        }
        return Int32Tile4x16(r0a: v(c00), r0b: v(c01), r1a: v(c10), r1b: v(c11), r2a: v(c20), r2b: v(c21), r3a: v(c30), r3b: v(c31))
    }

    /// A 4 × 16 tile of int16 pair sums (row r, columns 0…7 in s·r0 and 8…15 in s·r1).
    struct Int16Tile {
        var s00: __m256i, s01: __m256i, s10: __m256i, s11: __m256i, s20: __m256i, s21: __m256i, s30: __m256i, s31: __m256i

        @inline(__always) init() {
            let z = _mm256_setzero_si256()
            (s00, s01, s10, s11, s20, s21, s30, s31) = (z, z, z, z, z, z, z, z)
        }

        /// Every column of row r starts at the lane pair corrections[2r].
        @inline(__always) init(lanes corrections: UnsafePointer<Int32>) {
            s00 = _mm256_set1_epi32(corrections[0]); s01 = s00
            s10 = _mm256_set1_epi32(corrections[2]); s11 = s10
            s20 = _mm256_set1_epi32(corrections[4]); s21 = s20
            s30 = _mm256_set1_epi32(corrections[6]); s31 = s30
        }
    }

    /// One panel quad of 16 columns (byte 4j + t of `to` = v_t[j]) by byte then word unpacks: the generic widening
    /// to SIMD16<UInt32> is left as a per-lane call by the compiler.
    @inline(__always)
    static func interleave(_ v0: SIMD16<UInt8>, _ v1: SIMD16<UInt8>, _ v2: SIMD16<UInt8>, _ v3: SIMD16<UInt8>,
                           to d: UnsafeMutableRawPointer) {
        func m(_ v: SIMD16<UInt8>) -> __m128i { unsafeBitCast(v, to: __m128i.self) }
        let lo01 = _mm_unpacklo_epi8(m(v0), m(v1)), hi01 = _mm_unpackhi_epi8(m(v0), m(v1))
        let lo23 = _mm_unpacklo_epi8(m(v2), m(v3)), hi23 = _mm_unpackhi_epi8(m(v2), m(v3))
        d.storeBytes(of: _mm_unpacklo_epi16(lo01, lo23), as: __m128i.self)
        d.storeBytes(of: _mm_unpackhi_epi16(lo01, lo23), toByteOffset: 16, as: __m128i.self)
        d.storeBytes(of: _mm_unpacklo_epi16(hi01, hi23), toByteOffset: 32, as: __m128i.self)
        d.storeBytes(of: _mm_unpackhi_epi16(hi01, hi23), toByteOffset: 48, as: __m128i.self)
    }

    /// 32 ternary weights as int8 −1/0/+1 (bit i of the disjoint masks → byte i): vpshufb spreads mask byte b over
    /// lanes 8b…8b+7, vpcmpeqb against each lane's own bit gives 0/−1; (plus & 1) | minus is then 1, −1 or 0.
    @inline(__always)
    static func expand(plus: UInt32, minus: UInt32) -> SIMD32<Int8> {
        let spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                      2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)
        let bits = _mm256_set1_epi64x(Int64(bitPattern: 0x8040_2010_0804_0201))
        func lanes(_ m: UInt32) -> __m256i {
            _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(Int32(bitPattern: m)), spread), bits), bits)
        }
        let t = _mm256_or_si256(_mm256_and_si256(lanes(plus), _mm256_set1_epi8(1)), lanes(minus))
        return unsafeBitCast(t, to: SIMD32<Int8>.self)
    }
}
#endif
