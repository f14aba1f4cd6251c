// AVX2 (this module and NibbleKernelsAVX512 compile this file): multi-bit bit-serial convolutions (k-bit weights ×
// m-bit unsigned activations) computed on bytes instead of bit-planes. The bit-serial tile costs k·m and-popcount
// passes (four for w2a2, sixteen for w4a4); widened to bytes, every width takes one vpmaddubsw per 32 multiply-adds
// (LowBitMicrokernel). Same contract and results as BinaryConvTiled.run: exact int32 sums, the shared epilogue.
//
// Per run: the packed activation planes are expanded once into a zero-bordered HWC byte image (padded taps then
// read 0, which is what they contribute), channels padded to a multiple of 4 with zeros. Output channels go in
// blocks of 16: the block's weight planes are expanded into a panel [tap][channel quad][16 channels × 4 bytes]
// (taps · ⌈C/4⌉ · 64 bytes: 18 KB for L3, so it stays in L1 while every pixel tile of the block reads it), and each
// tile of 4 output pixels reads its activation quads in place through per-pixel base pointers plus tap offsets.
#if arch(x86_64)
import _Builtin_intrinsics.intel

public enum LowBitByteConv {
    /// Unsigned activations with at least `BinaryMicrokernel.bytePlanePairs` plane pairs and at least 16 output pixels
    /// run here. Below that the module's bit-serial tile does as well; with few pixels the per-run weight expansion
    /// (a byte per weight) outweighs the multiply-adds it saves (G1, one pixel: 3× slower than bit-serial).
    public static func applies(_ g: ConvGeometry, actBits: Int, actEncoding: Int, weightBits: Int) -> Bool {
        actEncoding == 1 && actBits &* weightBits >= BinaryMicrokernel.bytePlanePairs && actBits <= 4 && weightBits <= 4
            && g.outPixels >= 16
    }

    @inline(__always) static func roundUp64(_ x: Int) -> Int { (x &+ 63) & ~63 }

    /// Input channels padded to whole quads.
    @inline(__always) static func paddedChannels(_ g: ConvGeometry) -> Int { (g.inC &+ 3) & ~3 }
    /// Byte offsets of the scratch parts: tap offsets, one tap's expanded weight rows (16 channels), the block's panel,
    /// a tile's columns (64 ints), then the padded image (whose last pixel's 64-byte word stores may run 64 bytes past it).
    @inline(__always)
    static func layout(_ g: ConvGeometry) -> (row: Int, panel: Int, columns: Int, image: Int, total: Int) {
        let taps = g.kernelH &* g.kernelW, words = (g.inC &+ 63) >> 6
        let row = roundUp64(taps &* 8)
        let panel = row &+ LowBitMicrokernel.tileColumns &* words &* 64
        let columns = panel &+ roundUp64(taps &* (paddedChannels(g) >> 2) &* 64)
        let image = columns &+ 64 &* 4
        let imageBytes = IndirectImage.height(g) &* IndirectImage.width(g) &* paddedChannels(g)
        return (row, panel, columns, image, image &+ roundUp64(imageBytes &+ 64))
    }

    public static func scratchByteCount(_ g: ConvGeometry) -> Int { layout(g).total &+ 64 }

    /// Encodings are BitPlaneEncoding raw values (0 bipolar, 1 unsigned, 2 two's complement); `applies` holds.
    public static func run(_ g: ConvGeometry, activations: UnsafePointer<UInt64>, actBits: Int,
                           weights: UnsafePointer<UInt64>, weightBits: Int, weightEncoding: Int,
                           scales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           accumulators: UnsafeMutablePointer<Int32>?, output: UnsafeMutablePointer<Float>?,
                           scratch: UnsafeMutableRawPointer, outputMin: Float, outputMax: Float,
                           channels: Range<Int>, pixels: Range<Int>) {
        if channels.isEmpty || pixels.isEmpty { return }
        let lay = layout(g)
        let taps = g.kernelH &* g.kernelW, cp = paddedChannels(g), quadsPerTap = cp >> 2
        let tapOffsets = scratch.assumingMemoryBound(to: Int.self)
        IndirectImage.tapOffsets(g, pixelBytes: cp, into: tapOffsets)
        let panel = UnsafeRawPointer(scratch + lay.panel)
        let image = UnsafeRawPointer(scratch + lay.image)
        expandActivations(g, activations: activations, bits: actBits, into: scratch + lay.image)
        let maxAbsWeight = weightEncoding == 1 ? (1 << weightBits) &- 1 : weightEncoding == 0 ? 1 : 1 << (weightBits &- 1)
        let widen = LowBitMicrokernel.quadsPerWiden(maxActivation: (1 << actBits) &- 1, maxAbsWeight: maxAbsWeight)
        let ints = (scratch + lay.columns).assumingMemoryBound(to: Int32.self)
        let n = g.outPixels, nc = LowBitMicrokernel.tileColumns
        var o0 = channels.lowerBound
        while o0 < channels.upperBound {
            let liveC = Swift.min(nc, channels.upperBound &- o0)
            expandWeightBlock(g, weights: weights, bits: weightBits, encoding: weightEncoding, first: o0, count: liveC,
                              rows: scratch + lay.row, into: scratch + lay.panel)
            // The block's scales and biases as lane vectors (lanes past the block read 0: those columns are dropped).
            var s = (SIMD8<Float>(), SIMD8<Float>()), b = (SIMD8<Float>(), SIMD8<Float>())
            for j in 0..<liveC {
                if j < 8 { s.0[j] = scales[o0 &+ j]; b.0[j] = bias?[o0 &+ j] ?? 0 } else { s.1[j &- 8] = scales[o0 &+ j]; b.1[j &- 8] = bias?[o0 &+ j] ?? 0 }
            }
            var p0 = pixels.lowerBound
            while p0 < pixels.upperBound {
                let liveP = Swift.min(LowBitMicrokernel.tileRows, pixels.upperBound &- p0)
                // Rows past the range repeat its last pixel (computed, never stored).
                @inline(__always) func base(_ r: Int) -> UnsafeRawPointer { image + IndirectImage.pixel(g, p0 &+ Swift.min(r, liveP &- 1)) &* cp }
                let t = LowBitMicrokernel.tile(base(0), base(1), base(2), base(3), tapOffsets: tapOffsets, taps: taps,
                                               quadsPerTap: quadsPerTap, panel: panel, quadsPerWiden: widen)
                if let accumulators {
                    PixelTileColumns.transpose(t.r0a, t.r1a, t.r2a, t.r3a, to: ints)
                    PixelTileColumns.transpose(t.r0b, t.r1b, t.r2b, t.r3b, to: ints + 32)
                    PixelTileColumns.store(ints, channels: liveC, pixels: liveP, into: accumulators + (o0 &* n &+ p0), stride: n)
                }
                if let output {
                    PixelTileColumns.storeOutput(t, scale: s, bias: b, outputMin: outputMin, outputMax: outputMax, columns: ints,
                                                 channels: liveC, pixels: liveP, into: output + (o0 &* n &+ p0), stride: n)
                }
                p0 &+= LowBitMicrokernel.tileRows
            }
            o0 &+= nc
        }
    }

    /// The padded HWC byte image: image[(r·wp + s)·cp + c] = activation (c, r − padTop, s − padLeft), 0 outside the
    /// input and for c ≥ inC. Pixels are written in order, 64 channels per word, so a word's bytes past cp land in the
    /// next pixel before it is written (the last one in the layout's slack).
    static func expandActivations(_ g: ConvGeometry, activations: UnsafePointer<UInt64>, bits: Int, into image: UnsafeMutableRawPointer) {
        let hp = IndirectImage.height(g), wp = IndirectImage.width(g), cp = paddedChannels(g)
        let words = (g.inC &+ 63) >> 6, plane = g.inH &* g.inW &* words
        let coefficients = SIMD4<Int8>(1, 2, 4, 8)
        var d = image
        for r in 0..<hp {
            let ih = r &- g.padTop
            for s in 0..<wp {
                let iw = s &- g.padLeft
                if ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW {
                    let src = activations + (ih &* g.inW &+ iw) &* words
                    for u in 0..<words {
                        LowBitMicrokernel.expandWord(src + u, planeStride: plane, planes: bits, coefficients: coefficients,
                                                     offset: 0, to: d + 64 &* u)
                    }
                } else {
                    d.initializeMemory(as: UInt8.self, repeating: 0, count: cp)
                }
                d += cp
            }
        }
    }

    /// Output channels first ..< first + count (≤ 16; the rest of the 16 are 0) as panel[(t·quads + q)·64 + 4j + u] =
    /// w[first + j][channel 4q + u][tap t], channels past inC 0 (their activations are 0 too, so a bipolar −1 there is
    /// harmless). Per tap, the 16 channels' rows are expanded side by side into `rows` (64 bytes per weight word), then
    /// turned into the panel's channel-in-lanes order 8 quads × 8 channels at a time by an in-register transpose: a
    /// 4-byte scatter per quad was a fifth of the L4 w2a2 run.
    static func expandWeightBlock(_ g: ConvGeometry, weights: UnsafePointer<UInt64>, bits: Int, encoding: Int, first: Int,
                                  count: Int, rows: UnsafeMutableRawPointer, into panel: UnsafeMutableRawPointer) {
        let taps = g.kernelH &* g.kernelW, words = (g.inC &+ 63) >> 6, quads = paddedChannels(g) >> 2
        let plane = g.outC &* taps &* words, rowBytes = 64 &* words
        var coefficients = SIMD4<Int8>(1, 2, 4, 8)
        if encoding == 0 { coefficients[0] = 2 }   // bipolar: 2b − 1
        if encoding == 2 { coefficients[bits &- 1] = Int8(truncatingIfNeeded: -(1 << (bits &- 1))) }
        let offset: Int8 = encoding == 0 ? -1 : 0
        for j in count..<LowBitMicrokernel.tileColumns {
            (rows + j &* rowBytes).initializeMemory(as: UInt8.self, repeating: 0, count: rowBytes)
        }
        for t in 0..<taps {
            for j in 0..<count {
                let src = weights + ((first &+ j) &* taps &+ t) &* words
                for u in 0..<words {
                    LowBitMicrokernel.expandWord(src + u, planeStride: plane, planes: bits, coefficients: coefficients,
                                                 offset: offset, to: rows + (j &* rowBytes &+ 64 &* u))
                }
            }
            let dst = panel + t &* quads &* 64
            var q = 0
            while q < quads {
                let live = Swift.min(8, quads &- q)
                transposeQuads(UnsafeRawPointer(rows + 4 &* q), rowBytes: rowBytes, live: live, to: dst + 64 &* q)
                transposeQuads(UnsafeRawPointer(rows + (8 &* rowBytes &+ 4 &* q)), rowBytes: rowBytes, live: live, to: dst + (64 &* q &+ 32))
                q &+= 8
            }
        }
    }

    /// Eight rows of 8 quads (row r at src + r·rowBytes) stored as `live` columns: d[64·i + 4r …] = row r's quad i.
    @inline(__always)
    static func transposeQuads(_ src: UnsafeRawPointer, rowBytes: Int, live: Int, to d: UnsafeMutableRawPointer) {
        @inline(__always) func row(_ r: Int) -> __m256i { src.loadUnaligned(fromByteOffset: r &* rowBytes, as: __m256i.self) }
        // t = quads 0, 1 | 4, 5 (lo) or 2, 3 | 6, 7 (hi) of a row pair; u = quad i of four rows | quad i + 4.
        let t0 = _mm256_unpacklo_epi32(row(0), row(1)), t1 = _mm256_unpackhi_epi32(row(0), row(1))
        let t2 = _mm256_unpacklo_epi32(row(2), row(3)), t3 = _mm256_unpackhi_epi32(row(2), row(3))
        let t4 = _mm256_unpacklo_epi32(row(4), row(5)), t5 = _mm256_unpackhi_epi32(row(4), row(5))
        let t6 = _mm256_unpacklo_epi32(row(6), row(7)), t7 = _mm256_unpackhi_epi32(row(6), row(7))
        let u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2)
        let u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3)
        let u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6)
        let u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7)
        // Quad i of all eight rows: the low halves (i < 4) or the high halves (i ≥ 4) of u_i and u_(i+4).
        @inline(__always) func lows(_ a: __m256i, _ b: __m256i) -> __m256i {
            let x = unsafeBitCast(a, to: SIMD8<Int32>.self), y = unsafeBitCast(b, to: SIMD8<Int32>.self)
            return unsafeBitCast(SIMD8(lowHalf: x.lowHalf, highHalf: y.lowHalf), to: __m256i.self)
        }
        @inline(__always) func highs(_ a: __m256i, _ b: __m256i) -> __m256i {
            let x = unsafeBitCast(a, to: SIMD8<Int32>.self), y = unsafeBitCast(b, to: SIMD8<Int32>.self)
            return unsafeBitCast(SIMD8(lowHalf: x.highHalf, highHalf: y.highHalf), to: __m256i.self)
        }
        let c0 = lows(u0, u4), c1 = lows(u1, u5), c2 = lows(u2, u6), c3 = lows(u3, u7)
        let c4 = highs(u0, u4), c5 = highs(u1, u5), c6 = highs(u2, u6), c7 = highs(u3, u7)
        d.storeBytes(of: c0, as: __m256i.self)   // live ≥ 1
        if live > 1 { d.storeBytes(of: c1, toByteOffset: 64, as: __m256i.self) }
        if live > 2 { d.storeBytes(of: c2, toByteOffset: 128, as: __m256i.self) }
        if live > 3 { d.storeBytes(of: c3, toByteOffset: 192, as: __m256i.self) }
        if live > 4 { d.storeBytes(of: c4, toByteOffset: 256, as: __m256i.self) }
        if live > 5 { d.storeBytes(of: c5, toByteOffset: 320, as: __m256i.self) }
        if live > 6 { d.storeBytes(of: c6, toByteOffset: 384, as: __m256i.self) }
        if live > 7 { d.storeBytes(of: c7, toByteOffset: 448, as: __m256i.self) }
    }
}
#endif
