// Shared source (symlinked into every kernel module): FGQ ternary × uint8 convolution as an int8 GEMM.
//
// Ternary weights are −1/0/+1, so vpmaddubsw (u8 × s8 pairs summed into int16) is exact for them and can even sum
// 64 quads in int16 before widening (SmallWeightMicrokernelMaddubs; the portable build widens to int32). The
// packed two-mask planes (TernaryPlanes) stay at 2 bits per weight in the model: each run expands a block of
// output channels' rows into int8 −1/0/+1 in scratch and multiplies them with the uint8 im2col panel of
// Int8ConvTiled (the zero point on padding taps). FGQ scales need one exact int32 sum per group of `groupSize`
// input channels × kH·kW taps, so the K loop is group-major: one microkernel call per group returns that group's
// 4 × 16 tile in registers, Σ (q − zp)·w = Σ q·w − zp·Σ w (Σ w counted from the masks; the int16 kernel starts its
// lanes at −zp·Σ w split by lane, so the correction costs nothing), and α·sum is added to
// per-(channel, pixel) float sums in group order, then sum·inputScale to the output — TernaryConvReference's
// float operations in its order, so the results are bit-identical.

public enum TernaryConvTiled {
    static let tileRows: Int = TernaryTile.tileRows
    static let tileColumns: Int = TernaryTile.tileColumns
    /// im2col bytes per chunk of output pixels: L3 (2304 × 208) fits whole, so each run expands its weights once.
    static let panelBudget: Int = 512 &* 1024
    /// Expanded weight bytes per block of output channels: the block stays in L2 while the chunk's pixel tiles
    /// sweep it, and one tile's panel (K × 16 bytes) stays in L1 across the block's rows.
    static let weightBudget: Int = 96 &* 1024

    @inline(__always) static func roundUp(_ x: Int, _ m: Int) -> Int { (x &+ m &- 1) / m &* m }

    /// Output pixels per panel chunk (a multiple of the tile width).
    public static func chunkPixels(reductionLength k: Int, outPixels n: Int) -> Int {
        let bytesPerTile = roundUp(k, 4) &* tileColumns
        return Swift.min(roundUp(n, tileColumns), Swift.max(1, panelBudget / bytesPerTile) &* tileColumns)
    }

    /// Quads of one expanded row: each group covers the quads its indices touch (the weights outside it are 0),
    /// so a group that does not start at a multiple of 4 shares a panel quad with its neighbour.
    @inline(__always)
    static func rowQuads(rowLength: Int, groupLength: Int) -> Int {
        if groupLength & 3 == 0 { return (rowLength &+ 3) >> 2 }
        var n = 0, start = 0
        while start < rowLength {
            let end = Swift.min(rowLength, start &+ groupLength)
            n &+= ((end &+ 3) >> 2) &- (start >> 2)
            start = end
        }
        return n
    }

    /// Scratch parts (byte offsets): the expanded rows of a block (`lda` bytes each), one row expanded as is
    /// (unaligned groups are copied from it), α per block quad of rows × group × 4 and the two correction words of
    /// TernaryMicrokernel.tile per block quad × group × 4 × 2, the panel, for
    /// the vector im2col (`usesPaddedInput`) each reduction index's input offset and the zero-point-padded input, and
    /// the reduction bytes of a chunk's column-dot pixels (`columnTail`).
    struct Layout {
        let lda: Int, blockRows: Int, groups: Int, groupLength: Int, chunkPixels: Int
        let row: Int, alphas: Int, corrections: Int, panel: Int, offsets: Int, padded: Int, tailPixels: Int, total: Int

        init(_ g: ConvGeometry, groupSize: Int) {
            let rowLength = g.reductionLength
            groupLength = groupSize &* g.kernelH &* g.kernelW
            chunkPixels = TernaryConvTiled.chunkPixels(reductionLength: rowLength, outPixels: g.outPixels)
            let expanded = roundUp(rowLength, 32)
            lda = roundUp(Swift.max(rowQuads(rowLength: rowLength, groupLength: groupLength) &* 4, expanded), 64)
            blockRows = Swift.min(roundUp(g.outC, tileRows), Swift.max(tileRows, weightBudget / lda / tileRows &* tileRows))
            groups = (rowLength &+ groupLength &- 1) / groupLength
            row = blockRows &* lda
            alphas = row &+ roundUp(expanded, 64)
            corrections = alphas &+ roundUp(blockRows &* groups &* 4, 64)
            panel = corrections &+ roundUp(blockRows &* groups &* 8, 64)
            offsets = panel &+ roundUp(roundUp(rowLength, 4) &* chunkPixels, 64)
            padded = offsets &+ (usesPaddedInput(g) ? roundUp(rowLength &* 4, 64) : 0)
            tailPixels = padded &+ (usesPaddedInput(g) ? roundUp(g.inC &* paddedHeight(g) &* paddedWidth(g) &+ 2 &* paddedSlack, 64) : 0)
            total = tailPixels &+ (TernaryTile.columnDots ? roundUp(maxColumnTail &* roundUp(rowLength, 4), 64) : 0)
        }
    }

    /// Few output pixels (TernaryConvDirect.applies) need only their input rows.
    public static func scratchByteCount(_ g: ConvGeometry, groupSize: Int) -> Int {
        TernaryConvDirect.applies(g, groupSize: groupSize) ? TernaryConvDirect.scratchByteCount(g, groupSize: groupSize) : Layout(g, groupSize: groupSize).total
    }

    /// Once per run, before the first chunk's buildPanel: what every chunk's panel is built from, the zero-point-padded
    /// input of the vector im2col (`usesPaddedInput`). Padded in every chunk, it had been 7 % of L1 (four chunks).
    public static func prepareInput(_ g: ConvGeometry, groupSize: Int, input q: UnsafePointer<UInt8>, zeroPoint: Int32,
                                    scratch: UnsafeMutableRawPointer) {
        guard !TernaryConvDirect.applies(g, groupSize: groupSize) && usesPaddedInput(g) else { return }
        let zp = UInt8(truncatingIfNeeded: Swift.max(0, Swift.min(255, zeroPoint)))
        padInput(g, input: q, zeroPoint: zp, lay: Layout(g, groupSize: groupSize), scratch: scratch)
    }

    /// Packs the im2col panel of output pixels pixelStart ..< pixelStart + count (count ≤ chunkPixels) into the
    /// scratch's panel part: one Int8ConvTiled panel of K × 16 bytes per tile, the zero point on padding taps.
    public static func buildPanel(_ g: ConvGeometry, groupSize: Int, input q: UnsafePointer<UInt8>, zeroPoint: Int32,
                                  pixelStart: Int, count: Int, scratch: UnsafeMutableRawPointer) {
        if TernaryConvDirect.applies(g, groupSize: groupSize) {
            TernaryConvDirect.buildRows(g, input: q, zeroPoint: zeroPoint, pixelStart: pixelStart, count: count, scratch: scratch)
            return
        }
        let lay = Layout(g, groupSize: groupSize)
        let panel = (scratch + lay.panel).assumingMemoryBound(to: UInt8.self)
        let tileBytes = roundUp(g.reductionLength, 4) &* tileColumns
        let zp = UInt8(truncatingIfNeeded: Swift.max(0, Swift.min(255, zeroPoint)))
        let padded = usesPaddedInput(g)
        var t0 = 0
        while t0 < count {
            let cols = Swift.min(tileColumns, count &- t0), tile = panel + t0 / tileColumns &* tileBytes
            if padded {
                packTile(g, firstPixel: pixelStart &+ t0, lay: lay, scratch: scratch, into: tile)
            } else {
                Int8ConvTiled.packPanel(g, input: q, padValue: zp, firstColumn: pixelStart &+ t0, columns: cols, panel: tile,
                                        tileColumns: tileColumns)
            }
            t0 &+= tileColumns
        }
        // The column-dot pixels' reduction bytes out of the last tile's columns, once per chunk for every edge.
        let tail = columnTail(count: count), tiled = count &- tail, kq = roundUp(g.reductionLength, 4)
        let tailBytes = (scratch + lay.tailPixels).assumingMemoryBound(to: UInt8.self)
        for c in 0..<tail {
            let from = panel + (tiled / tileColumns &* tileBytes &+ 4 &* c), to = tailBytes + c &* kq
            for q in 0..<(kq >> 2) {
                UnsafeMutableRawPointer(to + 4 &* q).storeBytes(of: UnsafeRawPointer(from + 64 &* q).loadUnaligned(as: UInt32.self),
                                                                as: UInt32.self)
            }
        }
    }

    /// The vector im2col needs unit column stride (a tile's pixels in one output row read consecutive input bytes)
    /// and rows of at least 4 pixels (a 16-pixel tile then spans at most 5 output rows; 3 from 8 pixels on). With
    /// 7-pixel rows (L4) the scalar im2col had been 29 % of the ternary conv.
    @inline(__always)
    static func usesPaddedInput(_ g: ConvGeometry) -> Bool { g.strideW == 1 && g.outW >= 4 }
    /// Rows and columns of the padded input: every tap of every output pixel reads inside it.
    @inline(__always)
    static func paddedHeight(_ g: ConvGeometry) -> Int { (g.outH &- 1) &* g.strideH &+ (g.kernelH &- 1) &* g.dilationH &+ 1 }
    @inline(__always)
    static func paddedWidth(_ g: ConvGeometry) -> Int { g.outW &+ (g.kernelW &- 1) &* g.dilationW }
    /// Readable bytes before and after the padded input: a tile row's 16-byte load starts up to 15 bytes before its
    /// segment and may end past the last row (those lanes are discarded).
    static let paddedSlack = 16

    /// The input with its zero-point border (padded[c][r][s] = q[c][r − padTop][s − padLeft], zp outside) and the
    /// input offset of every reduction index k = (c·kH + kh)·kW + kw (0 past the row's end; those weights are 0).
    static func padInput(_ g: ConvGeometry, input q: UnsafePointer<UInt8>, zeroPoint zp: UInt8, lay: Layout,
                         scratch: UnsafeMutableRawPointer) {
        let hp = paddedHeight(g), wp = paddedWidth(g)
        let base = (scratch + lay.padded).assumingMemoryBound(to: UInt8.self)
        base.update(repeating: zp, count: paddedSlack)
        let dst = base + paddedSlack
        let sLo = Swift.min(Swift.max(g.padLeft, 0), wp), sHi = Swift.max(sLo, Swift.min(wp, g.padLeft &+ g.inW))
        for c in 0..<g.inC {
            for r in 0..<hp {
                let d = dst + (c &* hp &+ r) &* wp, ih = r &- g.padTop
                if ih < 0 || ih >= g.inH {
                    d.update(repeating: zp, count: wp)
                } else {
                    d.update(repeating: zp, count: sLo)
                    let from: Int = (c &* g.inH &+ ih) &* g.inW &+ sLo &- g.padLeft
                    (d + sLo).update(from: q + from, count: sHi &- sLo)
                    (d + sHi).update(repeating: zp, count: wp &- sHi)
                }
            }
        }
        (dst + g.inC &* hp &* wp).update(repeating: zp, count: paddedSlack)
        let offsets = (scratch + lay.offsets).assumingMemoryBound(to: Int32.self)
        var k = 0
        for c in 0..<g.inC {
            for kh in 0..<g.kernelH {
                for kw in 0..<g.kernelW {
                    offsets[k] = Int32(truncatingIfNeeded: (c &* hp &+ kh &* g.dilationH) &* wp &+ kw &* g.dilationW)
                    k &+= 1
                }
            }
        }
        while k & 3 != 0 { offsets[k] = 0; k &+= 1 }
    }

    /// One tile's panel (16 pixels from firstPixel; Int8ConvTiled's layout) from the padded input: per reduction
    /// index, the tile's pixels of one output row are 16 consecutive bytes at (row start − first lane + offset), so
    /// up to three loads (five for rows under 8 pixels) blended by lane masks give the 16 values; four indices are
    /// then interleaved by widening and shifting. Lanes past the image read the first row's addresses (their outputs
    /// are never stored); a row the tile does not reach has an empty mask.
    static func packTile(_ g: ConvGeometry, firstPixel p0: Int, lay: Layout, scratch: UnsafeMutableRawPointer,
                         into tile: UnsafeMutablePointer<UInt8>) {
        let wp = paddedWidth(g)
        let src = UnsafeRawPointer(scratch + lay.padded + paddedSlack)
        let offsets = UnsafePointer((scratch + lay.offsets).assumingMemoryBound(to: Int32.self))
        let oh0 = p0 / g.outW, ow0 = p0 &- oh0 &* g.outW
        let split1 = g.outW &- ow0, split2 = split1 &+ g.outW
        func start(_ row: Int, lane: Int) -> Int { row < g.outH ? row &* g.strideH &* wp &- lane : oh0 &* g.strideH &* wp &+ ow0 }
        let split3 = split2 &+ g.outW, split4 = split3 &+ g.outW, narrow = g.outW < 8
        let d0 = oh0 &* g.strideH &* wp &+ ow0, d1 = start(oh0 &+ 1, lane: split1), d2 = start(oh0 &+ 2, lane: split2)
        let d3 = start(oh0 &+ 3, lane: split3), d4 = start(oh0 &+ 4, lane: split4)
        var lanes = SIMD16<UInt8>()
        for j in 0..<16 { lanes[j] = UInt8(j) }
        func mask(_ split: Int) -> SIMD16<UInt8> {
            SIMD16<UInt8>(repeating: 0).replacing(with: 0xFF, where: lanes .>= UInt8(Swift.min(split, 16)))
        }
        let m1 = mask(split1), m2 = mask(split2), m3 = mask(split3), m4 = mask(split4)
        let quads = (g.reductionLength &+ 3) >> 2
        let out = UnsafeMutableRawPointer(tile)
        @inline(__always) func row(_ k: Int) -> SIMD16<UInt8> {
            let o = Int(offsets[k])
            @inline(__always) func at(_ d: Int) -> SIMD16<UInt8> { src.loadUnaligned(fromByteOffset: d &+ o, as: SIMD16<UInt8>.self) }
            let v = (((at(d0) & ~m1) | (at(d1) & m1)) & ~m2) | (at(d2) & m2)
            return narrow ? (((v & ~m3) | (at(d3) & m3)) & ~m4) | (at(d4) & m4) : v
        }
        for i in 0..<quads {
            let k = 4 &* i
            TernaryMicrokernel.interleave(row(k), row(k &+ 1), row(k &+ 2), row(k &+ 3), to: out + 64 &* i)
        }
    }

    /// At most this many pixels of a chunk run as column dot products (`columnTail`).
    static let maxColumnTail = 2

    /// How many of a chunk's `count` pixels, the last ones, run as `TernaryTile.column` dot products instead of a
    /// tile: 1 or 2 past a multiple of 16, on the tiles that have them (VNNI).
    @inline(__always) static func columnTail(count: Int) -> Int {
        let tail = count % tileColumns
        return TernaryTile.columnDots && count > tileColumns && tail <= maxColumnTail ? tail : 0
    }

    /// output[o, pixelStart + t] ← inputScale · Σ_groups α[o, g] · Σ_{k ∈ g} T[o, k] · (q − zp) (stored, added, or
    /// added and finished: TernaryEdgeOutput) for every output channel o of one edge (`words`: its packed +1/−1 masks;
    /// `alpha`: [outC, groups]) and t < count, over the panel buildPanel left in `scratch`.
    public static func accumulateEdge(_ g: ConvGeometry, groupSize: Int, scratch: UnsafeMutableRawPointer, count: Int,
                                      pixelStart: Int, words: UnsafePointer<UInt64>, alpha: UnsafePointer<Float>,
                                      zeroPoint: Int32, inputScale: Float, output: TernaryEdgeOutput) {
        if TernaryConvDirect.applies(g, groupSize: groupSize) {
            TernaryConvDirect.accumulateEdge(g, groupSize: groupSize, scratch: scratch, count: count, pixelStart: pixelStart, words: words,
                                             alpha: alpha, zeroPoint: zeroPoint, inputScale: inputScale, output: output)
            return
        }
        let rowLength = g.reductionLength, rows = g.outC
        let groupLength = groupSize &* g.kernelH &* g.kernelW
        let lay = Layout(g, groupSize: groupSize)
        let groups = lay.groups, lda = lay.lda
        let weights = scratch.assumingMemoryBound(to: Int8.self)
        let alphas = (scratch + lay.alphas).assumingMemoryBound(to: Float.self)
        let corrections = (scratch + lay.corrections).assumingMemoryBound(to: Int32.self)
        let panel = UnsafePointer((scratch + lay.panel).assumingMemoryBound(to: UInt8.self))
        let tileBytes = roundUp(rowLength, 4) &* tileColumns
        let widen = TernaryMicrokernel.quadsPerWiden(maxAbsWeight: 1)
        // A uint8 zero point keeps each lane's corrected sum Σ (q − zp)·w as small as the uncorrected one.
        let lanesStartCorrected = zeroPoint >= 0 && zeroPoint <= 255
        // The last 1 or 2 pixels run as column dot products over the reduction bytes buildPanel copied out.
        let tail = columnTail(count: count), tiled = count &- tail
        let tailBytes = (scratch + lay.tailPixels).assumingMemoryBound(to: UInt8.self), kq = roundUp(rowLength, 4)
        var m0 = 0
        while m0 < rows {
            let blockRows = Swift.min(lay.blockRows, roundUp(rows &- m0, tileRows))
            expandBlock(words: words, rows: rows, rowLength: rowLength, groupLength: groupLength, first: m0, count: blockRows,
                        alpha: alpha, zeroPoint: zeroPoint, lay: lay, scratch: scratch)
            var t0 = 0
            while t0 < tiled {
                let cols = Swift.min(tileColumns, tiled &- t0)
                let b = panel + t0 / tileColumns &* tileBytes
                var r0 = 0
                while r0 < blockRows {
                    let a = UnsafePointer(weights + r0 &* lda)
                    // One 16-lane sum per row (one zmm on AVX-512; the same per-lane operations as two 8-lane halves).
                    var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
                    var seg = 0
                    for gi in 0..<groups {
                        let start = gi &* groupLength, end = Swift.min(rowLength, start &+ groupLength)
                        let q0 = start >> 2, quads = ((end &+ 3) >> 2) &- q0
                        let at = (r0 &* groups &+ gi &* tileRows)
                        let t = TernaryTile.tile(quads: quads, a: a + 4 &* seg, lda: lda, b: b + 64 &* q0, quadsPerWiden: widen,
                                                  corrections: corrections + 2 &* at, lanesStartCorrected: lanesStartCorrected)
                        seg &+= quads
                        // The reference's `sum += α · Float(Σ (q − zp)·T)` per lane, groups in order.
                        let al = alphas + at
                        s0 += SIMD16(repeating: al[0]) * floatLanes(t.r0a, t.r0b)
                        s1 += SIMD16(repeating: al[1]) * floatLanes(t.r1a, t.r1b)
                        s2 += SIMD16(repeating: al[2]) * floatLanes(t.r2a, t.r2b)
                        s3 += SIMD16(repeating: al[3]) * floatLanes(t.r3a, t.r3b)
                    }
                    let o = m0 &+ r0, live = rows &- o
                    let y = o &* g.outPixels &+ pixelStart &+ t0
                    output.write(s0 * inputScale, at: y, count: cols, channel: o)
                    if live > 1 { output.write(s1 * inputScale, at: y &+ g.outPixels, count: cols, channel: o &+ 1) }
                    if live > 2 { output.write(s2 * inputScale, at: y &+ 2 &* g.outPixels, count: cols, channel: o &+ 2) }
                    if live > 3 { output.write(s3 * inputScale, at: y &+ 3 &* g.outPixels, count: cols, channel: o &+ 3) }
                    r0 &+= tileRows
                }
                t0 &+= tileColumns
            }
            for c in 0..<tail {
                var r0 = 0
                while r0 < blockRows {
                    let a = UnsafePointer(weights + r0 &* lda)
                    var s = SIMD4<Float>()
                    var seg = 0
                    for gi in 0..<groups {
                        let start = gi &* groupLength, end = Swift.min(rowLength, start &+ groupLength)
                        let q0 = start >> 2, quads = ((end &+ 3) >> 2) &- q0
                        let at = (r0 &* groups &+ gi &* tileRows)
                        let x = UnsafePointer(tailBytes + (c &* kq &+ 4 &* q0))
                        let t = TernaryTile.column(quads: quads, a: a + 4 &* seg, lda: lda, x: x, corrections: corrections + 2 &* at)
                        seg &+= quads
                        // The tile path's per-lane operations: sum += α · Float(Σ (q − zp)·T), groups in order.
                        let al = alphas + at
                        let ft = SIMD4<Float>(Float(t[0]), Float(t[1]), Float(t[2]), Float(t[3]))
                        s += SIMD4<Float>(al[0], al[1], al[2], al[3]) * ft
                    }
                    let o = m0 &+ r0, y = s * inputScale
                    for r in 0..<Swift.min(tileRows, rows &- o) {
                        output.write(y[r], at: (o &+ r) &* g.outPixels &+ pixelStart &+ tiled &+ c, channel: o &+ r)
                    }
                    r0 &+= tileRows
                }
            }
            m0 &+= blockRows
        }
    }

    /// Expands rows first ..< first + count (a multiple of tileRows; rows past the layer read as 0) into the
    /// block's int8 rows in the microkernel's group layout, and stores per row quad, group and row α and the
    /// correction zp·Σw (total, and as TernaryMicrokernel.lanePair of its parts by k mod 4).
    @inline(__always)
    static func expandBlock(words: UnsafePointer<UInt64>, rows: Int, rowLength: Int, groupLength: Int, first: Int, count: Int,
                            alpha: UnsafePointer<Float>, zeroPoint: Int32, lay: Layout, scratch: UnsafeMutableRawPointer) {
        let wordsPerRow = (rowLength &+ 63) >> 6, groups = lay.groups
        let aligned = groupLength & 3 == 0
        let alphas = (scratch + lay.alphas).assumingMemoryBound(to: Float.self)
        let corrections = (scratch + lay.corrections).assumingMemoryBound(to: Int32.self)
        let rowBuffer = (scratch + lay.row).assumingMemoryBound(to: Int8.self)
        for r in 0..<count {
            let o = first &+ r
            let dst = scratch.assumingMemoryBound(to: Int8.self) + r &* lay.lda
            let at = (r / tileRows) &* groups &* tileRows &+ r % tileRows
            if o >= rows {
                dst.update(repeating: 0, count: lay.lda)
                for gi in 0..<groups {
                    alphas[at &+ gi &* tileRows] = 0
                    corrections[2 &* (at &+ gi &* tileRows)] = 0; corrections[2 &* (at &+ gi &* tileRows) &+ 1] = 0
                }
                continue
            }
            let plus = words + o &* wordsPerRow, minus = words + (rows &+ o) &* wordsPerRow
            // Aligned groups: the row itself is the layout (indices past the row are 0: zero padding bits).
            let expanded = aligned ? dst : rowBuffer
            var k = 0
            while k < rowLength {
                let shift = UInt64(k & 63)
                let v = TernaryMicrokernel.expand(plus: UInt32(truncatingIfNeeded: plus[k >> 6] >> shift),
                                                  minus: UInt32(truncatingIfNeeded: minus[k >> 6] >> shift))
                UnsafeMutableRawPointer(expanded + k).storeBytes(of: v, as: SIMD32<Int8>.self)
                k &+= 32
            }
            if aligned {
                (dst + k).update(repeating: 0, count: lay.lda &- k)
            }
            var seg = 0
            for gi in 0..<groups {
                let start = gi &* groupLength, end = Swift.min(rowLength, start &+ groupLength)
                if !aligned {
                    // The group's quads, with the indices of neighbouring groups zeroed.
                    let base = (start >> 2) &* 4, n = (((end &+ 3) >> 2) &- (start >> 2)) &* 4
                    for i in 0..<n {
                        let kk = base &+ i
                        dst[seg &+ i] = kk >= start && kk < end ? rowBuffer[kk] : 0
                    }
                    seg &+= n
                }
                let w = weightSums(plus, minus, start, end)
                let low = zeroPoint &* Int32(truncatingIfNeeded: w.low), sum = zeroPoint &* Int32(truncatingIfNeeded: w.all)
                alphas[at &+ gi &* tileRows] = alpha[o &* groups &+ gi]
                corrections[2 &* (at &+ gi &* tileRows)] = TernaryMicrokernel.lanePair(low: low, high: sum &- low)
                corrections[2 &* (at &+ gi &* tileRows) &+ 1] = sum
            }
            if !aligned { (dst + seg).update(repeating: 0, count: lay.lda &- seg) }
        }
    }

    /// Σw over the indices k in [start, end) (set bits of `plus` minus set bits of `minus`), and over those with
    /// k mod 4 ∈ {0, 1} (the low int16 lane of vpmaddubsw's pair sums).
    @inline(__always)
    static func weightSums(_ plus: UnsafePointer<UInt64>, _ minus: UnsafePointer<UInt64>, _ start: Int, _ end: Int) -> (all: Int, low: Int) {
        let lowLanes: UInt64 = 0x3333_3333_3333_3333
        var all = 0, low = 0
        var w = start >> 6
        while w << 6 < end {
            let first = Swift.max(start &- (w << 6), 0), last = Swift.min(end &- (w << 6), 64)
            let inRange = (~UInt64(0) >> UInt64(64 &- last)) & (~UInt64(0) << UInt64(first))
            let p = plus[w] & inRange, m = minus[w] & inRange
            all &+= p.nonzeroBitCount &- m.nonzeroBitCount
            low &+= (p & lowLanes).nonzeroBitCount &- (m & lowLanes).nonzeroBitCount
            w &+= 1
        }
        return (all, low)
    }
}
