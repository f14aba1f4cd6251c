// Shared source (symlinked into every kernel module): a 6 x (2·FVec) register-blocked GEMM
// C[outC x N] = W[outC x K] · B[K x N] with W used in place (OIHW rows). FVec is one native vector of
// the module (zmm / ymm / xmm), so the same text gives the AVX-512, AVX2 and SSE2 builds.
// B is never materialized for stride-1 convolutions ("implicit GEMM"): the input is copied once into a
// zero-padded buffer and output positions are numbered over the padded width, so for a fixed tap
// (ci, kh, kw) consecutive positions read consecutive floats; the microkernel reads B through a
// per-k offset table. Other strides use im2col panels (same microkernel, offsets k·NR).

/// Dense and grouped fp32 convolution by a register-blocked GEMM.
public enum FP32ConvTiled {
    /// Rows of W per microkernel tile (broadcast operand).
    public static let tileRows = 6
    /// Columns per tile: two native vectors.
    @inline(__always) public static var tileColumns: Int { 2 &* FVec.scalarCount }

    /// Stride 1 reads B straight from the padded input.
    @inline(__always) static func isImplicit(_ g: ConvGeometry) -> Bool { g.strideH == 1 && g.strideW == 1 }
    @inline(__always) static func paddedHeight(_ g: ConvGeometry) -> Int {
        (g.outH &- 1) &* g.strideH &+ (g.kernelH &- 1) &* g.dilationH &+ 1
    }
    @inline(__always) static func paddedWidth(_ g: ConvGeometry) -> Int {
        (g.outW &- 1) &* g.strideW &+ (g.kernelW &- 1) &* g.dilationW &+ 1
    }

    /// K is streamed in blocks: a tile's panel slice (reductionBlock · NR floats, 8 KB) and the 6-row
    /// W slice stay in L1 while the microkernel sweeps the tiles of a column block.
    @inline(__always) static var reductionBlock: Int { 2048 / FVec.scalarCount }

    /// Output positions per column block: the block's panel slice (reductionBlock x 256 floats, 256 KB)
    /// stays in L2 while each 6-row W slice (in L1) sweeps all its tiles.
    public static let columnBlock = 256

    @inline(__always) static func positionCount(_ g: ConvGeometry) -> Int {
        isImplicit(g) ? (g.outH &- 1) &* paddedWidth(g) &+ g.outW : g.outPixels
    }

    /// Float offsets of the scratch parts: k offsets (Int, 2 floats each), C block (tiles x outC/groups x NR),
    /// packed panels (tiles x K x NR), padded input (stride 1 only).
    @inline(__always) static func layout(_ g: ConvGeometry) -> (c: Int, panel: Int, padded: Int, total: Int) {
        let nr = tileColumns
        let blockCols = (Swift.min(columnBlock, positionCount(g)) &+ nr &- 1) / nr &* nr
        let offsets = ((g.reductionLength &* 2) &+ 15) & ~15
        let c = (g.outCPerGroup &* blockCols &+ 15) & ~15
        let panel = (g.reductionLength &* blockCols &+ 15) & ~15
        let padded = isImplicit(g) ? g.inCPerGroup &* paddedHeight(g) &* paddedWidth(g) &+ 2 &* nr : 0
        return (offsets, offsets &+ c, offsets &+ c &+ panel, offsets &+ c &+ panel &+ padded)
    }

    public static func scratchFloatCount(_ g: ConvGeometry) -> Int {
        if g.isDepthwise { return FP32DepthwiseDirect.scratchFloatCount(g) }
        return layout(g).total &+ 16
    }

    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutablePointer<Float>, outputMin: Float, outputMax: Float) {
        if g.isDepthwise {
            FP32DepthwiseDirect.run(g, input: input, weights: weights, bias: bias, output: output,
                                    scratch: scratch, outputMin: outputMin, outputMax: outputMax)
            return
        }
        let lay = layout(g)
        let offsets = UnsafeMutableRawPointer(scratch).assumingMemoryBound(to: Int.self)
        let cBuf = scratch + lay.c
        let panel = scratch + lay.panel
        let padded = scratch + lay.padded
        let k = g.reductionLength
        let n = g.outPixels
        let ocg = g.outCPerGroup, icg = g.inCPerGroup
        let nr = tileColumns, mr = tileRows, kcMax = reductionBlock
        let inPlane = g.inH &* g.inW
        let implicit = isImplicit(g)
        let hp = paddedHeight(g), wp = paddedWidth(g)
        if implicit {
            // Float offset of tap k = (ci, kh, kw) inside the padded input.
            var kIndex = 0
            for ci in 0..<icg {
                for kh in 0..<g.kernelH {
                    for kw in 0..<g.kernelW {
                        offsets[kIndex] = (ci &* hp &+ kh &* g.dilationH) &* wp &+ kw &* g.dilationW
                        kIndex &+= 1
                    }
                }
            }
        }
        // Positions: padded-grid numbering (pos = oh·wp + ow) or plain output columns.
        let positions = positionCount(g)
        for grp in 0..<g.groups {
            let wG = weights + grp &* ocg &* k
            let inG = input + grp &* icg &* inPlane
            if implicit { padInput(g, input: inG, hp: hp, wp: wp, into: padded) }
            var n0 = 0
            while n0 < positions {
                let nc = Swift.min(columnBlock, positions &- n0)
                let tiles = (nc &+ nr &- 1) / nr
                for t in 0..<tiles {
                    let p0 = n0 &+ t &* nr
                    let dst = panel + t &* k &* nr
                    if implicit {
                        copyPanel(from: UnsafePointer(padded + p0), offsets: UnsafePointer(offsets), k: k, into: dst)
                    } else {
                        packPanel(g, input: inG, firstColumn: p0, columns: Swift.min(nr, positions &- p0), panel: dst)
                    }
                }
                var k0 = 0
                while k0 < k {
                    let kc = Swift.min(kcMax, k &- k0)
                    var m0 = 0
                    while m0 < ocg {
                        let rows = Swift.min(mr, ocg &- m0)
                        let a = wG + (m0 &* k &+ k0)
                        for t in 0..<tiles {
                            let b = UnsafePointer(panel + (t &* k &+ k0) &* nr), c = cBuf + (t &* ocg &+ m0) &* nr
                            if positions &- (n0 &+ t &* nr) > nr / 2 {
                                microkernel(k: kc, a: a, lda: k, rows: rows, b: b, c: c, accumulate: k0 != 0)
                            } else if (m0 / mr) & 1 == 0 {
                                // A tile of at most one vector's columns (a 3×3 map's 9 pixels, or a last tile):
                                // twice the rows, one vector, so no FMA is spent on empty columns.
                                microkernelNarrow(k: kc, a: a, lda: k, rows: Swift.min(2 &* mr, ocg &- m0), b: b, c: c,
                                                  accumulate: k0 != 0)
                            }
                        }
                        m0 &+= mr
                    }
                    k0 &+= kc
                }
                for t in 0..<tiles {
                    let p0 = n0 &+ t &* nr
                    let cols = Swift.min(nr, positions &- p0)
                    for r in 0..<ocg {
                        let o = grp &* ocg &+ r
                        let b: Float = bias?[o] ?? 0
                        let src = UnsafePointer(cBuf) + (t &* ocg &+ r) &* nr
                        let outRow = output + o &* n
                        if implicit {
                            // Scatter the padded-grid positions that are real outputs (ow < outW).
                            var j = 0
                            var oh = p0 / wp
                            var ow = p0 &- oh &* wp
                            while j < cols {
                                let seg = Swift.min(cols &- j, wp &- ow)
                                let valid = Swift.min(seg, g.outW &- ow)
                                if valid > 0 {
                                    epilogue(src + j, outRow + (oh &* g.outW &+ ow), count: valid, bias: b,
                                             lo: outputMin, hi: outputMax)
                                }
                                j &+= seg
                                ow = 0
                                oh &+= 1
                            }
                        } else {
                            epilogue(src, outRow + p0, count: cols, bias: b, lo: outputMin, hi: outputMax)
                        }
                    }
                }
                n0 &+= nc
            }
        }
    }

    /// panel[k][0..<NR] = padded[offsets[k] + 0..<NR]: contiguous two-vector copies, so the microkernel
    /// reads one dense stream instead of K rows spread over many pages.
    @inline(__always)
    static func copyPanel(from src: UnsafePointer<Float>, offsets: UnsafePointer<Int>, k: Int,
                          into panel: UnsafeMutablePointer<Float>) {
        let vw = FVec.scalarCount
        let s = UnsafeRawPointer(src)
        var d = UnsafeMutableRawPointer(panel)
        for p in 0..<k {
            let sp = s + offsets[p] &* 4
            d.storeBytes(of: sp.loadUnaligned(as: FVec.self), as: FVec.self)
            d.storeBytes(of: sp.loadUnaligned(fromByteOffset: vw &* 4, as: FVec.self), toByteOffset: vw &* 4, as: FVec.self)
            d += 2 &* vw &* 4
        }
    }

    @inline(__always)
    static func epilogue(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, bias: Float,
                         lo: Float, hi: Float) {
        for j in 0..<count { dst[j] = Swift.max(Swift.min(src[j] + bias, hi), lo) }
    }

    /// padded[ci][r][s] = input[ci][r - padTop][s - padLeft], 0 outside; 2·NR zero floats of slack
    /// after it because the last tile reads up to NR positions past the last real output.
    static func padInput(_ g: ConvGeometry, input: UnsafePointer<Float>, hp: Int, wp: Int,
                         into dst: UnsafeMutablePointer<Float>) {
        let inH = g.inH, inW = g.inW
        // Columns [sLo, sHi) of a padded row come from the input.
        let sLo = Swift.min(Swift.max(g.padLeft, 0), wp)
        let sHi = Swift.max(sLo, Swift.min(wp, g.padLeft &+ inW))
        for ci in 0..<g.inCPerGroup {
            let plane = input + ci &* inH &* inW
            for r in 0..<hp {
                let d = dst + (ci &* hp &+ r) &* wp
                let ih = r &- g.padTop
                if ih < 0 || ih >= inH {
                    d.update(repeating: 0, count: wp)
                } else {
                    d.update(repeating: 0, count: sLo)
                    (d + sLo).update(from: plane + (ih &* inW &+ sLo &- g.padLeft), count: sHi &- sLo)
                    (d + sHi).update(repeating: 0, count: wp &- sHi)
                }
            }
        }
        (dst + g.inCPerGroup &* hp &* wp).update(repeating: 0, count: 2 &* tileColumns)
    }

    /// im2col of output columns [firstColumn, firstColumn+columns) into panel[k * NR + j];
    /// columns past `columns` are zero so the microkernel always runs full width.
    static func packPanel(_ g: ConvGeometry, input: UnsafePointer<Float>, firstColumn: Int, columns: Int,
                          panel: UnsafeMutablePointer<Float>) {
        let nr = tileColumns
        let inH = g.inH, inW = g.inW, outW = g.outW
        let sh = g.strideH, sw = g.strideW, dh = g.dilationH, dw = g.dilationW
        let kH = g.kernelH, kW = g.kernelW
        let firstOH = firstColumn / outW
        let firstOW = firstColumn &- firstOH &* outW
        var kIndex = 0
        for ci in 0..<g.inCPerGroup {
            let plane = input + ci &* inH &* inW
            for kh in 0..<kH {
                for kw in 0..<kW {
                    let dst = panel + kIndex &* nr
                    kIndex &+= 1
                    var j = 0
                    var oh = firstOH
                    var ow = firstOW
                    while j < columns {
                        let seg = Swift.min(columns &- j, outW &- ow)
                        let ih = oh &* sh &- g.padTop &+ kh &* dh
                        let d = dst + j
                        if ih < 0 || ih >= inH {
                            for t in 0..<seg { d[t] = 0 }
                        } else {
                            let row = plane + ih &* inW
                            let iw0 = ow &* sw &- g.padLeft &+ kw &* dw
                            // Valid t: 0 <= iw0 + t*sw < inW.
                            var tLo = iw0 >= 0 ? 0 : (sw &- 1 &- iw0) / sw
                            if tLo > seg { tLo = seg }
                            var tHi = iw0 > inW &- 1 ? 0 : (inW &- 1 &- iw0) / sw &+ 1
                            if tHi > seg { tHi = seg }
                            if tHi < tLo { tHi = tLo }
                            var t = 0
                            while t < tLo { d[t] = 0; t &+= 1 }
                            while t < tHi { d[t] = row[iw0 &+ t &* sw]; t &+= 1 }
                            while t < seg { d[t] = 0; t &+= 1 }
                        }
                        j &+= seg
                        ow = 0
                        oh &+= 1
                    }
                    while j < nr { dst[j] = 0; j &+= 1 }
                }
            }
        }
    }

    /// 6 rows x 2 vectors of C accumulate in registers while k steps of the packed panel stream.
    /// Rows past `rows` reuse the last valid W row and are not stored. c is NR floats per row.
    @inline(__always)
    static func microkernel(k: Int, a: UnsafePointer<Float>, lda: Int, rows: Int, b: UnsafePointer<Float>,
                            c: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let vw = FVec.scalarCount
        let a0 = row(a, 0, lda: lda, rows: rows), a1 = row(a, 1, lda: lda, rows: rows), a2 = row(a, 2, lda: lda, rows: rows)
        let a3 = row(a, 3, lda: lda, rows: rows), a4 = row(a, 4, lda: lda, rows: rows), a5 = row(a, 5, lda: lda, rows: rows)
        var c00 = FVec(), c01 = FVec(), c10 = FVec(), c11 = FVec(), c20 = FVec(), c21 = FVec()
        var c30 = FVec(), c31 = FVec(), c40 = FVec(), c41 = FVec(), c50 = FVec(), c51 = FVec()
        var bp = UnsafeRawPointer(b)
        let step = 2 &* vw &* 4
        for p in 0..<k {
            let b0 = bp.loadUnaligned(as: FVec.self)
            let b1 = bp.loadUnaligned(fromByteOffset: vw &* 4, as: FVec.self)
            bp += step
            var w = FVec(repeating: a0[p])
            c00 = madd(c00, w, b0); c01 = madd(c01, w, b1)
            w = FVec(repeating: a1[p])
            c10 = madd(c10, w, b0); c11 = madd(c11, w, b1)
            w = FVec(repeating: a2[p])
            c20 = madd(c20, w, b0); c21 = madd(c21, w, b1)
            w = FVec(repeating: a3[p])
            c30 = madd(c30, w, b0); c31 = madd(c31, w, b1)
            w = FVec(repeating: a4[p])
            c40 = madd(c40, w, b0); c41 = madd(c41, w, b1)
            w = FVec(repeating: a5[p])
            c50 = madd(c50, w, b0); c51 = madd(c51, w, b1)
        }
        let s = vw &* 4
        store(c00, c01, row: 0, rows: rows, c: c, step: step, s: s, accumulate: accumulate)
        store(c10, c11, row: 1, rows: rows, c: c, step: step, s: s, accumulate: accumulate)
        store(c20, c21, row: 2, rows: rows, c: c, step: step, s: s, accumulate: accumulate)
        store(c30, c31, row: 3, rows: rows, c: c, step: step, s: s, accumulate: accumulate)
        store(c40, c41, row: 4, rows: rows, c: c, step: step, s: s, accumulate: accumulate)
        store(c50, c51, row: 5, rows: rows, c: c, step: step, s: s, accumulate: accumulate)
    }

    /// `microkernel` for tiles whose live columns fit one vector: 12 rows × 1 vector, each sum in the same order (so a
    /// column gets the same bits from either kernel). c keeps NR floats per row; the second vector is not written.
    @inline(__always)
    static func microkernelNarrow(k: Int, a: UnsafePointer<Float>, lda: Int, rows: Int, b: UnsafePointer<Float>,
                                  c: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let vw = FVec.scalarCount
        @inline(__always) func w(_ r: Int) -> UnsafePointer<Float> { row(a, r, lda: lda, rows: rows) }
        let a0 = w(0), a1 = w(1), a2 = w(2), a3 = w(3), a4 = w(4), a5 = w(5)
        let a6 = w(6), a7 = w(7), a8 = w(8), a9 = w(9), a10 = w(10), a11 = w(11)
        var c0 = FVec(), c1 = FVec(), c2 = FVec(), c3 = FVec(), c4 = FVec(), c5 = FVec()
        var c6 = FVec(), c7 = FVec(), c8 = FVec(), c9 = FVec(), c10 = FVec(), c11 = FVec()
        var bp = UnsafeRawPointer(b)
        let step = 2 &* vw &* 4
        for p in 0..<k {
            let b0 = bp.loadUnaligned(as: FVec.self)
            bp += step
            c0 = madd(c0, FVec(repeating: a0[p]), b0); c1 = madd(c1, FVec(repeating: a1[p]), b0)
            c2 = madd(c2, FVec(repeating: a2[p]), b0); c3 = madd(c3, FVec(repeating: a3[p]), b0)
            c4 = madd(c4, FVec(repeating: a4[p]), b0); c5 = madd(c5, FVec(repeating: a5[p]), b0)
            c6 = madd(c6, FVec(repeating: a6[p]), b0); c7 = madd(c7, FVec(repeating: a7[p]), b0)
            c8 = madd(c8, FVec(repeating: a8[p]), b0); c9 = madd(c9, FVec(repeating: a9[p]), b0)
            c10 = madd(c10, FVec(repeating: a10[p]), b0); c11 = madd(c11, FVec(repeating: a11[p]), b0)
        }
        @inline(__always) func put(_ v: FVec, _ r: Int) {
            if r < rows { storeVector(v, at: UnsafeMutableRawPointer(c) + r &* step, accumulate: accumulate) }
        }
        put(c0, 0); put(c1, 1); put(c2, 2); put(c3, 3); put(c4, 4); put(c5, 5)
        put(c6, 6); put(c7, 7); put(c8, 8); put(c9, 9); put(c10, 10); put(c11, 11)
    }

    @inline(__always)
    static func store(_ v0: FVec, _ v1: FVec, row: Int, rows: Int, c: UnsafeMutablePointer<Float>, step: Int, s: Int,
                      accumulate: Bool) {
        if row >= rows { return }
        let t = UnsafeMutableRawPointer(c) + row &* step
        storeVector(v0, at: t, accumulate: accumulate)
        storeVector(v1, at: t + s, accumulate: accumulate)
    }

    /// One vector of C: stored, or added to what a previous K block left there.
    @inline(__always)
    static func storeVector(_ v: FVec, at t: UnsafeMutableRawPointer, accumulate: Bool) {
        t.storeBytes(of: accumulate ? v + t.loadUnaligned(as: FVec.self) : v, as: FVec.self)
    }

    /// Row r of W, rows past `rows` repeating the last real one (their sums are computed and not stored).
    @inline(__always)
    static func row(_ a: UnsafePointer<Float>, _ r: Int, lda: Int, rows: Int) -> UnsafePointer<Float> {
        a + Swift.min(r, rows &- 1) &* lda
    }
}
