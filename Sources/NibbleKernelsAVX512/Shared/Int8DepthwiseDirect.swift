// Shared source (symlinked into every kernel module): int8 depthwise convolution (groups = inC = outC), computed
// directly, channel by channel, with output pixels of a row in vector lanes. Int8ConvTiled would run it as one GEMM
// per channel with K = kH·kW, each paying its own im2col and weight panel.
//
// Each channel's input rows are copied once into a bordered plane of q − zp as floats (0 on the border, which is what
// a padded tap adds to the reference's Σ (q − zp)·w). A plane row is stored phase by phase, padded column c at
// [c mod strideW][c / strideW], so for every tap the lanes' input columns ow·strideW + kw·dilationW are consecutive:
// each tap is one load and one FMA per vector of output pixels, at any stride and dilation, and the outputs are
// whole NCHW row segments, stored as vectors. An earlier version kept channels in lanes (XNNPACK's dwconv layout) and
// spent most of its time storing each pixel's lanes one by one into the NCHW output.
//
// Exactness: |q − zp| ≤ 255 and |w| ≤ 128, so a sum of at most `maximumTaps` products stays below 2^24 and every
// partial sum is an integer a float holds exactly, fused or not. The epilogue is Int8Quantization.dequantize's IEEE
// operations (multiply, add, clamp) per lane, so results equal Int8ConvReference bit for bit.

public enum Int8DepthwiseDirect {
    /// 512 · 255 · 128 < 2^24: every partial sum of that many products is exact in a float.
    static let maximumTaps = 512
    static let lanes = FVec.scalarCount

    /// One filter per input channel (channel multiplier 1) of at most `maximumTaps` taps; other grouped convs stay on
    /// Int8ConvTiled.
    public static func applies(_ g: ConvGeometry) -> Bool {
        g.groups > 1 && g.groups == g.inC && g.outC == g.inC && g.kernelH &* g.kernelW <= maximumTaps
    }

    @inline(__always) static func roundUp64(_ x: Int) -> Int { (x &+ 63) & ~63 }

    /// Floats per phase of a plane row: a vector starting at any output column < outW, plus the furthest tap's shift.
    @inline(__always) static func phaseLength(_ g: ConvGeometry) -> Int {
        g.outW &+ lanes &+ (g.kernelW &- 1) &* g.dilationW / g.strideW
    }
    /// Floats per plane row (all phases).
    @inline(__always) static func rowLength(_ g: ConvGeometry) -> Int { g.strideW &* phaseLength(g) }

    /// Byte offsets of the scratch parts: tap offsets, weights as floats, one input row quantized and as floats, then
    /// the plane.
    @inline(__always)
    static func layout(_ g: ConvGeometry) -> (weights: Int, row: Int, rowFloats: Int, plane: Int, total: Int) {
        let taps = g.kernelH &* g.kernelW
        let weights = roundUp64(taps &* 8)
        let row = weights &+ roundUp64(taps &* 4)
        let rowFloats = row &+ roundUp64(g.inW)
        let plane = rowFloats &+ roundUp64(g.inW &* 4)
        return (weights, row, rowFloats, plane, plane &+ roundUp64(IndirectImage.height(g) &* rowLength(g) &* 4))
    }

    public static func scratchByteCount(_ g: ConvGeometry) -> Int { layout(g).total }

    /// Int8Conv.run's contract for depthwise convs (`applies`), for the output pixels in `pixels`.
    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, inputScale: Float, inputZeroPoint: Int32,
                           weights: UnsafePointer<Int8>, weightScales: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutableRawPointer, outputMin: Float, outputMax: Float,
                           pixels: Range<Int>, quantizedInput: UnsafePointer<UInt8>?) {
        if pixels.isEmpty { return }
        let lay = layout(g), taps = g.kernelH &* g.kernelW, phase = phaseLength(g), rowFloats = rowLength(g)
        // Tap (kh, kw) of output column ow reads plane row oh·strideH + kh·dilationH, phase (kw·dilationW) mod strideW,
        // index ow + (kw·dilationW) / strideW.
        let offsets = scratch.assumingMemoryBound(to: Int.self)
        for kh in 0..<g.kernelH {
            for kw in 0..<g.kernelW {
                let c = kw &* g.dilationW
                offsets[kh &* g.kernelW &+ kw] = kh &* g.dilationH &* rowFloats &+ (c % g.strideW) &* phase &+ c / g.strideW
            }
        }
        let w = (scratch + lay.weights).assumingMemoryBound(to: Float.self)
        let row = (scratch + lay.row).assumingMemoryBound(to: UInt8.self)
        let plane = (scratch + lay.plane).assumingMemoryBound(to: Float.self)
        let n = g.outPixels, outW = g.outW
        let firstRow = pixels.lowerBound / outW, lastRow = (pixels.upperBound &- 1) / outW
        let r0 = firstRow &* g.strideH, r1 = lastRow &* g.strideH &+ (g.kernelH &- 1) &* g.dilationH &+ 1
        let lo = FVec(repeating: outputMin), hi = FVec(repeating: outputMax)
        for ch in 0..<g.inC {
            fillPlane(g, channel: ch, rows: r0..<r1, input: input, quantized: quantizedInput, scale: inputScale,
                      zeroPoint: inputZeroPoint, row: row, rowFloats: (scratch + lay.rowFloats).assumingMemoryBound(to: Float.self),
                      into: plane)
            for t in 0..<taps { w[t] = Float(weights[ch &* taps &+ t]) }
            let s = FVec(repeating: inputScale * weightScales[ch]), b = FVec(repeating: bias?[ch] ?? 0)
            let out = output + ch &* n
            for oh in firstRow...lastRow {
                let owEnd = oh == lastRow ? pixels.upperBound &- oh &* outW : outW
                var ow = oh == firstRow ? pixels.lowerBound &- oh &* outW : 0
                let src = UnsafeRawPointer(plane + (oh &* g.strideH &- r0) &* rowFloats)
                let dst = out + oh &* outW
                while ow < owEnd {
                    // Three independent chains (the sums are exact, so their order does not matter): a 3x3 kernel's
                    // nine dependent FMAs would wait on each other's latency.
                    @inline(__always) func tap(_ t: Int) -> FVec { src.loadUnaligned(fromByteOffset: 4 &* (offsets[t] &+ ow), as: FVec.self) }
                    var a0 = FVec(), a1 = FVec(), a2 = FVec()
                    var t = 0
                    while t &+ 3 <= taps {
                        a0 = madd(a0, tap(t), FVec(repeating: w[t]))
                        a1 = madd(a1, tap(t &+ 1), FVec(repeating: w[t &+ 1]))
                        a2 = madd(a2, tap(t &+ 2), FVec(repeating: w[t &+ 2]))
                        t &+= 3
                    }
                    while t < taps { a0 = madd(a0, tap(t), FVec(repeating: w[t])); t &+= 1 }
                    let y = clampLanes((a0 + a1 + a2) * s + b, lo: lo, hi: hi)
                    if ow &+ lanes <= owEnd {
                        UnsafeMutableRawPointer(dst + ow).storeBytes(of: y, as: FVec.self)
                    } else {
                        for j in 0..<(owEnd &- ow) { dst[ow &+ j] = y[j] }
                    }
                    ow &+= lanes
                }
            }
        }
    }

    /// Plane rows `rows` (padded rows) of channel `ch`: plane[(r − rows.lowerBound)·rowLength + (c mod strideW)·phaseLength
    /// + c / strideW] = q(ch, r − padTop, c − padLeft) − zp for padded columns c, 0 outside the input and past the row.
    static func fillPlane(_ g: ConvGeometry, channel ch: Int, rows: Range<Int>, input: UnsafePointer<Float>,
                          quantized: UnsafePointer<UInt8>?, scale: Float, zeroPoint: Int32, row: UnsafeMutablePointer<UInt8>,
                          rowFloats floats: UnsafeMutablePointer<Float>, into plane: UnsafeMutablePointer<Float>) {
        let rowFloats = rowLength(g), phase = phaseLength(g), sw = g.strideW
        plane.update(repeating: 0, count: rows.count &* rowFloats)
        // Input columns whose padded column lies in the row.
        let iwLo = Swift.max(0, 0 &- g.padLeft), iwHi = Swift.min(g.inW, rowFloats &- g.padLeft)
        if iwLo >= iwHi { return }
        let zp = Float(zeroPoint)
        let c0Phase = (iwLo &+ g.padLeft) % sw, c0Index = (iwLo &+ g.padLeft) / sw
        for r in rows {
            let ih = r &- g.padTop
            if ih < 0 || ih >= g.inH { continue }
            let at = (ch &* g.inH &+ ih) &* g.inW
            let q: UnsafePointer<UInt8>
            if let quantized {
                q = quantized + at
            } else {
                Int8Quantization.quantize(input + (at &+ iwLo), count: iwHi &- iwLo, scale: scale, zeroPoint: zeroPoint, into: row + iwLo)
                q = UnsafePointer(row)
            }
            let d = plane + (r &- rows.lowerBound) &* rowFloats
            if sw == 1 {
                storeFloats(ofBytes: q + iwLo, count: iwHi &- iwLo, minus: zp, into: d + (iwLo &+ g.padLeft))
                continue
            }
            // Strided: the row as floats, then each phase's columns c ≡ φ (mod strideW), c = iw + padLeft: those at
            // j = c − c0, c0 + sw, … of the float row (c0 = iwLo + padLeft), stored from index c / strideW on.
            let count = iwHi &- iwLo
            storeFloats(ofBytes: q + iwLo, count: count, minus: zp, into: floats)
            for phi in 0..<sw {
                let late = phi < c0Phase
                var j = phi &+ (late ? sw : 0) &- c0Phase
                var dst = d + (phi &* phase &+ c0Index &+ (late ? 1 : 0))
                if sw == 2 {
                    // Eight columns of a phase from sixteen of the row (SIMD16.evenHalf: one shuffle).
                    while j &+ 16 <= count {
                        UnsafeMutableRawPointer(dst).storeBytes(of: UnsafeRawPointer(floats + j).loadUnaligned(as: SIMD16<Float>.self).evenHalf,
                                                                as: SIMD8<Float>.self)
                        j &+= 16; dst += 8
                    }
                }
                while j < count { dst.pointee = floats[j]; j &+= sw; dst += 1 }
            }
        }
    }
}
