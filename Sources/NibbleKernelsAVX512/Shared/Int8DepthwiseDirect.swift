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
        usesGrid(g) ? IndirectImage.width(g) : g.outW &+ slack &+ (g.kernelW &- 1) &* g.dilationW / g.strideW
    }
    /// Floats a plane row may be written or read past its last used column: a vector, or a whole `Chunk` (fillPlane
    /// stores a row's last chunk whole, its lanes past the row as zeros).
    static let slack = Swift.max(lanes, Chunk.scalarCount)
    typealias Chunk = SIMD8<Float>
    /// Floats per plane row (all phases).
    @inline(__always) static func rowLength(_ g: ConvGeometry) -> Int { g.strideW &* phaseLength(g) }

    /// Byte offsets of the scratch parts: tap offsets, weights as floats, one input row (strided convs), the grid
    /// outputs (`usesGrid`), then the plane (with `slack` floats after it: grid vectors and a last row's chunk reach
    /// past the last row).
    @inline(__always)
    static func layout(_ g: ConvGeometry) -> (weights: Int, row: Int, grid: Int, plane: Int, total: Int) {
        let taps = g.kernelH &* g.kernelW
        let weights = roundUp64(taps &* 8)
        let row = weights &+ roundUp64(taps &* 4)
        let grid = row &+ (g.strideW > 1 ? roundUp64((g.inW &+ 16) &* 4) : 0)
        let plane = grid &+ (usesGrid(g) ? roundUp64((g.outH &* phaseLength(g) &+ lanes) &* 4) : 0)
        return (weights, row, grid, plane, plane &+ roundUp64((IndirectImage.height(g) &* rowLength(g) &+ slack) &* 4))
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
        let plane = (scratch + lay.plane).assumingMemoryBound(to: Float.self)
        let grid = (scratch + lay.grid).assumingMemoryBound(to: Float.self)
        let row = (scratch + lay.row).assumingMemoryBound(to: Float.self)
        let n = g.outPixels, outW = g.outW
        let firstRow = pixels.lowerBound / outW, lastRow = (pixels.upperBound &- 1) / outW
        let r0 = firstRow &* g.strideH, r1 = lastRow &* g.strideH &+ (g.kernelH &- 1) &* g.dilationH &+ 1
        for ch in 0..<g.inC {
            fillPlane(g, channel: ch, rows: r0..<r1, input: input, quantized: quantizedInput, scale: inputScale,
                      zeroPoint: inputZeroPoint, row: row, into: plane)
            for t in 0..<taps { w[t] = Float(weights[ch &* taps &+ t]) }
            let out = output + ch &* n
            let rows = firstRow...lastRow, planeBytes = UnsafeRawPointer(plane)
            storeRows(g, rows, pixels: pixels, plane: planeBytes, firstPlaneRow: r0, output: out, scale: inputScale * weightScales[ch],
                      bias: bias?[ch] ?? 0, outputMin: outputMin, outputMax: outputMax, grid: grid,
                      sum: TapSum(offsets: offsets, weights: w, taps: taps))
        }
    }

    /// One channel's output rows `rows` (their pixels in `pixels`), a vector of output columns at a time: `sum(p)` is
    /// Σ (q − zp)·w for the lanes' columns, p their first column's address in the plane row of the output row
    /// (each tap at its own offset from p); then y = clamp(sum·scale + bias), the first row and the last one cut
    /// to `pixels`, the range's partial last vector stored lane by lane. Scalars in, not vectors: it is not inlined,
    /// and vector arguments went through the stack (a fifth of its time when a line buffer passes one row per call).
    @inline(__always)
    static func storeRows(_ g: ConvGeometry, _ rows: ClosedRange<Int>, pixels: Range<Int>, plane: UnsafeRawPointer,
                          firstPlaneRow r0: Int, output out: UnsafeMutablePointer<Float>, scale: Float, bias: Float,
                          outputMin: Float, outputMax: Float, grid: UnsafeMutablePointer<Float>, sum: TapSum) {
        let outW = g.outW, rowBytes = 4 &* rowLength(g)
        let s = FVec(repeating: scale), b = FVec(repeating: bias), lo = FVec(repeating: outputMin), hi = FVec(repeating: outputMax)
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
                InlineCopy.bytes(grid + ((oh &- rows.lowerBound) &* wp &+ ow), to: out + (oh &* outW &+ ow), count: 4 &* (owEnd &- ow))
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
                // A partial vector whose lanes stay inside the range spills into later rows, which are stored later.
                if ow &+ lanes <= owEnd || oh &* outW &+ ow &+ lanes <= pixels.upperBound {
                    UnsafeMutableRawPointer(dst + ow).storeBytes(of: y, as: FVec.self)
                } else {
                    for j in 0..<(owEnd &- ow) { dst[ow &+ j] = y[j] }
                }
                ow &+= lanes
            }
        }
    }

    /// Plane rows `rows` (padded rows) of channel `ch`: plane[(r − rows.lowerBound)·rowLength + (c mod strideW)·phaseLength
    /// + c / strideW] = q(ch, r − padTop, c − padLeft) − zp for padded columns c the taps read, 0 elsewhere.
    /// Each input row is quantized and turned into floats in one pass, a `Chunk` at a time, straight into its plane row
    /// at stride 1, else into `row` and then split into phases. A row's last chunk is stored whole, its lanes past the
    /// row as zeros: the padding's value (at stride 1 on the grid they fall on the next row, filled later).
    static func fillPlane(_ g: ConvGeometry, channel ch: Int, rows: Range<Int>, input: UnsafePointer<Float>,
                          quantized: UnsafePointer<UInt8>?, scale: Float, zeroPoint: Int32,
                          row: UnsafeMutablePointer<Float>, into plane: UnsafeMutablePointer<Float>) {
        let rowFloats = rowLength(g), phase = phaseLength(g), sw = g.strideW, inW = g.inW
        plane.update(repeating: 0, count: rows.count &* rowFloats &+ slack)
        // Input rows whose padded row is in `rows`, and input columns whose padded column a tap reads.
        let ihLo = Swift.max(0, rows.lowerBound &- g.padTop), ihHi = Swift.min(g.inH, rows.upperBound &- g.padTop)
        let iwLo = Swift.max(0, 0 &- g.padLeft), iwHi = Swift.min(inW, IndirectImage.width(g) &- g.padLeft)
        if ihLo >= ihHi || iwLo >= iwHi { return }
        let count = iwHi &- iwLo, c0 = iwLo &+ g.padLeft
        let z = Chunk(repeating: Float(zeroPoint))
        for ih in ihLo..<ihHi {
            let at = (ch &* g.inH &+ ih) &* inW &+ iwLo
            let d = plane + (ih &+ g.padTop &- rows.lowerBound) &* rowFloats
            let to = sw == 1 ? d + c0 : row
            if let quantized {
                fillRow(ByteChunks(bytes: quantized + at, zeroPoint: z), count: count, to16: sw > 1, into: to)
            } else {
                fillRow(FloatChunks(x: input + at, scale: Chunk(repeating: scale), zeroPoint: z), count: count, to16: sw > 1, into: to)
            }
            if sw > 1 { split(row, count: count, firstColumn: c0, stride: sw, phase: phase, into: d) }
        }
    }

    /// d[0 ..< count] = the source's values, the last chunk stored whole (zeros past count), and with `to16` zeros up to
    /// a multiple of 16 (`split` reads whole SIMD16s).
    @inline(__always)
    static func fillRow<Source: ChunkSource>(_ src: Source, count: Int, to16: Bool, into d: UnsafeMutablePointer<Float>) {
        let n = Chunk.scalarCount, full = count & ~(n &- 1), live = count &- full
        var j = 0
        while j < full { UnsafeMutableRawPointer(d + j).storeBytes(of: src.chunk(at: j), as: Chunk.self); j &+= n }
        if live > 0 {
            let v = src.chunk(at: full, count: live).replacing(with: 0, where: Chunk(0, 1, 2, 3, 4, 5, 6, 7) .>= Chunk(repeating: Float(live)))
            UnsafeMutableRawPointer(d + full).storeBytes(of: v, as: Chunk.self)
            j &+= n
        }
        if to16 && j & 15 != 0 { UnsafeMutableRawPointer(d + j).storeBytes(of: Chunk(), as: Chunk.self) }
    }

    /// A strided plane row from `count` values of `row` (its zeros after them included): the value at j goes to phase
    /// (c0 + j) mod strideW, index (c0 + j) / strideW. Splitting from memory keeps the quantizing loop plain (computed
    /// in registers, the even/odd split was pushed into the quantizing arithmetic and made it 1.7× slower).
    @inline(__always)
    static func split(_ row: UnsafePointer<Float>, count: Int, firstColumn c0: Int, stride sw: Int, phase: Int,
                      into d: UnsafeMutablePointer<Float>) {
        if sw == 2 {
            // Sixteen values at even j: their even lanes are columns of c0's phase, their odd lanes of the other.
            let even = d + ((c0 & 1) &* phase &+ c0 >> 1), odd = d + ((1 &- c0 & 1) &* phase &+ (c0 &+ 1) >> 1)
            var j = 0
            while j < count {
                let v = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(even + j >> 1).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(odd + j >> 1).storeBytes(of: v.oddHalf, as: SIMD8<Float>.self)
                j &+= 16
            }
            return
        }
        for j in 0..<count { d[(c0 &+ j) % sw &* phase &+ (c0 &+ j) / sw] = row[j] }
    }
}

/// Input values as `Int8DepthwiseDirect.Chunk`s of q − zp: a whole chunk at `j`, or the first `count` lanes of one.
protocol ChunkSource {
    func chunk(at j: Int) -> Int8DepthwiseDirect.Chunk
    func chunk(at j: Int, count: Int) -> Int8DepthwiseDirect.Chunk
}

/// Floats to quantize (Int8Quantization's operations).
struct FloatChunks: ChunkSource {
    let x: UnsafePointer<Float>, scale: Int8DepthwiseDirect.Chunk, zeroPoint: Int8DepthwiseDirect.Chunk
    @inline(__always) func chunk(at j: Int) -> Int8DepthwiseDirect.Chunk {
        Int8Quantization.quantizedFloats(UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self), scale: scale, zeroPoint: zeroPoint)
    }
    @inline(__always) func chunk(at j: Int, count: Int) -> Int8DepthwiseDirect.Chunk {
        var v = SIMD8<Float>()
        for t in 0..<count { v[t] = x[j &+ t] }
        return Int8Quantization.quantizedFloats(v, scale: scale, zeroPoint: zeroPoint)
    }
}

/// Bytes already quantized with the layer's scale and zero point.
struct ByteChunks: ChunkSource {
    let bytes: UnsafePointer<UInt8>, zeroPoint: Int8DepthwiseDirect.Chunk
    @inline(__always) func chunk(at j: Int) -> Int8DepthwiseDirect.Chunk {
        floatsMinus(UnsafeRawPointer(bytes + j).loadUnaligned(as: SIMD8<UInt8>.self), zeroPoint: zeroPoint)
    }
    @inline(__always) func chunk(at j: Int, count: Int) -> Int8DepthwiseDirect.Chunk {
        var b = SIMD8<UInt8>()
        for t in 0..<count { b[t] = bytes[j &+ t] }
        return floatsMinus(b, zeroPoint: zeroPoint)
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
