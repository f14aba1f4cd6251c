// Shared source (symlinked into every kernel module): int8 depthwise convolution (groups = inC = outC), computed
// directly with channels in vector lanes (XNNPACK's dwconv layout). Int8ConvTiled runs it as one GEMM per channel with
// K = kH·kW, each paying its own im2col and weight panel, so a MobileNet block's depthwise conv cost more than its two
// 1x1 convs together. Here the input is copied once into a bordered HWC image of q − zp as int16 (IndirectImage
// geometry; a border pixel is 0, which is what a padded tap adds to the reference's Σ (q − zp)·w), the weights into
// a [tap][channel] panel, and each output pixel takes 8 channels per vector, tap by tap: any map size, stride and
// dilation vectorize the same way. The sums are exact int32 and the epilogue is Int8Quantization.dequantize's IEEE
// operations per lane, so results equal Int8ConvReference bit for bit.

public enum Int8DepthwiseDirect {
    /// One filter per input channel (channel multiplier 1); other grouped convs stay on Int8ConvTiled.
    public static func applies(_ g: ConvGeometry) -> Bool { g.groups > 1 && g.groups == g.inC && g.outC == g.inC }

    @inline(__always) static func roundUp64(_ x: Int) -> Int { (x &+ 63) & ~63 }
    /// Channels padded to whole vectors.
    @inline(__always) static func paddedChannels(_ g: ConvGeometry) -> Int { (g.inC &+ 7) & ~7 }

    /// Byte offsets of the scratch parts: tap offsets, the weight panel (int32), per-channel scales and biases, 8
    /// quantized input rows, then the image (int16).
    @inline(__always)
    static func layout(_ g: ConvGeometry) -> (panel: Int, scales: Int, biases: Int, row: Int, image: Int, total: Int) {
        let taps = g.kernelH &* g.kernelW, cp = paddedChannels(g)
        let panel = roundUp64(taps &* 8)
        let scales = panel &+ roundUp64(taps &* cp &* 4)
        let biases = scales &+ roundUp64(cp &* 4)
        let row = biases &+ roundUp64(cp &* 4)
        let image = row &+ roundUp64(8 &* g.inW)
        return (panel, scales, biases, row, image, image &+ roundUp64(IndirectImage.height(g) &* IndirectImage.width(g) &* cp &* 2))
    }

    public static func scratchByteCount(_ g: ConvGeometry) -> Int { layout(g).total }

    /// Int8Conv.run's contract for depthwise convs (`applies`), for the output pixels in `pixels`; the zero point is a
    /// uint8 one (0...255, as the runtime checks), so q − zp fits the int16 image.
    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, inputScale: Float, inputZeroPoint: Int32,
                           weights: UnsafePointer<Int8>, weightScales: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutableRawPointer, outputMin: Float, outputMax: Float,
                           pixels: Range<Int>, quantizedInput: UnsafePointer<UInt8>?) {
        if pixels.isEmpty { return }
        let lay = layout(g), taps = g.kernelH &* g.kernelW, cp = paddedChannels(g), c = g.inC
        let offsets = scratch.assumingMemoryBound(to: Int.self)
        IndirectImage.tapOffsets(g, pixelBytes: cp, into: offsets)   // in int16 elements
        let panel = (scratch + lay.panel).assumingMemoryBound(to: Int32.self)
        let scales = (scratch + lay.scales).assumingMemoryBound(to: Float.self)
        let biases = (scratch + lay.biases).assumingMemoryBound(to: Float.self)
        for ch in 0..<cp {
            for t in 0..<taps { panel[t &* cp &+ ch] = ch < c ? Int32(weights[ch &* taps &+ t]) : 0 }
            scales[ch] = ch < c ? inputScale * weightScales[ch] : 0
            biases[ch] = ch < c ? bias?[ch] ?? 0 : 0
        }
        let image = (scratch + lay.image).assumingMemoryBound(to: Int16.self)
        fillImage(g, input: input, quantized: quantizedInput, scale: inputScale, zeroPoint: inputZeroPoint, pixels: pixels,
                  row: (scratch + lay.row).assumingMemoryBound(to: UInt8.self), into: image)
        let lo = SIMD8<Float>(repeating: outputMin), hi = SIMD8<Float>(repeating: outputMax)
        let n = g.outPixels
        var c0 = 0
        while c0 < c {
            let live = Swift.min(8, c &- c0)
            let s = UnsafeRawPointer(scales + c0).loadUnaligned(as: SIMD8<Float>.self)
            let b = UnsafeRawPointer(biases + c0).loadUnaligned(as: SIMD8<Float>.self)
            let w = UnsafeRawPointer(panel + c0), x = UnsafeRawPointer(image + c0)
            for p in pixels {
                let base = IndirectImage.pixel(g, p) &* cp
                var acc = SIMD8<Int32>()
                for t in 0..<taps {
                    let v = x.loadUnaligned(fromByteOffset: 2 &* (base &+ offsets[t]), as: SIMD8<Int16>.self)
                    acc &+= int32Lanes(v) &* w.loadUnaligned(fromByteOffset: 4 &* t &* cp, as: SIMD8<Int32>.self)
                }
                let y = clampLanes(floatLanes(acc) * s + b, lo: lo, hi: hi)
                for j in 0..<live { output[(c0 &+ j) &* n &+ p] = y[j] }
            }
            c0 &+= 8
        }
    }

    /// image[(r·wp + s)·cp + ch] = q(ch, r − padTop, s − padLeft) − zp, 0 outside the input and for ch ≥ inC, for the
    /// padded rows the output pixels in `pixels` read.
    static func fillImage(_ g: ConvGeometry, input: UnsafePointer<Float>, quantized: UnsafePointer<UInt8>?, scale: Float,
                          zeroPoint: Int32, pixels: Range<Int>, row: UnsafeMutablePointer<UInt8>,
                          into image: UnsafeMutablePointer<Int16>) {
        let wp = IndirectImage.width(g), cp = paddedChannels(g)
        let r0 = pixels.lowerBound / g.outW &* g.strideH
        let r1 = (pixels.upperBound &- 1) / g.outW &* g.strideH &+ (g.kernelH &- 1) &* g.dilationH &+ 1
        (image + r0 &* wp &* cp).update(repeating: 0, count: (r1 &- r0) &* wp &* cp)
        IndirectImage.storeQuantized(g, input: input, quantized: quantized, scale: scale, zeroPoint: zeroPoint, rows: r0..<r1,
                                     pixelValues: cp, subtract: Int16(truncatingIfNeeded: zeroPoint), rows8: row, into: image)
    }
}
