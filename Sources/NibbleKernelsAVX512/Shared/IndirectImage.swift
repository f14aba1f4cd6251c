// Shared source (symlinked into every kernel module): the padded HWC image the indirect convolutions
// (LowBitByteConv, Int8ConvIndirect on x86; Int8DepthwiseDirect everywhere) read in place. Padded pixel (r, s) is
// input pixel (r − padTop, s − padLeft), border pixels hold the value a padded tap contributes nothing with; output
// pixel (oh, ow) at tap (kh, kw) reads padded pixel (oh·strideH + kh·dilationH, ow·strideW + kw·dilationW), so a tile
// row is one base offset plus a per-tap offset (XNNPACK's indirection, with offsets instead of a pointer buffer).
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

enum IndirectImage {
    /// Rows and columns of the padded image: every tap of every output pixel reads inside it.
    @inline(__always) static func height(_ g: ConvGeometry) -> Int { (g.outH &- 1) &* g.strideH &+ (g.kernelH &- 1) &* g.dilationH &+ 1 }
    @inline(__always) static func width(_ g: ConvGeometry) -> Int { (g.outW &- 1) &* g.strideW &+ (g.kernelW &- 1) &* g.dilationW &+ 1 }

    /// Padded-pixel index of output pixel p's first tap.
    @inline(__always) static func pixel(_ g: ConvGeometry, _ p: Int) -> Int {
        let oh = p / g.outW
        return oh &* g.strideH &* width(g) &+ (p &- oh &* g.outW) &* g.strideW
    }

    /// offsets[kh·kW + kw] = padded-pixel distance of tap (kh, kw) × `pixelBytes`.
    @inline(__always) static func tapOffsets(_ g: ConvGeometry, pixelBytes: Int, into offsets: UnsafeMutablePointer<Int>) {
        let wp = width(g)
        for kh in 0..<g.kernelH {
            for kw in 0..<g.kernelW { offsets[kh &* g.kernelW &+ kw] = (kh &* g.dilationH &* wp &+ kw &* g.dilationW) &* pixelBytes }
        }
    }

    /// image[(r·wp + s)·pixelValues + c] = q(c, r − padTop, s − padLeft) − subtract for the input pixels in padded rows
    /// `rows` (border pixels keep what the caller wrote there). q is `quantized` (NCHW bytes) when given, else the
    /// NCHW float input quantized one row at a time through `rows8` (8 · inW bytes). Whole groups of 8 channels move
    /// 8 pixels at a time on x86 (an SSE2 8 × 8 byte transpose, then one 16-byte store per pixel): storing one value
    /// per element had been ~40 % of a MobileNet block's int8 run.
    /// `Value` is Int16 (the widened images) or UInt8 (the byte images of the VNNI kernels, with `subtract` 0).
    static func storeQuantized<Value: FixedWidthInteger>(_ g: ConvGeometry, input: UnsafePointer<Float>,
                                                         quantized: UnsafePointer<UInt8>?, scale: Float, zeroPoint: Int32,
                                                         rows: Range<Int>, pixelValues: Int, subtract: Value,
                                                         rows8: UnsafeMutablePointer<UInt8>, into image: UnsafeMutablePointer<Value>) {
        let wp = width(g)
        // Input columns iw whose padded column iw + padLeft lies in 0..<wp, and input rows whose padded row is in `rows`.
        let iwLo = Swift.max(0, 0 &- g.padLeft), iwHi = Swift.min(g.inW, wp &- g.padLeft)
        let ihLo = Swift.max(0, rows.lowerBound &- g.padTop), ihHi = Swift.min(g.inH, rows.upperBound &- g.padTop)
        if iwLo >= iwHi || ihLo >= ihHi { return }
        var c0 = 0
        while c0 < g.inC {
            let count = Swift.min(8, g.inC &- c0)
            for ih in ihLo..<ihHi {
                // The bytes of channels c0 ..< c0 + count in input row ih, 8 · inW apart or straight from `quantized`.
                let at = (c0 &* g.inH &+ ih) &* g.inW
                let q: UnsafePointer<UInt8>, channelStride: Int
                if let quantized {
                    q = quantized + at; channelStride = g.inH &* g.inW
                } else {
                    for j in 0..<count {
                        Int8Quantization.quantize(input + (at &+ j &* g.inH &* g.inW), count: g.inW, scale: scale, zeroPoint: zeroPoint,
                                                  into: rows8 + j &* g.inW)
                    }
                    q = UnsafePointer(rows8); channelStride = g.inW
                }
                let d = image + (((ih &+ g.padTop) &* wp &+ g.padLeft) &* pixelValues &+ c0)
                var iw = iwLo
                #if arch(x86_64)
                // Fewer than 8 channels in all (an RGB stem): each pixel's store also writes 8 − count values into the
                // next pixels, which their own stores (or the scalar loop) then overwrite, so the last store must leave
                // at least ⌈(8 − count) / count⌉ = ⌊7 / count⌋ pixels after it. (With more channels the extra values
                // would land on the previous group's, already written: those take the scalar loop.)
                let spill = count == 8 ? 0 : 7 / count
                if count == 8 || count == pixelValues {
                    while iw &+ 8 &+ spill <= iwHi {
                        transposeStore(q + iw, channelStride: channelStride, channels: count,
                                       subtract: Int16(truncatingIfNeeded: subtract),
                                       wide: Value.bitWidth == 16, to: UnsafeMutableRawPointer(d + iw &* pixelValues),
                                       pixelBytes: pixelValues &* MemoryLayout<Value>.stride)
                        iw &+= 8
                    }
                }
                #endif
                while iw < iwHi {
                    for j in 0..<count { d[iw &* pixelValues &+ j] = Value(q[j &* channelStride &+ iw]) &- subtract }
                    iw &+= 1
                }
            }
            c0 &+= 8
        }
    }

    #if arch(x86_64)
    /// 8 channels × 8 pixels of bytes (channel j's at q + j·channelStride; channels ≥ `channels` repeat the last real
    /// one) as 8 pixels of 8 channels, pixel i at d + i·pixelBytes, in pixel order: int16 − subtract when `wide`, else
    /// the bytes. Unpacks of bytes, words and dwords turn rows into columns, two pixels per register.
    @inline(__always)
    static func transposeStore(_ q: UnsafePointer<UInt8>, channelStride: Int, channels: Int, subtract: Int16, wide: Bool,
                               to out: UnsafeMutableRawPointer, pixelBytes step: Int) {
        @inline(__always) func row(_ j: Int) -> __m128i {
            let c = Swift.min(j, channels &- 1)
            return _mm_cvtsi64_si128(Int64(bitPattern: UnsafeRawPointer(q + c &* channelStride).loadUnaligned(as: UInt64.self)))
        }
        let a0 = _mm_unpacklo_epi8(row(0), row(1)), a1 = _mm_unpacklo_epi8(row(2), row(3))
        let a2 = _mm_unpacklo_epi8(row(4), row(5)), a3 = _mm_unpacklo_epi8(row(6), row(7))
        let b0 = _mm_unpacklo_epi16(a0, a1), b1 = _mm_unpackhi_epi16(a0, a1)   // pixels 0–3, 4–7 of channels 0–3
        let b2 = _mm_unpacklo_epi16(a2, a3), b3 = _mm_unpackhi_epi16(a2, a3)   // the same for channels 4–7
        let zero = _mm_setzero_si128(), sub = _mm_set1_epi16(subtract)
        @inline(__always) func store(_ pair: __m128i, _ i: Int) {   // pixels i and i + 1
            if wide {
                out.storeBytes(of: _mm_sub_epi16(_mm_unpacklo_epi8(pair, zero), sub), toByteOffset: i &* step, as: __m128i.self)
                out.storeBytes(of: _mm_sub_epi16(_mm_unpackhi_epi8(pair, zero), sub), toByteOffset: (i &+ 1) &* step, as: __m128i.self)
            } else {
                let v = unsafeBitCast(pair, to: SIMD2<UInt64>.self)
                out.storeBytes(of: v[0], toByteOffset: i &* step, as: UInt64.self)
                out.storeBytes(of: v[1], toByteOffset: (i &+ 1) &* step, as: UInt64.self)
            }
        }
        store(_mm_unpacklo_epi32(b0, b2), 0); store(_mm_unpackhi_epi32(b0, b2), 2)
        store(_mm_unpacklo_epi32(b1, b3), 4); store(_mm_unpackhi_epi32(b1, b3), 6)
    }
    #endif
}
