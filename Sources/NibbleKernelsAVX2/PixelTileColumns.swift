// AVX2 (this module and NibbleKernelsAVX512 compile this file): the output side of the indirect convolutions
// (LowBitByteConv, Int8ConvIndirect), whose tiles hold 4 output pixels × 16 output channels with channels in lanes.
// NCHW wants each channel's pixels together, so a tile is transposed 4 × 8 at a time and stored per channel.
#if arch(x86_64)
import _Builtin_intrinsics.intel

enum PixelTileColumns {
    /// Rows 0…3 of one 8-channel half of a tile (lane j = channel j) as 8 channels' 4-pixel columns: column j goes
    /// to d[4j …< 4j + 4] (a 4 × 8 transpose with unpacks; lanes are 32-bit, ints or floats alike).
    @inline(__always)
    static func transpose(_ r0: SIMD8<Int32>, _ r1: SIMD8<Int32>, _ r2: SIMD8<Int32>, _ r3: SIMD8<Int32>,
                          to d: UnsafeMutablePointer<Int32>) {
        func m(_ v: SIMD8<Int32>) -> __m256i { unsafeBitCast(v, to: __m256i.self) }
        func v(_ x: __m256i) -> SIMD8<Int32> { unsafeBitCast(x, to: SIMD8<Int32>.self) }
        // t0 = [c0: r0 r1, c1: r0 r1 | c4, c5], t1 the same for r2 r3, t2/t3 channels 2, 3 | 6, 7.
        let t0 = _mm256_unpacklo_epi32(m(r0), m(r1)), t1 = _mm256_unpacklo_epi32(m(r2), m(r3))
        let t2 = _mm256_unpackhi_epi32(m(r0), m(r1)), t3 = _mm256_unpackhi_epi32(m(r2), m(r3))
        let c04 = v(_mm256_unpacklo_epi64(t0, t1)), c15 = v(_mm256_unpackhi_epi64(t0, t1))
        let c26 = v(_mm256_unpacklo_epi64(t2, t3)), c37 = v(_mm256_unpackhi_epi64(t2, t3))
        let p = UnsafeMutableRawPointer(d)
        p.storeBytes(of: c04.lowHalf, as: SIMD4<Int32>.self); p.storeBytes(of: c04.highHalf, toByteOffset: 64, as: SIMD4<Int32>.self)
        p.storeBytes(of: c15.lowHalf, toByteOffset: 16, as: SIMD4<Int32>.self); p.storeBytes(of: c15.highHalf, toByteOffset: 80, as: SIMD4<Int32>.self)
        p.storeBytes(of: c26.lowHalf, toByteOffset: 32, as: SIMD4<Int32>.self); p.storeBytes(of: c26.highHalf, toByteOffset: 96, as: SIMD4<Int32>.self)
        p.storeBytes(of: c37.lowHalf, toByteOffset: 48, as: SIMD4<Int32>.self); p.storeBytes(of: c37.highHalf, toByteOffset: 112, as: SIMD4<Int32>.self)
    }

    /// d[j·stride + r] = columns[4j + r] for channels j and pixels r of one tile.
    @inline(__always)
    static func store(_ columns: UnsafePointer<Int32>, channels: Int, pixels: Int, into d: UnsafeMutablePointer<Int32>, stride: Int) {
        if pixels == 4 {
            for j in 0..<channels {
                UnsafeMutableRawPointer(d + j &* stride).storeBytes(of: UnsafeRawPointer(columns + 4 &* j).loadUnaligned(as: SIMD4<Int32>.self),
                                                                   as: SIMD4<Int32>.self)
            }
        } else {
            for j in 0..<channels { for r in 0..<pixels { d[j &* stride &+ r] = columns[4 &* j &+ r] } }
        }
    }

    /// y = clamp(Float(acc)·scale + bias) of a tile into NCHW (`scale`, `bias`: channels 0…7 and 8…15 as lanes) —
    /// Int8Quantization.dequantize's IEEE operations per lane — through `columns` (64 floats of scratch).
    @inline(__always)
    static func storeOutput(_ t: Int32Tile4x16, scale: (SIMD8<Float>, SIMD8<Float>), bias: (SIMD8<Float>, SIMD8<Float>),
                            outputMin: Float, outputMax: Float, columns: UnsafeMutablePointer<Int32>, channels: Int,
                            pixels: Int, into output: UnsafeMutablePointer<Float>, stride: Int) {
        let lo = SIMD8<Float>(repeating: outputMin), hi = SIMD8<Float>(repeating: outputMax)
        @inline(__always) func y(_ acc: SIMD8<Int32>, _ s: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Int32> {
            unsafeBitCast(clampLanes(floatLanes(acc) * s + b, lo: lo, hi: hi), to: SIMD8<Int32>.self)
        }
        transpose(y(t.r0a, scale.0, bias.0), y(t.r1a, scale.0, bias.0), y(t.r2a, scale.0, bias.0), y(t.r3a, scale.0, bias.0),
                  to: columns)
        transpose(y(t.r0b, scale.1, bias.1), y(t.r1b, scale.1, bias.1), y(t.r2b, scale.1, bias.1), y(t.r3b, scale.1, bias.1),
                  to: columns + 32)
        output.withMemoryRebound(to: Int32.self, capacity: (channels &- 1) &* stride &+ pixels) {
            store(columns, channels: channels, pixels: pixels, into: $0, stride: stride)
        }
    }
}
#endif
