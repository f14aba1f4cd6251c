// x86 (this module and NibbleKernelsAVX512 compile this file, each with its own Int8IndirectMicrokernel): int8
// convolution without im2col. Per run the input is quantized once into a zero-point-bordered HWC image — int16 for
// AVX2's vpmaddwd, bytes for AVX-512's vpdpbusd — and each block of 16 output channels' weights is reordered into a
// panel [segment][step][16 channels × a step's values] (about K · 16 bytes). A segment is a run of the reduction that
// lies contiguous in the image: a kernel row's kW taps × C channels when dilationW is 1 (so a 7×7 conv on 3 channels
// takes 7 segments of 21 values, not 49 taps of 3 padded to 4), else one tap's C channels; a step is the values one
// instruction takes per pixel (a pair, or a quad), and a segment's last step reads up to 3 values past it, against
// 0 weights. The microkernel reads its output pixels' steps in place (IndirectImage offsets) and sums Σ q·w exactly
// in int32; the epilogue adds −zp·Σw and dequantizes with channels in lanes (PixelTileColumns). The integer sums and
// float operations are Int8ConvTiled's, so both give the same bits (tests compare both to the reference).
#if arch(x86_64)
public enum Int8ConvIndirect {
    /// The module's tile: its image `Value`, `valuesPerStep` (a power of two), tile size and `panelOffset`.
    typealias Kernel = Int8IndirectMicrokernel

    /// Groups of 1 with at least 16 output pixels (fewer do not repay the per-run weight reorder), at least
    /// `Kernel.minimumPixelsPerChannel` output pixels per output channel, and stride-1 convs only where
    /// `Kernel.takesStrideOne`.
    public static func applies(_ g: ConvGeometry) -> Bool {
        let strideOne = g.strideH == 1 && g.strideW == 1
        return g.groups == 1 && g.outPixels >= 16 && g.outPixels >= Kernel.minimumPixelsPerChannel &* g.outC
            && (Kernel.takesStrideOne || !strideOne)
    }

    @inline(__always) static func roundUp64(_ x: Int) -> Int { (x &+ 63) & ~63 }

    /// Segments of the reduction contiguous in the image (see the file comment): how many, and values in each.
    @inline(__always) static func segments(_ g: ConvGeometry) -> (count: Int, length: Int) {
        g.dilationW == 1 ? (g.kernelH, g.kernelW &* g.inC) : (g.kernelH &* g.kernelW, g.inC)
    }
    /// Microkernel steps per segment.
    @inline(__always) static func steps(_ g: ConvGeometry) -> Int {
        (segments(g).length &+ Kernel.valuesPerStep &- 1) / Kernel.valuesPerStep
    }

    /// Byte offsets of the scratch parts: segment offsets (one per tap while computed), row sums, the block's panel,
    /// a tile's columns, 8 quantized input rows, then the image (and 64 bytes a segment's last step may read past).
    @inline(__always)
    static func layout(_ g: ConvGeometry) -> (rowSums: Int, panel: Int, columns: Int, row: Int, image: Int, total: Int) {
        let rowSums = roundUp64(g.kernelH &* g.kernelW &* 8)
        let panel = rowSums &+ roundUp64(g.outC &* 4)
        let columns = panel &+ roundUp64(segments(g).count &* steps(g) &* 16 &* Kernel.valuesPerStep)
        let row = columns &+ 256
        let image = row &+ roundUp64(8 &* g.inW)
        let imageBytes = IndirectImage.height(g) &* IndirectImage.width(g) &* g.inC &* MemoryLayout<Kernel.Value>.size
        return (rowSums, panel, columns, row, image, image &+ roundUp64(imageBytes &+ 64))
    }

    public static func scratchByteCount(_ g: ConvGeometry) -> Int { layout(g).total &+ 64 }

    /// Int8Conv.run's contract for groups 1 (`applies`): y[o] = clamp(Σ (q − zp)·w[o] · inputScale · weightScales[o] +
    /// bias[o]) for the output pixels in `pixels`.
    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, inputScale: Float, inputZeroPoint: Int32,
                           weights: UnsafePointer<Int8>, weightScales: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutableRawPointer, outputMin: Float, outputMax: Float,
                           pixels: Range<Int>, quantizedInput: UnsafePointer<UInt8>?, rowSums precomputed: UnsafePointer<Int32>? = nil) {
        if pixels.isEmpty { return }
        let lay = layout(g)
        let count = segments(g).count, ns = steps(g), pixelBytes = g.inC &* MemoryLayout<Kernel.Value>.size
        let offsets = scratch.assumingMemoryBound(to: Int.self)
        IndirectImage.tapOffsets(g, pixelBytes: pixelBytes, into: offsets)
        if g.dilationW == 1 {
            for kh in 0..<g.kernelH { offsets[kh] = offsets[kh &* g.kernelW] }   // each row's first tap
        }
        let counted = (scratch + lay.rowSums).assumingMemoryBound(to: Int32.self)
        if precomputed == nil { Int8Quantization.rowSums(weights, rows: g.outC, length: g.reductionLength, into: counted) }
        let rowSums = precomputed ?? UnsafePointer(counted)
        quantizeImage(g, input: input, quantized: quantizedInput, scale: inputScale, zeroPoint: inputZeroPoint, pixels: pixels,
                      row: (scratch + lay.row).assumingMemoryBound(to: UInt8.self),
                      into: (scratch + lay.image).assumingMemoryBound(to: Kernel.Value.self))
        let image = UnsafeRawPointer(scratch + lay.image), panel = UnsafeRawPointer(scratch + lay.panel)
        let columns = (scratch + lay.columns).assumingMemoryBound(to: Int32.self)
        let n = g.outPixels, nc = Kernel.tileColumns, nr = Kernel.tileRows
        var o0 = 0
        while o0 < g.outC {
            let live = Swift.min(nc, g.outC &- o0)
            packWeightBlock(g, weights: weights, first: o0, count: live, into: (scratch + lay.panel).assumingMemoryBound(to: Int8.self))
            // Per-channel lanes: scale = inputScale · weightScale (Int8ConvTiled's product), bias, −zp·Σw.
            var s = (SIMD8<Float>(), SIMD8<Float>()), b = (SIMD8<Float>(), SIMD8<Float>())
            var c = (SIMD8<Int32>(), SIMD8<Int32>())
            for j in 0..<live {
                let o = o0 &+ j, sj = inputScale * weightScales[o], bj: Float = bias?[o] ?? 0, cj = 0 &- inputZeroPoint &* rowSums[o]
                if j < 8 { s.0[j] = sj; b.0[j] = bj; c.0[j] = cj } else { s.1[j &- 8] = sj; b.1[j &- 8] = bj; c.1[j &- 8] = cj }
            }
            let correction = Int32Tile4x16(r0a: c.0, r0b: c.1, r1a: c.0, r1b: c.1, r2a: c.0, r2b: c.1, r3a: c.0, r3b: c.1)
            var p0 = pixels.lowerBound
            while p0 < pixels.upperBound {
                let liveP = Swift.min(nr, pixels.upperBound &- p0)
                // Rows past the range repeat its last pixel (computed, never stored).
                let t = Kernel.tile(image: image, pixel: { r in IndirectImage.pixel(g, p0 &+ Swift.min(r, liveP &- 1)) &* pixelBytes },
                                    offsets: offsets, segments: count, stepsPerSegment: ns, panel: panel)
                var r = 0
                while r < liveP {
                    PixelTileColumns.storeOutput(t.pixels(r).adding(correction), scale: s, bias: b, outputMin: outputMin,
                                                 outputMax: outputMax, columns: columns, channels: live,
                                                 pixels: Swift.min(4, liveP &- r), into: output + (o0 &* n &+ p0 &+ r), stride: n)
                    r &+= 4
                }
                p0 &+= nr
            }
            o0 &+= nc
        }
    }

    /// image[(r·wp + s)·C + c] = q(c, r − padTop, s − padLeft), the zero point (as Int8ConvTiled pads, clamped to a
    /// byte) outside the input, for the padded rows the output pixels in `pixels` read (a session's threads each take a
    /// range) and the row after them (a segment's last step may read up to 3 values into it, against 0 weights); past
    /// the image's last row, 64 zero bytes.
    static func quantizeImage(_ g: ConvGeometry, input: UnsafePointer<Float>, quantized: UnsafePointer<UInt8>?, scale: Float,
                              zeroPoint: Int32, pixels: Range<Int>, row: UnsafeMutablePointer<UInt8>,
                              into image: UnsafeMutablePointer<Kernel.Value>) {
        let hp = IndirectImage.height(g), wp = IndirectImage.width(g), cp = g.inC
        let r0 = pixels.lowerBound / g.outW &* g.strideH
        let r1 = Swift.min(hp, (pixels.upperBound &- 1) / g.outW &* g.strideH &+ (g.kernelH &- 1) &* g.dilationH &+ 2)
        (image + r0 &* wp &* cp).update(repeating: Kernel.Value(Swift.max(0, Swift.min(255, zeroPoint))), count: (r1 &- r0) &* wp &* cp)
        if r1 == hp { (image + hp &* wp &* cp).update(repeating: 0, count: 64 / MemoryLayout<Kernel.Value>.size) }
        IndirectImage.storeQuantized(g, input: input, quantized: quantized, scale: scale, zeroPoint: zeroPoint, rows: r0..<r1,
                                     pixelValues: cp, subtract: Kernel.Value(0), rows8: row, into: image)
    }

    /// Output channels first ..< first + count (≤ 16; the rest 0) as panel[16·valuesPerStep·(s·steps + e / valuesPerStep)
    /// + Kernel.panelOffset(j) + e mod valuesPerStep] = w[first + j] at value e of segment s (OIHW: kernel row s, tap
    /// e / C, channel e mod C; or tap s, channel e), 0 past the segment. The panel is written in order (reading OIHW
    /// in order and scattering into the panel instead ran at ~8 cycles a weight on Zen 4).
    static func packWeightBlock(_ g: ConvGeometry, weights: UnsafePointer<Int8>, first: Int, count: Int,
                                into panel: UnsafeMutablePointer<Int8>) {
        let taps = g.kernelH &* g.kernelW, ns = steps(g), k = g.reductionLength, segs = segments(g).count
        let shift = Kernel.valuesPerStep.trailingZeroBitCount, stepBytes = 16 &<< shift, inStep = Kernel.valuesPerStep &- 1
        let tapsPerSegment = g.dilationW == 1 ? g.kernelW : 1
        panel.update(repeating: 0, count: segs &* ns &* stepBytes)
        for j in 0..<count {
            let src = weights + (first &+ j) &* k
            for sg in 0..<segs {
                let d = panel + (sg &* ns &* stepBytes &+ Kernel.panelOffset(channel: j))
                var e = 0
                for t in 0..<tapsPerSegment {
                    let tap = sg &* tapsPerSegment &+ t   // kh·kW + kw when rows are merged
                    for c in 0..<g.inC {
                        d[(e &>> shift) &* stepBytes &+ (e & inStep)] = src[c &* taps &+ tap]
                        e &+= 1
                    }
                }
            }
        }
    }
}
#endif
