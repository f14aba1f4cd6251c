// Shared source (symlinked into every kernel module). The input is quantized once to uint8, im2col
// panels interleave K in groups of 4 bytes per column (the vpdpbusd operand layout), and the
// module's Int8Microkernel (VNNI or generic widening) produces exact int32 tiles.

/// Int8 convolution: uint8 activations (per-tensor zero point), int8 OIHW weights, per-channel scales.
public enum Int8ConvTiled {
    @inline(__always) static func roundUp64(_ x: Int) -> Int { (x &+ 63) & ~63 }

    /// Stride 1 reads panels from a zero-point-padded quantized input (see FP32ConvTiled: implicit GEMM
    /// over the padded grid, pos = oh·wp + ow; panels of output pixels gather their positions from it).
    @inline(__always) static func isImplicit(_ g: ConvGeometry) -> Bool { g.strideH == 1 && g.strideW == 1 }
    @inline(__always) static func paddedHeight(_ g: ConvGeometry) -> Int { g.outH &+ (g.kernelH &- 1) &* g.dilationH }
    @inline(__always) static func paddedWidth(_ g: ConvGeometry) -> Int { g.outW &+ (g.kernelW &- 1) &* g.dilationW }

    /// Byte offsets of the scratch parts: k offsets, row sums, int32 tile, packed panel, the quantized input (plain
    /// for im2col, padded for stride 1), then the receptive fields of a map's last pixels (`dotTail`).
    @inline(__always) static func layout(_ g: ConvGeometry) -> (rowSums: Int, tile: Int, panel: Int, q: Int, tailRows: Int,
                                                                total: Int) {
        let nr = Int8Microkernel.tileColumns
        let offsets = roundUp64(g.reductionLength &* 8)
        let rs = roundUp64(g.outC &* 4)
        let tile = roundUp64(Int8Microkernel.tileRows &* nr &* 4)
        let kp = (g.reductionLength &+ 3) & ~3
        let panel = roundUp64(kp &* nr)
        let q = isImplicit(g)
            ? roundUp64(g.inCPerGroup &* paddedHeight(g) &* paddedWidth(g) &+ 2 &* nr)
            : roundUp64(g.inC &* g.inH &* g.inW)
        let r = offsets, t = r &+ rs, p = t &+ tile, qq = p &+ panel, tr = qq &+ q
        return (r, t, p, qq, tr, tr &+ roundUp64(maxDotTail &* g.reductionLength))
    }

    /// At most this many of a map's last pixels run as dot products (`dotTail`).
    static let maxDotTail = 2

    /// How many of `count` output pixels, the last ones, run as dot products after each tile instead of in a panel:
    /// 1 or 2 past a multiple of 16 pixels (the narrowest panel: the VNNI tile's one-zmm variant, the AVX2 tiles),
    /// where a panel would compute 16 columns for them (a 7² map's 49th pixel). Needs `dot4`'s whole 64-byte steps,
    /// as `usesFewPixels`.
    @inline(__always) static func dotTail(_ g: ConvGeometry, pixels count: Int) -> Int {
        let tail = count % 16
        return count > 16 && tail <= maxDotTail && g.reductionLength % 64 == 0 && g.reductionLength >= 256 ? tail : 0
    }

    public static func scratchByteCount(_ g: ConvGeometry) -> Int { layout(g).total &+ 64 }

    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, inputScale: Float, inputZeroPoint: Int32,
                           weights: UnsafePointer<Int8>, weightScales: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutableRawPointer, outputMin: Float, outputMax: Float,
                           pixels: Range<Int>, quantizedInput: UnsafePointer<UInt8>? = nil,
                           rowSums precomputed: UnsafePointer<Int32>? = nil) {
        if pixels.isEmpty { return }
        if usesFewPixels(g, pixels: pixels.count) {
            runFewPixels(g, input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint, weights: weights,
                         weightScales: weightScales, bias: bias, output: output, scratch: scratch, outputMin: outputMin,
                         outputMax: outputMax, pixels: pixels, quantizedInput: quantizedInput, rowSums: precomputed)
            return
        }
        let lay = layout(g)
        let offsets = scratch.assumingMemoryBound(to: Int.self)
        let counted = (scratch + lay.rowSums).assumingMemoryBound(to: Int32.self)
        let rowSums = precomputed ?? UnsafePointer(counted)
        let tile = (scratch + lay.tile).assumingMemoryBound(to: Int32.self)
        let panel = (scratch + lay.panel).assumingMemoryBound(to: UInt8.self)
        let q = (scratch + lay.q).assumingMemoryBound(to: UInt8.self)
        let k = g.reductionLength
        let n = g.outPixels
        let ocg = g.outCPerGroup, icg = g.inCPerGroup
        let inPlane = g.inH &* g.inW
        let mr = Int8Microkernel.tileRows, nr = Int8Microkernel.tileColumns
        let implicit = isImplicit(g)
        let hp = paddedHeight(g), wp = paddedWidth(g)
        if precomputed == nil { Int8Quantization.rowSums(weights, rows: g.outC, length: k, into: counted) }
        let zpByte = UInt8(truncatingIfNeeded: Swift.max(0, Swift.min(255, inputZeroPoint)))
        if implicit {
            var kIndex = 0
            for ci in 0..<icg {
                for kh in 0..<g.kernelH {
                    for kw in 0..<g.kernelW {
                        offsets[kIndex] = (ci &* hp &+ kh &* g.dilationH) &* wp &+ kw &* g.dilationW
                        kIndex &+= 1
                    }
                }
            }
        } else if quantizedInput == nil {
            Int8Quantization.quantize(input, count: g.inC &* inPlane, scale: inputScale, zeroPoint: inputZeroPoint, into: q)
        }
        let bytes = quantizedInput ?? UnsafePointer(q)
        // Panel columns are output pixels, or positions on the padded grid (implicit, when a panel's pixels span more
        // than 64 positions): there each row's last kernelW − 1 positions are computed for nothing, 2 of every 16 on
        // a 14² map, and a 4² map's 16 pixels take 22 columns. Each value is an exact int32 sum and its own epilogue,
        // so a range computes what the whole pass does for its pixels.
        let gathers = implicit && wp != g.outW && gatherSpan(g) <= 64
        let onGrid = implicit && !gathers
        @inline(__always) func position(_ p: Int) -> Int { p / g.outW &* wp &+ p % g.outW }
        // The last 1 or 2 pixels past a multiple of 16 run as dot products of each tile's rows (still in cache).
        let tail = onGrid ? 0 : dotTail(g, pixels: pixels.count)
        let tailRows = (scratch + lay.tailRows).assumingMemoryBound(to: UInt8.self)
        let first = onGrid ? position(pixels.lowerBound) : pixels.lowerBound
        let positions = onGrid ? position(pixels.upperBound &- 1) &+ 1 : pixels.upperBound &- tail
        for grp in 0..<g.groups {
            let wG = weights + grp &* ocg &* k
            if implicit {
                padQuantized(g, input: input + grp &* icg &* inPlane, quantized: quantizedInput.map { $0 + grp &* icg &* inPlane },
                             scale: inputScale, zeroPoint: inputZeroPoint, padValue: zpByte, hp: hp, wp: wp, into: q)
            }
            for j in 0..<tail {
                let p = positions &+ j
                if implicit {
                    receptiveField(g, pixel: p, padded: UnsafePointer(q), hp: hp, wp: wp, into: tailRows + j &* k)
                } else {
                    receptiveField(g, pixel: p, input: bytes + grp &* icg &* inPlane, zeroPoint: zpByte, into: tailRows + j &* k)
                }
            }
            var p0 = first
            while p0 < positions {
                let cols = Swift.min(nr, positions &- p0)
                if gathers {
                    // Columns past `cols` gather the first pixel again; their sums are not used.
                    let base = position(p0)
                    var index = SIMD64<UInt8>()
                    for j in 0..<cols { index[j] = UInt8(truncatingIfNeeded: position(p0 &+ j) &- base) }
                    Int8Microkernel.interleaveColumns(from: UnsafePointer(q + base), offsets: UnsafePointer(offsets), k: k,
                                                      index: index, into: panel)
                } else if implicit {
                    interleavePanel(from: UnsafePointer(q + p0), offsets: UnsafePointer(offsets), k: k, into: panel)
                } else {
                    packPanel(g, input: bytes + grp &* icg &* inPlane, padValue: zpByte, firstColumn: p0,
                              columns: cols, panel: panel)
                }
                var m0 = 0
                while m0 < ocg {
                    let rows = Swift.min(mr, ocg &- m0)
                    Int8Microkernel.tile(k: k, a: wG + m0 &* k, lda: k, rows: rows, b: UnsafePointer(panel), columns: cols,
                                         out: tile)
                    for r in 0..<rows {
                        let o = grp &* ocg &+ m0 &+ r
                        let scale = inputScale * weightScales[o]
                        let b: Float = bias?[o] ?? 0
                        let outRow = output + o &* n
                        let src = tile + r &* nr
                        let zpSum = inputZeroPoint &* rowSums[o]
                        if onGrid && wp != g.outW {
                            // Scatter the padded-grid positions that are real outputs (ow < outW); with no columns of
                            // padding (1x1 convs) the grid is the output itself, taken below in one call instead of a
                            // row at a time (late rows of 12 or 6 values are mostly scalar tail).
                            g.forEachOutputRun(first: p0, count: cols, gridWidth: wp) { j, pixel, count in
                                Int8Quantization.dequantize(src + j, minus: zpSum, count: count, scale: scale, bias: b,
                                                            outputMin: outputMin, outputMax: outputMax, into: outRow + pixel)
                            }
                        } else {
                            Int8Quantization.dequantize(src, minus: zpSum, count: cols, scale: scale, bias: b,
                                                        outputMin: outputMin, outputMax: outputMax, into: outRow + p0)
                        }
                    }
                    if tail > 0 && p0 &+ nr >= positions {
                        dotRows(g, rows: rows, firstRow: grp &* ocg &+ m0, weights: wG + m0 &* k, fields: UnsafePointer(tailRows),
                                pixels: positions..<(positions &+ tail), inputScale: inputScale, inputZeroPoint: inputZeroPoint,
                                rowSums: rowSums, weightScales: weightScales, bias: bias, output: output,
                                outputMin: outputMin, outputMax: outputMax)
                    }
                    m0 &+= mr
                }
                p0 &+= nr
            }
        }
    }

    /// The most padded-grid positions a panel of output pixels spans: its columns plus the skipped positions at each
    /// row end inside it. A tile gathers columns from 64 bytes (`Int8Microkernel.interleaveColumns`).
    @inline(__always) static func gatherSpan(_ g: ConvGeometry) -> Int {
        let nr = Int8Microkernel.tileColumns
        return nr &+ (g.outW &+ nr &- 2) / g.outW &* (paddedWidth(g) &- g.outW)
    }

    /// Whether `runFewPixels` takes a call: at most half a tile of output pixels, whose other columns the GEMM would
    /// compute for nothing (a ResNet50 on 64² ends on 2×2 maps: 4 of 32 columns, 2.25 MB of weights each), and a
    /// reduction of whole 64-byte steps (at least 4): `dot4`'s tail is scalar, and on a MobileNet's 1x1 with K = 112
    /// it made the conv 6× slower than the GEMM.
    @inline(__always) static func usesFewPixels(_ g: ConvGeometry, pixels: Int) -> Bool {
        pixels <= Int8Microkernel.tileColumns / 2 && g.reductionLength % 64 == 0 && g.reductionLength >= 256
    }

    /// The conv as dot products (the FullyConnected kernel's `dot4`): each pixel's receptive field gathered once into
    /// a row in the weights' (c, kh, kw) order (the zero point on padding), then every 4 weight rows against each
    /// pixel's row while they are in L1, so the weights stream from memory once. The sums and the epilogue are
    /// the GEMM's, so both give the same bits.
    static func runFewPixels(_ g: ConvGeometry, input: UnsafePointer<Float>, inputScale: Float, inputZeroPoint: Int32,
                             weights: UnsafePointer<Int8>, weightScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                             output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer, outputMin: Float,
                             outputMax: Float, pixels: Range<Int>, quantizedInput: UnsafePointer<UInt8>?,
                             rowSums precomputed: UnsafePointer<Int32>?) {
        let lay = layout(g), k = g.reductionLength, ocg = g.outCPerGroup, icg = g.inCPerGroup
        let inPlane = g.inH &* g.inW
        let counted = (scratch + lay.rowSums).assumingMemoryBound(to: Int32.self)
        let rowSums = precomputed ?? UnsafePointer(counted)
        let rows = (scratch + lay.panel).assumingMemoryBound(to: UInt8.self)   // pixels.count · K ≤ the panel
        let q = (scratch + lay.q).assumingMemoryBound(to: UInt8.self)          // one group's input ≤ its part
        let zp = UInt8(truncatingIfNeeded: Swift.max(0, Swift.min(255, inputZeroPoint)))
        for grp in 0..<g.groups {
            let src: UnsafePointer<UInt8>
            if let quantizedInput {
                src = quantizedInput + grp &* icg &* inPlane
            } else {
                Int8Quantization.quantize(input + grp &* icg &* inPlane, count: icg &* inPlane, scale: inputScale,
                                          zeroPoint: inputZeroPoint, into: q)
                src = UnsafePointer(q)
            }
            for (j, p) in pixels.enumerated() {
                receptiveField(g, pixel: p, input: src, zeroPoint: zp, into: rows + j &* k)
            }
            let wG = weights + grp &* ocg &* k
            var o0 = 0
            while o0 < ocg {
                let live = Swift.min(4, ocg &- o0)
                // Their weight sums just before their dot products, which then find the rows in cache (as
                // Int8FullyConnectedTiled does).
                if precomputed == nil { Int8Quantization.rowSums(wG + o0 &* k, rows: live, length: k, into: counted + (grp &* ocg &+ o0)) }
                dotRows(g, rows: live, firstRow: grp &* ocg &+ o0, weights: wG + o0 &* k, fields: UnsafePointer(rows),
                        pixels: pixels, inputScale: inputScale, inputZeroPoint: inputZeroPoint, rowSums: rowSums,
                        weightScales: weightScales, bias: bias, output: output, outputMin: outputMin, outputMax: outputMax)
                o0 &+= 4
            }
        }
    }

    /// The outputs of weight rows firstRow ..< firstRow + rows (at `weights`, K apart) for `pixels`, whose receptive
    /// fields lie K apart in `fields`, as `dot4` products: the GEMM's sums and epilogue, so the same bits. Out of line:
    /// inlined into the GEMM's tile loop it cost L1–L3 ~1 %.
    @inline(never)
    static func dotRows(_ g: ConvGeometry, rows: Int, firstRow: Int, weights: UnsafePointer<Int8>, fields: UnsafePointer<UInt8>,
                        pixels: Range<Int>, inputScale: Float, inputZeroPoint: Int32, rowSums: UnsafePointer<Int32>,
                        weightScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                        outputMin: Float, outputMax: Float) {
        let k = g.reductionLength, n = g.outPixels
        var r0 = 0
        while r0 < rows {
            let live = Swift.min(4, rows &- r0), w0 = weights + r0 &* k
            @inline(__always) func w(_ r: Int) -> UnsafePointer<Int8> { Int8MicrokernelGeneric.row(w0, r, lda: k, rows: live) }
            for (j, p) in pixels.enumerated() {
                let sums = Int8Microkernel.dot4(n: k, x: fields + j &* k, w0, w(1), w(2), w(3))
                for r in 0..<live {
                    let o = firstRow &+ r0 &+ r
                    output[o &* n &+ p] = Int8Quantization.dequantize(sums[r] &- inputZeroPoint &* rowSums[o],
                                                                      scale: inputScale * weightScales[o], bias: bias?[o] ?? 0,
                                                                      outputMin: outputMin, outputMax: outputMax)
                }
            }
            r0 &+= 4
        }
    }

    /// Output pixel p's receptive field in the weights' (c, kh, kw) order from one group's quantized input, the zero
    /// point on padding taps.
    @inline(__always)
    static func receptiveField(_ g: ConvGeometry, pixel p: Int, input src: UnsafePointer<UInt8>, zeroPoint zp: UInt8,
                               into row: UnsafeMutablePointer<UInt8>) {
        let oh = p / g.outW, ow = p &- oh &* g.outW
        var d = row
        for ci in 0..<g.inCPerGroup {
            for kh in 0..<g.kernelH {
                let ih = oh &* g.strideH &- g.padTop &+ kh &* g.dilationH
                for kw in 0..<g.kernelW {
                    let iw = ow &* g.strideW &- g.padLeft &+ kw &* g.dilationW
                    d.pointee = ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW ? src[(ci &* g.inH &+ ih) &* g.inW &+ iw] : zp
                    d += 1
                }
            }
        }
    }

    /// `receptiveField` of a stride-1 conv from its zero-point-padded grid (`padQuantized`, hp × wp per channel).
    @inline(__always)
    static func receptiveField(_ g: ConvGeometry, pixel p: Int, padded: UnsafePointer<UInt8>, hp: Int, wp: Int,
                               into row: UnsafeMutablePointer<UInt8>) {
        let oh = p / g.outW, ow = p &- oh &* g.outW
        var d = row
        for ci in 0..<g.inCPerGroup {
            for kh in 0..<g.kernelH {
                let line = padded + ((ci &* hp &+ oh &+ kh &* g.dilationH) &* wp &+ ow)
                for kw in 0..<g.kernelW {
                    d.pointee = line[kw &* g.dilationW]
                    d += 1
                }
            }
        }
    }

    /// padded[ci][r][s] = quantize(input[ci][r - padTop][s - padLeft]) (or the byte of `quantized`, an input
    /// already quantized with this scale and zero point), the zero point outside, plus 2·NR bytes of slack read
    /// (and discarded) by the last tile.
    static func padQuantized(_ g: ConvGeometry, input: UnsafePointer<Float>, quantized: UnsafePointer<UInt8>?,
                             scale: Float, zeroPoint: Int32, padValue: UInt8, hp: Int, wp: Int,
                             into dst: UnsafeMutablePointer<UInt8>) {
        let inH = g.inH, inW = g.inW
        if hp == inH && wp == inW && g.padTop == 0 && g.padLeft == 0 {
            // No padding (1x1 convs): the padded input is the input, quantized in one pass.
            let count = g.inCPerGroup &* inH &* inW
            if let quantized { dst.update(from: quantized, count: count) } else {
                Int8Quantization.quantize(input, count: count, scale: scale, zeroPoint: zeroPoint, into: dst)
            }
            (dst + count).update(repeating: padValue, count: 2 &* Int8Microkernel.tileColumns)
            return
        }
        let sLo = Swift.min(Swift.max(g.padLeft, 0), wp)
        let sHi = Swift.max(sLo, Swift.min(wp, g.padLeft &+ inW))
        // Rows are written in order, each pad as one 16-byte store where it is that short: the bytes it writes past
        // the pad are written again later (the row's values, the next row) or fall in the slack. A CAT band's conv
        // pads a few rows of 8–64 bytes per channel, and the memset/memmove calls per row had been a tenth of it.
        let pads = SIMD16<UInt8>(repeating: padValue)
        @inline(__always) func pad(_ d: UnsafeMutablePointer<UInt8>, _ count: Int) {
            if count > 16 { d.update(repeating: padValue, count: count) } else if count > 0 {
                UnsafeMutableRawPointer(d).storeBytes(of: pads, as: SIMD16<UInt8>.self)
            }
        }
        for ci in 0..<g.inCPerGroup {
            for r in 0..<hp {
                let d = dst + (ci &* hp &+ r) &* wp
                let ih = r &- g.padTop
                if ih < 0 || ih >= inH {
                    pad(d, wp)
                } else {
                    pad(d, sLo)
                    let at = ci &* inH &* inW &+ ih &* inW &+ sLo &- g.padLeft
                    if let quantized {
                        InlineCopy.bytes(quantized + at, to: d + sLo, count: sHi &- sLo)
                    } else {
                        Int8Quantization.quantize(input + at, count: sHi &- sLo, scale: scale, zeroPoint: zeroPoint, into: d + sLo)
                    }
                    pad(d + sHi, wp &- sHi)
                }
            }
        }
        (dst + g.inCPerGroup &* hp &* wp).update(repeating: padValue, count: 2 &* Int8Microkernel.tileColumns)
    }

    /// Four taps' rows of 16 bytes become 16 lanes of 4 interleaved bytes (the vpdpbusd operand) by
    /// widening and shifting; taps past K contribute 0.
    @inline(__always)
    static func interleavePanel(from src: UnsafePointer<UInt8>, offsets: UnsafePointer<Int>, k: Int,
                                into panel: UnsafeMutablePointer<UInt8>) {
        let nr = Int8Microkernel.tileColumns
        let s = UnsafeRawPointer(src)
        var d = UnsafeMutableRawPointer(panel)
        var kk = 0
        while kk < k {
            let o0 = offsets[kk]
            let o1 = kk &+ 1 < k ? offsets[kk &+ 1] : -1
            let o2 = kk &+ 2 < k ? offsets[kk &+ 2] : -1
            let o3 = kk &+ 3 < k ? offsets[kk &+ 3] : -1
            var h = 0
            while h < nr {
                var v = wordLanes(s.loadUnaligned(fromByteOffset: o0 &+ h, as: SIMD16<UInt8>.self))
                if o1 >= 0 {
                    v |= wordLanes(s.loadUnaligned(fromByteOffset: o1 &+ h, as: SIMD16<UInt8>.self)) &<< 8
                }
                if o2 >= 0 {
                    v |= wordLanes(s.loadUnaligned(fromByteOffset: o2 &+ h, as: SIMD16<UInt8>.self)) &<< 16
                }
                if o3 >= 0 {
                    v |= wordLanes(s.loadUnaligned(fromByteOffset: o3 &+ h, as: SIMD16<UInt8>.self)) &<< 24
                }
                d.storeBytes(of: v, toByteOffset: h &* 4, as: SIMD16<UInt32>.self)
                h &+= 16
            }
            d += nr &* 4
            kk &+= 4
        }
    }

    /// im2col of quantized input into panel[(k/4)·NR·4 + j·4 + k%4]; spatial padding holds the zero
    /// point (quantized 0.0), K past the end holds 0, unused columns hold 0. NR is the int8 tile's width unless
    /// given (TernaryConvTiled packs for its own microkernel).
    @inline(__always)
    static func packPanel(_ g: ConvGeometry, input: UnsafePointer<UInt8>, padValue: UInt8, firstColumn: Int, columns: Int,
                          panel: UnsafeMutablePointer<UInt8>, tileColumns nr: Int = Int8Microkernel.tileColumns) {
        let k = g.reductionLength
        let kp = (k &+ 3) & ~3
        let inH = g.inH, inW = g.inW, outW = g.outW
        let sh = g.strideH, sw = g.strideW, dh = g.dilationH, dw = g.dilationW
        let kH = g.kernelH, kW = g.kernelW
        let firstOH = firstColumn / outW
        let firstOW = firstColumn &- firstOH &* outW
        // Zero the tail of K (so padded weights' products vanish whatever they are) and unused columns.
        if kp != k || columns < nr {
            for i in 0..<(kp &* nr) { panel[i] = 0 }
        }
        var kIndex = 0
        for ci in 0..<g.inCPerGroup {
            let plane = input + ci &* inH &* inW
            for kh in 0..<kH {
                for kw in 0..<kW {
                    let dst = panel + ((kIndex >> 2) &* (nr &* 4) &+ (kIndex & 3))
                    kIndex &+= 1
                    var j = 0
                    var oh = firstOH
                    var ow = firstOW
                    while j < columns {
                        let seg = Swift.min(columns &- j, outW &- ow)
                        let ih = oh &* sh &- g.padTop &+ kh &* dh
                        let d = dst + j &* 4
                        if ih < 0 || ih >= inH {
                            for t in 0..<seg { d[t &* 4] = padValue }
                        } else {
                            let row = plane + ih &* inW
                            let iw0 = ow &* sw &- g.padLeft &+ kw &* dw
                            var tLo = iw0 >= 0 ? 0 : (sw &- 1 &- iw0) / sw
                            if tLo > seg { tLo = seg }
                            var tHi = iw0 > inW &- 1 ? 0 : (inW &- 1 &- iw0) / sw &+ 1
                            if tHi > seg { tHi = seg }
                            if tHi < tLo { tHi = tLo }
                            var t = 0
                            while t < tLo { d[t &* 4] = padValue; t &+= 1 }
                            while t < tHi { d[t &* 4] = row[iw0 &+ t &* sw]; t &+= 1 }
                            while t < seg { d[t &* 4] = padValue; t &+= 1 }
                        }
                        j &+= seg
                        ow = 0
                        oh &+= 1
                    }
                }
            }
        }
    }
}
