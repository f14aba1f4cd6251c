// AVX-512 VNNI only (this module alone compiles this file): the tile of Int8ConvIndirect here, 8 output
// pixels × 16 output channels. The activations sit in the padded HWC byte image, so one vpbroadcastd from memory
// gives a pixel's 4 consecutive values in every lane, and vpdpbusd multiplies them with the 4 weights of each of the
// 16 channels (one 64-byte panel row) and adds the 4 products into the channel's int32 lane: exact for any u8 × s8.
// Per quad: 1 weight load, 8 broadcasts and 8 vpdpbusd (8 independent chains) for 512 multiply-adds, read in place.
#if arch(x86_64)
import _Builtin_intrinsics.intel

enum Int8MicrokernelIndirectVNNI {
    typealias Value = UInt8
    static let valuesPerStep = 4
    static let tileRows = 8
    static let tileColumns = 16
    /// VNNI's im2col kernel streams the OIHW weights in place, while this one reorders them every run (K bytes per
    /// output channel) to save the im2col copy (K bytes per output pixel): it pays from 4 pixels per channel (Zen 4:
    /// L1, L2 and M1's stem gain; L3–L5, ≤ 196 pixels for ≥ 256 channels, lose — L4 0.81 → 1.56 ms when forced).
    static let minimumPixelsPerChannel = 4
    /// Stride-1 convs stay on the im2col kernel, which reads them as an implicit GEMM (no im2col copy) and
    /// dequantizes with pixels in lanes straight into NCHW rows. 1×1: here their few reduction steps per tile left
    /// the channels-in-lanes epilogue and transpose to dominate (Zen 4: 64→256 on 56² 0.68 → 0.46 ms, 8→48 on 48²
    /// 0.065 → 0.035 ms, MobileNetV2's expansions and projections). k×k, since its panels gather output pixels
    /// instead of padded-grid positions: L2 0.636 → 0.600 ms, digits32 MobileNet 0.185 → 0.177 ms, ResNet 0.169 →
    /// 0.164; L1 (0.650 against 0.655) and M1 int8 even. Strided convs stay here (M1 int8 12.1 → 13.8 ms on im2col).
    static let takesStrideOne = false

    /// Byte of a panel step (64 bytes) where channel j's quad starts.
    @inline(__always) static func panelOffset(channel j: Int) -> Int { 4 &* j }

    /// Pixels 0–3 and 4–7 of the tile as the 4 × 16 tiles PixelTileColumns stores.
    struct Tile {
        var low: Int32Tile4x16, high: Int32Tile4x16
        /// Pixels r ..< r + 4 (r = 0 or 4).
        @inline(__always) func pixels(_ r: Int) -> Int32Tile4x16 { r < 4 ? low : high }
    }

    /// out[r][j] = Σ_{s < segments} Σ_{i < stepsPerSegment} Σ_{u < 4} row_r[offsets[s] + 4i + u] · panel[64·(s·stepsPerSegment
    /// + i) + 4j + u] for pixel rows r < 8 (row_r = image + pixel(r)) and channels j < 16.
    @inline(__always)
    static func tile(image: UnsafeRawPointer, pixel: (Int) -> Int, offsets: UnsafePointer<Int>, segments: Int,
                     stepsPerSegment quadsPerSegment: Int, panel: UnsafeRawPointer) -> Tile {
        let a = (image + pixel(0), image + pixel(1), image + pixel(2), image + pixel(3),
                 image + pixel(4), image + pixel(5), image + pixel(6), image + pixel(7))
        let z = _mm512_setzero_si512()
        var c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z, c6 = z, c7 = z
        var bp = panel
        @inline(__always) func dp(_ acc: __m512i, _ row: UnsafeRawPointer, _ o: Int, _ w: __m512i) -> __m512i {
            _mm512_dpbusd_epi32(acc, _mm512_set1_epi32(row.loadUnaligned(fromByteOffset: o, as: Int32.self)), w)
        }
        for s in 0..<segments {
            let off = offsets[s]
            let r0 = a.0 + off, r1 = a.1 + off, r2 = a.2 + off, r3 = a.3 + off
            let r4 = a.4 + off, r5 = a.5 + off, r6 = a.6 + off, r7 = a.7 + off
            var o = 0
            let end = 4 &* quadsPerSegment
            while o < end {
                let w = bp.loadUnaligned(as: __m512i.self)
                c0 = dp(c0, r0, o, w); c1 = dp(c1, r1, o, w); c2 = dp(c2, r2, o, w); c3 = dp(c3, r3, o, w)
                c4 = dp(c4, r4, o, w); c5 = dp(c5, r5, o, w); c6 = dp(c6, r6, o, w); c7 = dp(c7, r7, o, w)
                bp += 64
                o &+= 4
            }
        }
        func v(_ x: __m512i) -> SIMD16<Int32> { unsafeBitCast(x, to: SIMD16<Int32>.self) }
        func four(_ x0: __m512i, _ x1: __m512i, _ x2: __m512i, _ x3: __m512i) -> Int32Tile4x16 {
            Int32Tile4x16(r0a: v(x0).lowHalf, r0b: v(x0).highHalf, r1a: v(x1).lowHalf, r1b: v(x1).highHalf,
                          r2a: v(x2).lowHalf, r2b: v(x2).highHalf, r3a: v(x3).lowHalf, r3b: v(x3).highHalf)
        }
        return Tile(low: four(c0, c1, c2, c3), high: four(c4, c5, c6, c7))
    }
}
#endif
