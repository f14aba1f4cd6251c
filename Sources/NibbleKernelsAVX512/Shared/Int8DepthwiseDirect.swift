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
// Exactness: the zero point is a uint8 one (0...255, as the runtime checks), so |q − zp| ≤ 255; |w| ≤ 128; a sum of at most `maximumTaps` products stays below 2^24 and every
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

    /// Stride 1 with rows narrower than a vector (a MobileNet's 12×12 … 3×3 maps at 16 lanes): the plane rows are
    /// packed tight (padded width wp) and the vectors run over the padded grid, position oh·wp + ow across rows, so a
    /// 6-wide map fills 12 of 16 lanes instead of 6; the positions past outW in each row are computed into a grid
    /// buffer and dropped when the rows are copied out (Int8ConvTiled's implicit GEMM does the same).
    @inline(__always) static func usesGrid(_ g: ConvGeometry) -> Bool { g.strideH == 1 && g.strideW == 1 && g.outW < lanes }

    /// Floats per phase of a plane row: a vector starting at any output column < outW, plus the furthest tap's shift;
    /// the padded width on the grid.
    @inline(__always) static func phaseLength(_ g: ConvGeometry) -> Int {
        usesGrid(g) ? IndirectImage.width(g) : g.outW &+ lanes &+ (g.kernelW &- 1) &* g.dilationW / g.strideW
    }
    /// Floats per plane row (all phases).
    @inline(__always) static func rowLength(_ g: ConvGeometry) -> Int { g.strideW &* phaseLength(g) }

    /// Byte offsets of the scratch parts: tap offsets, weights as floats, one input channel quantized and as floats,
    /// the grid outputs (`usesGrid`), then the plane (with a vector of zeros after it: grid vectors read past the
    /// last row).
    @inline(__always)
    static func layout(_ g: ConvGeometry) -> (weights: Int, bytes: Int, floats: Int, grid: Int, plane: Int, total: Int) {
        let taps = g.kernelH &* g.kernelW, channel = g.inH &* g.inW
        let weights = roundUp64(taps &* 8)
        let bytes = weights &+ roundUp64(taps &* 4)
        let floats = bytes &+ roundUp64(channel)
        let grid = floats &+ roundUp64(channel &* 4)
        let plane = grid &+ (usesGrid(g) ? roundUp64((g.outH &* phaseLength(g) &+ lanes) &* 4) : 0)
        return (weights, bytes, floats, grid, plane, plane &+ roundUp64((IndirectImage.height(g) &* rowLength(g) &+ lanes) &* 4))
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
        let bytes = (scratch + lay.bytes).assumingMemoryBound(to: UInt8.self)
        let floats = (scratch + lay.floats).assumingMemoryBound(to: Float.self)
        let plane = (scratch + lay.plane).assumingMemoryBound(to: Float.self)
        let grid = (scratch + lay.grid).assumingMemoryBound(to: Float.self)
        let n = g.outPixels, outW = g.outW
        let firstRow = pixels.lowerBound / outW, lastRow = (pixels.upperBound &- 1) / outW
        let r0 = firstRow &* g.strideH, r1 = lastRow &* g.strideH &+ (g.kernelH &- 1) &* g.dilationH &+ 1
        let lo = FVec(repeating: outputMin), hi = FVec(repeating: outputMax)
        for ch in 0..<g.inC {
            fillPlane(g, channel: ch, rows: r0..<r1, input: input, quantized: quantizedInput, scale: inputScale,
                      zeroPoint: inputZeroPoint, bytes: bytes, floats: floats, into: plane)
            for t in 0..<taps { w[t] = Float(weights[ch &* taps &+ t]) }
            let s = FVec(repeating: inputScale * weightScales[ch]), b = FVec(repeating: bias?[ch] ?? 0)
            let out = output + ch &* n
            let rows = firstRow...lastRow, planeBytes = UnsafeRawPointer(plane)
            storeRows(g, rows, pixels: pixels, plane: planeBytes, firstPlaneRow: r0, output: out, scale: s, bias: b, lo: lo, hi: hi,
                      grid: grid, sum: TapSum(offsets: offsets, weights: w, taps: taps))
        }
    }

    /// One channel's output rows `rows` (their pixels in `pixels`), a vector of output columns at a time: `sum(p)` is
    /// Σ (q − zp)·w for the lanes' columns, p their first column's address in the plane row of the output row
    /// (each tap at its own offset from p); then y = clamp(sum·scale + bias), the first row and the last one cut
    /// to `pixels`, a partial last vector stored lane by lane.
    @inline(__always)
    static func storeRows(_ g: ConvGeometry, _ rows: ClosedRange<Int>, pixels: Range<Int>, plane: UnsafeRawPointer,
                          firstPlaneRow r0: Int, output out: UnsafeMutablePointer<Float>, scale s: FVec, bias b: FVec,
                          lo: FVec, hi: FVec, grid: UnsafeMutablePointer<Float>, sum: TapSum) {
        let outW = g.outW, rowBytes = 4 &* rowLength(g)
        if usesGrid(g) {
            // The rows' whole grid (stride 1: output row oh reads plane rows from oh − r0 on), then their pixels out.
            let wp = phaseLength(g), positions = (rows.count &- 1) &* wp &+ outW
            let src = plane + (rows.lowerBound &- r0) &* rowBytes
            var pos = 0
            while pos < positions {
                UnsafeMutableRawPointer(grid + pos).storeBytes(of: clampLanes(sum(src + 4 &* pos) * s + b, lo: lo, hi: hi), as: FVec.self)
                pos &+= lanes
            }
            for oh in rows {
                let owEnd = oh == rows.upperBound ? pixels.upperBound &- oh &* outW : outW
                let ow = oh == rows.lowerBound ? pixels.lowerBound &- oh &* outW : 0
                copy(grid + ((oh &- rows.lowerBound) &* wp &+ ow), to: out + (oh &* outW &+ ow), count: owEnd &- ow)
            }
            return
        }
        for oh in rows {
            let owEnd = oh == rows.upperBound ? pixels.upperBound &- oh &* outW : outW
            var ow = oh == rows.lowerBound ? pixels.lowerBound &- oh &* outW : 0
            let src = plane + (oh &* g.strideH &- r0) &* rowBytes
            let dst = out + oh &* outW
            while ow < owEnd {
                let y = clampLanes(sum(src + 4 &* ow) * s + b, lo: lo, hi: hi)
                if ow &+ lanes <= owEnd {
                    UnsafeMutableRawPointer(dst + ow).storeBytes(of: y, as: FVec.self)
                } else {
                    for j in 0..<(owEnd &- ow) { dst[ow &+ j] = y[j] }
                }
                ow &+= lanes
            }
        }
    }

    /// `count` floats, a vector at a time: these rows are 3 to 112 values, and `update(from:count:)` was a memmove
    /// call per row (7 % of a CAT MobileNet run, whose line buffer hands the kernel one output row at a time).
    @inline(__always)
    static func copy(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i &+ lanes <= count {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: FVec.self), as: FVec.self)
            i &+= lanes
        }
        while i < count { dst[i] = src[i]; i &+= 1 }
    }

    /// Plane rows `rows` (padded rows) of channel `ch`: plane[(r − rows.lowerBound)·rowLength + (c mod strideW)·phaseLength
    /// + c / strideW] = q(ch, r − padTop, c − padLeft) − zp for padded columns c, 0 outside the input and past the row.
    /// The channel's input rows are quantized and turned into floats in one pass each (a MobileNet's late maps have
    /// rows of 6 or 3 values, below one vector), then copied row by row into place.
    static func fillPlane(_ g: ConvGeometry, channel ch: Int, rows: Range<Int>, input: UnsafePointer<Float>,
                          quantized: UnsafePointer<UInt8>?, scale: Float, zeroPoint: Int32, bytes: UnsafeMutablePointer<UInt8>,
                          floats: UnsafeMutablePointer<Float>, into plane: UnsafeMutablePointer<Float>) {
        let rowFloats = rowLength(g), phase = phaseLength(g), sw = g.strideW, inW = g.inW
        plane.update(repeating: 0, count: rows.count &* rowFloats &+ lanes)
        // Input rows whose padded row is in `rows`, and input columns whose padded column lies in the row.
        let ihLo = Swift.max(0, rows.lowerBound &- g.padTop), ihHi = Swift.min(g.inH, rows.upperBound &- g.padTop)
        let iwLo = Swift.max(0, 0 &- g.padLeft), iwHi = Swift.min(inW, rowFloats &- g.padLeft)
        if ihLo >= ihHi || iwLo >= iwHi { return }
        let at = (ch &* g.inH &+ ihLo) &* inW, span = (ihHi &- ihLo) &* inW
        let q: UnsafePointer<UInt8>
        if let quantized {
            q = quantized + at
        } else {
            Int8Quantization.quantize(input + at, count: span, scale: scale, zeroPoint: zeroPoint, into: bytes)
            q = UnsafePointer(bytes)
        }
        storeFloats(ofBytes: q, count: span, minus: Float(zeroPoint), into: floats)
        let count = iwHi &- iwLo
        let c0Phase = (iwLo &+ g.padLeft) % sw, c0Index = (iwLo &+ g.padLeft) / sw
        for ih in ihLo..<ihHi {
            let src = floats + ((ih &- ihLo) &* inW &+ iwLo)
            let d = plane + (ih &+ g.padTop &- rows.lowerBound) &* rowFloats
            if sw == 1 {
                copy(src, to: d + (iwLo &+ g.padLeft), count: count)
                continue
            }
            // Strided: each phase's columns c ≡ φ (mod strideW), c = iw + padLeft: those at j = c − c0, c0 + sw, …
            // of the row (c0 = iwLo + padLeft), stored from index c / strideW on.
            for phi in 0..<sw {
                let late = phi < c0Phase
                var j = phi &+ (late ? sw : 0) &- c0Phase
                var dst = d + (phi &* phase &+ c0Index &+ (late ? 1 : 0))
                if sw == 2 {
                    // Eight columns of a phase from sixteen of the row (SIMD16.evenHalf: one shuffle).
                    while j &+ 16 <= count {
                        UnsafeMutableRawPointer(dst).storeBytes(of: UnsafeRawPointer(src + j).loadUnaligned(as: SIMD16<Float>.self).evenHalf,
                                                                as: SIMD8<Float>.self)
                        j &+= 16; dst += 8
                    }
                }
                while j < count { dst.pointee = src[j]; j &+= sw; dst += 1 }
            }
        }
    }
}

/// One channel's taps: Σ_t plane[p + offsets[t]]·w[t] for a vector of output positions p. A struct rather than a closure
/// so the row loops call it directly (a closure argument stayed an out-of-line call per vector: 10 % of a MobileNetV2).
struct TapSum {
    let offsets: UnsafePointer<Int>, weights: UnsafePointer<Float>, taps: Int

    /// Three independent chains (the sums are exact, so their order does not matter): a 3x3 kernel's nine dependent
    /// FMAs would wait on each other's latency.
    @inline(__always)
    func callAsFunction(_ p: UnsafeRawPointer) -> FVec {
        @inline(__always) func x(_ t: Int) -> FVec { p.loadUnaligned(fromByteOffset: 4 &* offsets[t], as: FVec.self) }
        var a0 = FVec(), a1 = FVec(), a2 = FVec()
        var t = 0
        while t &+ 3 <= taps {
            a0 = madd(a0, x(t), FVec(repeating: weights[t]))
            a1 = madd(a1, x(t &+ 1), FVec(repeating: weights[t &+ 1]))
            a2 = madd(a2, x(t &+ 2), FVec(repeating: weights[t &+ 2]))
            t &+= 3
        }
        while t < taps { a0 = madd(a0, x(t), FVec(repeating: weights[t])); t &+= 1 }
        return a0 + a1 + a2
    }
}
