// AVX2 (this module and NibbleKernelsAVX512 compile this file): the tile of LowBitByteConv, k-bit weights × m-bit
// unsigned activations (k, m ≤ 4) held as bytes. vpmaddubsw multiplies one output pixel's activation quad (4 input
// channels of one tap, u8, broadcast) by the weight quads of 8 output channels (s8) and adds adjacent products into
// int16 lanes: 32 multiply-adds per instruction whatever k and m are, where the bit-serial tile pays k·m
// and-popcount passes. A pair is at most 2·15·15 = 450, so nothing saturates, and an int16 lane adds
// ⌊32767 / (2·max a·max |w|)⌋ quads (2730 for w2a2, 136 for w4a4) before vpmaddwd by ones widens it to int32.
// The tile reads the activations in place (no im2col): each row is one output pixel with its own base pointer
// into the zero-padded HWC byte input, and a tap adds its offset (the indirect convolution of XNNPACK).
#if arch(x86_64)
import _Builtin_intrinsics.intel

enum LowBitMicrokernel {
    /// Output pixels per tile (rows, each a broadcast activation quad).
    static let tileRows = 4
    /// Output channels per tile (two 32-byte weight vectors per quad).
    static let tileColumns = 16

    /// Quads an int16 lane can add exactly (see the file comment); ≥ 72 for any k, m ≤ 4.
    @inline(__always)
    static func quadsPerWiden(maxActivation: Int, maxAbsWeight: Int) -> Int {
        32767 / (2 &* Swift.max(1, maxActivation) &* Swift.max(1, maxAbsWeight))
    }

    /// out[r][j] = Σ_{t < taps} Σ_{q < quadsPerTap} Σ_{u < 4} row_r[tapOffsets[t] + 4q + u] · panel[64·(t·quadsPerTap + q) + 4j + u]
    /// for pixel rows r < 4 (byte pointers into the padded input) and channels j < 16 (`panel`: per quad, 16
    /// channels × 4 interleaved s8 weights). Exact when quadsPerWiden comes from `quadsPerWiden` for the operands.
    @inline(__always)
    static func tile(_ a0: UnsafeRawPointer, _ a1: UnsafeRawPointer, _ a2: UnsafeRawPointer, _ a3: UnsafeRawPointer,
                     tapOffsets: UnsafePointer<Int>, taps: Int, quadsPerTap: Int, panel: UnsafeRawPointer,
                     quadsPerWiden: Int) -> Int32Tile4x16 {
        typealias Lanes = SmallWeightMicrokernelMaddubs.Int16Tile
        var bp = panel
        @inline(__always) func accumulate(_ s: inout Lanes, at offset: Int, quads: Int) {
            let r0 = a0 + offset, r1 = a1 + offset, r2 = a2 + offset, r3 = a3 + offset
            var o = 0
            let end = 4 &* quads
            while o < end {
                let w0 = bp.loadUnaligned(as: __m256i.self), w1 = bp.loadUnaligned(fromByteOffset: 32, as: __m256i.self)
                var x = _mm256_set1_epi32(r0.loadUnaligned(fromByteOffset: o, as: Int32.self))
                s.s00 = _mm256_add_epi16(s.s00, _mm256_maddubs_epi16(x, w0)); s.s01 = _mm256_add_epi16(s.s01, _mm256_maddubs_epi16(x, w1))
                x = _mm256_set1_epi32(r1.loadUnaligned(fromByteOffset: o, as: Int32.self))
                s.s10 = _mm256_add_epi16(s.s10, _mm256_maddubs_epi16(x, w0)); s.s11 = _mm256_add_epi16(s.s11, _mm256_maddubs_epi16(x, w1))
                x = _mm256_set1_epi32(r2.loadUnaligned(fromByteOffset: o, as: Int32.self))
                s.s20 = _mm256_add_epi16(s.s20, _mm256_maddubs_epi16(x, w0)); s.s21 = _mm256_add_epi16(s.s21, _mm256_maddubs_epi16(x, w1))
                x = _mm256_set1_epi32(r3.loadUnaligned(fromByteOffset: o, as: Int32.self))
                s.s30 = _mm256_add_epi16(s.s30, _mm256_maddubs_epi16(x, w0)); s.s31 = _mm256_add_epi16(s.s31, _mm256_maddubs_epi16(x, w1))
                bp += 64
                o &+= 4
            }
        }
        // vpmaddwd by ones adds each channel's two int16 lanes (quad bytes 0–1 and 2–3) into its int32 lane.
        @inline(__always) func widen(_ s: Lanes) -> Int32Tile4x16 {
            let ones = _mm256_set1_epi16(1)
            func v(_ x: __m256i) -> SIMD8<Int32> { unsafeBitCast(_mm256_madd_epi16(x, ones), to: SIMD8<Int32>.self) }
            return Int32Tile4x16(r0a: v(s.s00), r0b: v(s.s01), r1a: v(s.s10), r1b: v(s.s11),
                                 r2a: v(s.s20), r2b: v(s.s21), r3a: v(s.s30), r3b: v(s.s31))
        }
        if taps &* quadsPerTap <= quadsPerWiden {
            // The usual case (w2a2 up to 10,920 reduction indices): one int16 pass, no int32 registers held.
            var s = Lanes()
            for t in 0..<taps { accumulate(&s, at: tapOffsets[t], quads: quadsPerTap) }
            return widen(s)
        }
        var c = Int32Tile4x16(r0a: .zero, r0b: .zero, r1a: .zero, r1b: .zero, r2a: .zero, r2b: .zero, r3a: .zero, r3b: .zero)
        var s = Lanes()
        var budget = quadsPerWiden
        for t in 0..<taps {
            var q = 0
            while q < quadsPerTap {
                let n = Swift.min(quadsPerTap &- q, budget)
                accumulate(&s, at: tapOffsets[t] &+ 4 &* q, quads: n)
                q &+= n
                budget &-= n
                if budget == 0 {
                    c = c.adding(widen(s))
                    s = Lanes()
                    budget = quadsPerWiden
                }
            }
        }
        return c.adding(widen(s))
    }

    /// 0xFF in byte i where bit i of the low (or, with `high`, the high) 32 bits of `word` is set, else 0. `word` is a
    /// 64-bit value broadcast to every lane: vpshufb spreads its byte b over lanes 8b…8b+7, vpcmpeqb tests each lane's
    /// own bit.
    @inline(__always)
    static func byteMask(_ word: __m256i, high: Bool) -> __m256i {
        let spread = _mm256_add_epi8(_mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                      2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3),
                                     _mm256_set1_epi8(high ? 4 : 0))
        let bits = _mm256_set1_epi64x(Int64(bitPattern: 0x8040_2010_0804_0201))
        return _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(word, spread), bits), bits)
    }

    /// The 64 values of one packed word position over `planes` bit-planes (plane j's word at words[j · planeStride]):
    /// byte i = Σ_j coefficient_j · bit i of plane j, wrapping in 8 bits (so a negative top-plane coefficient gives
    /// two's complement values), plus `offset` (−1 turns bipolar 2b into 2b − 1). Stored as 64 bytes at `to`.
    @inline(__always)
    static func expandWord(_ words: UnsafePointer<UInt64>, planeStride: Int, planes: Int,
                           coefficients: SIMD4<Int8>, offset: Int8, to d: UnsafeMutableRawPointer) {
        // One 64-bit broadcast per plane feeds both halves (bytes 0–3 and 4–7 of the word); the plane count is a
        // constant in each case, so the loop unrolls.
        var lo = _mm256_set1_epi8(CChar(offset)), hi = lo
        @inline(__always) func add(_ n: Int) {
            for j in 0..<n {
                let w = _mm256_set1_epi64x(Int64(bitPattern: words[j &* planeStride]))
                let c = _mm256_set1_epi8(CChar(coefficients[j]))
                lo = _mm256_add_epi8(lo, _mm256_and_si256(byteMask(w, high: false), c))
                hi = _mm256_add_epi8(hi, _mm256_and_si256(byteMask(w, high: true), c))
            }
        }
        switch planes {
        case 1: add(1)
        case 2: add(2)
        case 3: add(3)
        default: add(4)
        }
        d.storeBytes(of: lo, as: __m256i.self)
        d.storeBytes(of: hi, toByteOffset: 32, as: __m256i.self)
    }
}
#endif
