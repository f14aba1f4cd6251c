// Shared source (symlinked into every kernel module): a 6 x (2·FVec) register-blocked GEMM
// C[outC x N] = W[outC x K] · B[K x N] with W used in place (OIHW rows). FVec is one native vector of
// the module (zmm / ymm / xmm), so the same text gives the AVX-512, AVX2 and SSE2 builds.
// B is never materialized ("implicit GEMM"): the input is copied once into a zero-padded buffer (or, at stride 1
// without padding, read where it is) and output positions are numbered over its width, so for a fixed tap (ci, kh, kw) consecutive positions read consecutive
// floats; each tile's panel is copied from it through a per-k offset table. Stride s is undone by storing the padded
// input as s×s phase planes (plane (a, b): padded rows a, a+s, … and columns b, b+s, …): output (oh, ow) at tap
// row r = kh·dH, column c = kw·dW reads plane (r mod s, c mod s) at (oh + r/s, ow + c/s), so strided convs read
// consecutive floats too (at stride 1 the one plane is the padded input). Phases no tap reads (a 1×1 stride-2
// conv reads only (0, 0)) are not stored.

/// Dense and grouped fp32 convolution by a register-blocked GEMM.
public enum FP32ConvTiled {
    /// Rows of W per microkernel tile (broadcast operand).
    public static let tileRows = 6
    /// Columns per tile: two native vectors.
    @inline(__always) public static var tileColumns: Int { 2 &* FVec.scalarCount }

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

    /// Rows and columns of each phase plane.
    @inline(__always) static func phaseHeight(_ g: ConvGeometry) -> Int { (paddedHeight(g) &+ g.strideH &- 1) / g.strideH }
    @inline(__always) static func phaseWidth(_ g: ConvGeometry) -> Int { (paddedWidth(g) &+ g.strideW &- 1) / g.strideW }

    /// Phase rows (or columns) that some tap reads — {t·dilation mod stride} — are stored; `phaseSlot(a)` is a's
    /// place among them, `phaseSlot(stride)` their count.
    @inline(__always) static func phaseSlot(_ a: Int, stride: Int, kernel: Int, dilation: Int) -> Int {
        var slot = 0
        for phase in 0..<a where isPhaseRead(phase, stride: stride, kernel: kernel, dilation: dilation) { slot &+= 1 }
        return slot
    }
    @inline(__always) static func isPhaseRead(_ a: Int, stride: Int, kernel: Int, dilation: Int) -> Bool {
        for t in 0..<kernel where (t &* dilation) % stride == a { return true }
        return false
    }
    /// Stored phase planes per input channel.
    @inline(__always) static func phasePlanes(_ g: ConvGeometry) -> Int {
        phaseSlot(g.strideH, stride: g.strideH, kernel: g.kernelH, dilation: g.dilationH)
            &* phaseSlot(g.strideW, stride: g.strideW, kernel: g.kernelW, dilation: g.dilationW)
    }

    /// Stride 1 without padding (1×1 convs, valid convs): the padded input would be the input itself, so panels are
    /// copied from it and no copy is made (it had been 7 % of a MobileNetV2 run, mostly its 112² 1×1 convs).
    @inline(__always) static func readsInputInPlace(_ g: ConvGeometry) -> Bool {
        g.strideH == 1 && g.strideW == 1 && g.padTop == 0 && g.padLeft == 0 && paddedWidth(g) == g.inW
            && paddedHeight(g) <= g.inH
    }

    /// Positions numbered over the phase width: pos = oh·wq + ow (ow ≥ outW are computed and dropped).
    @inline(__always) static func positionCount(_ g: ConvGeometry) -> Int { (g.outH &- 1) &* phaseWidth(g) &+ g.outW }

    /// Float offsets of the scratch parts: k offsets (Int, 2 floats each), C block (tiles x outC/groups x NR),
    /// packed panels (tiles x K x NR), the padded input's phase planes.
    @inline(__always) static func layout(_ g: ConvGeometry) -> (c: Int, panel: Int, padded: Int, total: Int) {
        let nr = tileColumns
        let blockCols = (Swift.min(columnBlock, positionCount(g)) &+ nr &- 1) / nr &* nr
        let offsets = ((g.reductionLength &* 2) &+ 15) & ~15
        let c = (g.outCPerGroup &* blockCols &+ 15) & ~15
        let panel = (g.reductionLength &* blockCols &+ 15) & ~15
        let padded = readsInputInPlace(g) ? 0 : g.inCPerGroup &* phasePlanes(g) &* phaseHeight(g) &* phaseWidth(g) &+ 2 &* nr
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
        let sh = g.strideH, sw = g.strideW
        let inPlace = readsInputInPlace(g)
        // In place, a channel's plane is the input's (its bottom rows may be unread: phaseHeight ≤ inH).
        let hq = inPlace ? g.inH : phaseHeight(g), wq = phaseWidth(g)
        let rowPhases = phaseSlot(sh, stride: sh, kernel: g.kernelH, dilation: g.dilationH)
        let columnPhases = phaseSlot(sw, stride: sw, kernel: g.kernelW, dilation: g.dilationW)
        // Float offset of tap k = (ci, kh, kw) inside the phase planes.
        var kIndex = 0
        for ci in 0..<icg {
            for kh in 0..<g.kernelH {
                let r = kh &* g.dilationH
                let rowSlot = phaseSlot(r % sh, stride: sh, kernel: g.kernelH, dilation: g.dilationH)
                for kw in 0..<g.kernelW {
                    let c = kw &* g.dilationW
                    let columnSlot = phaseSlot(c % sw, stride: sw, kernel: g.kernelW, dilation: g.dilationW)
                    let plane = (ci &* rowPhases &+ rowSlot) &* columnPhases &+ columnSlot
                    offsets[kIndex] = (plane &* hq &+ r / sh) &* wq &+ c / sw
                    kIndex &+= 1
                }
            }
        }
        let positions = positionCount(g)
        for grp in 0..<g.groups {
            let wG = weights + grp &* ocg &* k
            let inG = input + grp &* icg &* inPlane
            if !inPlace { padInput(g, input: inG, hq: hq, wq: wq, into: padded) }
            let source = inPlace ? inG : UnsafePointer(padded)
            var n0 = 0
            while n0 < positions {
                let nc = Swift.min(columnBlock, positions &- n0)
                let tiles = (nc &+ nr &- 1) / nr
                for t in 0..<tiles {
                    let p0 = n0 &+ t &* nr
                    if inPlace && p0 &+ nr > positions {
                        // The input has no slack: the last tile copies its live columns only.
                        copyPanel(from: source + p0, offsets: UnsafePointer(offsets), k: k, columns: positions &- p0,
                                  into: panel + t &* k &* nr)
                    } else {
                        copyPanel(from: source + p0, offsets: UnsafePointer(offsets), k: k, into: panel + t &* k &* nr)
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
                    // The tile's runs of real outputs, each for every channel row (the runs found once per tile).
                    g.forEachOutputRun(first: p0, count: cols, gridWidth: wq) { j, pixel, count in
                        for r in 0..<ocg {
                            let o = grp &* ocg &+ r
                            epilogue(UnsafePointer(cBuf) + ((t &* ocg &+ r) &* nr &+ j), output + (o &* n &+ pixel),
                                     count: count, bias: bias?[o] ?? 0, lo: outputMin, hi: outputMax)
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

    /// `copyPanel` for a tile with `columns` < NR live positions: the rest of each row is zero.
    static func copyPanel(from src: UnsafePointer<Float>, offsets: UnsafePointer<Int>, k: Int, columns: Int,
                          into panel: UnsafeMutablePointer<Float>) {
        let nr = tileColumns
        for p in 0..<k {
            let sp = src + offsets[p], d = panel + p &* nr
            for j in 0..<nr { d[j] = j < columns ? sp[j] : 0 }
        }
    }

    @inline(__always)
    static func epilogue(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int, bias: Float,
                         lo: Float, hi: Float) {
        let vw = FVec.scalarCount
        let b = FVec(repeating: bias), lov = FVec(repeating: lo), hiv = FVec(repeating: hi)
        var j = 0
        while j &+ vw <= count {
            let v = UnsafeRawPointer(src + j).loadUnaligned(as: FVec.self) + b
            UnsafeMutableRawPointer(dst + j).storeBytes(of: clampLanes(v, lo: lov, hi: hiv), as: FVec.self)
            j &+= vw
        }
        while j < count { dst[j] = Swift.max(Swift.min(src[j] + bias, hi), lo); j &+= 1 }
    }

    /// Phase plane (a, b) of channel ci, row i, column j = padded[ci][i·sH + a][j·sW + b], where
    /// padded[ci][r][c] = input[ci][r − padTop][c − padLeft] and 0 outside, for the phases some tap reads, in
    /// (ci, a, b) order; 2·NR zero floats of slack after the planes because the last tile reads up to NR positions
    /// past the last real output.
    static func padInput(_ g: ConvGeometry, input: UnsafePointer<Float>, hq: Int, wq: Int,
                         into dst: UnsafeMutablePointer<Float>) {
        let inH = g.inH, inW = g.inW, sh = g.strideH, sw = g.strideW
        let columnPhases = phaseSlot(sw, stride: sw, kernel: g.kernelW, dilation: g.dilationW)
        let planeSize = hq &* wq
        // Columns [jLo(b), jHi(b)) of column phase b come from the input: 0 ≤ j·sW + b − padLeft < inW.
        @inline(__always) func columns(_ b: Int) -> (Int, Int) {
            let first = b &- g.padLeft
            let jLo = Swift.min(wq, first >= 0 ? 0 : (sw &- 1 &- first) / sw)
            return (jLo, Swift.max(jLo, Swift.min(wq, inW &- first <= 0 ? 0 : (inW &- 1 &- first) / sw &+ 1)))
        }
        var rowPlanes = dst  // the first plane of the current (ci, a)
        for ci in 0..<g.inCPerGroup {
            let plane = input + ci &* inH &* inW
            for a in 0..<sh where isPhaseRead(a, stride: sh, kernel: g.kernelH, dilation: g.dilationH) {
                for i in 0..<hq {
                    let ih = i &* sh &+ a &- g.padTop
                    let rowStart = rowPlanes + i &* wq
                    if ih < 0 || ih >= inH {
                        for slot in 0..<columnPhases { (rowStart + slot &* planeSize).update(repeating: 0, count: wq) }
                        continue
                    }
                    let inputRow = plane + ih &* inW
                    var slot = 0
                    // Columns [splitStart, splitEnd) of both phases of a stride-2 row come from one pass: 16 inputs,
                    // even lanes to phase 0, odd lanes to phase 1 (as FP32DepthwiseDirect splits its rows).
                    var splitStart = 0, splitEnd = 0
                    if sw == 2 && columnPhases == 2 {
                        let (lo0, hi0) = columns(0), (lo1, hi1) = columns(1)
                        splitStart = Swift.max(lo0, lo1)
                        splitEnd = splitStart
                        let even = UnsafeMutableRawPointer(rowStart), odd = UnsafeMutableRawPointer(rowStart + planeSize)
                        while splitEnd &+ 8 <= Swift.min(hi0, hi1) {
                            let at = inputRow + (2 &* splitEnd &- g.padLeft)
                            let v = UnsafeRawPointer(at).loadUnaligned(as: SIMD16<Float>.self)
                            even.storeBytes(of: v.evenHalf, toByteOffset: 4 &* splitEnd, as: SIMD8<Float>.self)
                            odd.storeBytes(of: v.oddHalf, toByteOffset: 4 &* splitEnd, as: SIMD8<Float>.self)
                            splitEnd &+= 8
                        }
                    }
                    for b in 0..<sw where isPhaseRead(b, stride: sw, kernel: g.kernelW, dilation: g.dilationW) {
                        let d = rowStart + slot &* planeSize
                        slot &+= 1
                        let (jLo, jHi) = columns(b)
                        let base = b &- g.padLeft  // input column of phase column j is base + j·sW
                        d.update(repeating: 0, count: jLo)
                        if sw == 1 {
                            (d + jLo).update(from: inputRow + (base &+ jLo), count: jHi &- jLo)
                        } else {
                            var j = jLo
                            while j < Swift.min(jHi, splitStart) { d[j] = inputRow[base &+ j &* sw]; j &+= 1 }
                            j = Swift.max(j, splitEnd)
                            while j < jHi { d[j] = inputRow[base &+ j &* sw]; j &+= 1 }
                        }
                        (d + jHi).update(repeating: 0, count: wq &- jHi)
                    }
                }
                rowPlanes += columnPhases &* planeSize
            }
        }
        rowPlanes.update(repeating: 0, count: 2 &* tileColumns)
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
