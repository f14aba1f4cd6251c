// Shared source (symlinked into every kernel module). Bit-serial convolution over BitPlaneLayout data:
// activation bit-planes are gathered into panels of `BinaryMicrokernel.panelWidth` pixels ([k word][pixel],
// padded taps as zero words), and the module's BinaryMicrokernel accumulates popcounts for 4 output
// channels × panelWidth pixels while the K = taps · ⌈C/64⌉ words stream (DESIGN.md, "Bit-serial math").

/// Bit-serial conv: w1a1 bipolar (xor), and k-bit weights × m-bit unsigned activations (and).
public enum BinaryConvTiled {
    @inline(__always) static func roundUp64(_ x: Int) -> Int { (x &+ 63) & ~63 }

    /// Byte offsets of the scratch parts: panels (all activation planes), per-column valid-tap count,
    /// padded-tap mask and activation sum, per-(tap, o) weight popcounts (rows of outC + 8, so an 8-channel
    /// vector load at any tile start stays inside), two int32 tiles, each tap's input offset in words, each
    /// (tap, column)'s input offset in words (Int32, −1 for padding) of a panel, a packed output word per column
    /// (storePacked), and the words of a short panel's pixels in a row (`BinaryTiles.pixelWords`).
    @inline(__always)
    static func layout(_ g: ConvGeometry, actBits: Int)
        -> (valid: Int, mask: Int, actSum: Int, tapPop: Int, acc: Int, part: Int, tapWords: Int, tapSource: Int, word: Int,
            pixelWords: Int, total: Int) {
        let nr = BinaryMicrokernel.panelWidth, mr = BinaryMicrokernel.tileRows
        let taps = g.kernelH &* g.kernelW
        let k = taps &* ((g.inC &+ 63) >> 6)
        let panel = roundUp64(actBits &* k &* nr &* 8)
        let valid = panel, mask = valid &+ roundUp64(nr &* 4), actSum = mask &+ roundUp64(nr &* 8)
        let tapPop = actSum &+ roundUp64(nr &* 4)
        let acc = tapPop &+ roundUp64(taps &* tapPopStride(g) &* 4)
        let part = acc &+ roundUp64(mr &* nr &* 4)
        let tapWords = part &+ roundUp64(mr &* nr &* 4)
        let tapSource = tapWords &+ roundUp64(taps &* 8)
        let word = tapSource &+ roundUp64(taps &* nr &* 4)
        let pixelWords = word &+ roundUp64(nr &* 8)
        return (valid, mask, actSum, tapPop, acc, part, tapWords, tapSource, word, pixelWords,
                pixelWords &+ roundUp64(BinaryMicrokernel.pixelColumns &* actBits &* k &* 8))
    }

    @inline(__always) static func tapPopStride(_ g: ConvGeometry) -> Int { g.outC &+ 8 }

    /// A tile row's sums from column c (8 lanes) with the integer fix-ups both epilogues (floats, storePacked) take:
    /// w1a1 (`xorMode`): Σ_valid (C − 2·pop(a ^ w)) = valid·C − 2·(Σ_all pop − Σ_padded pop(w)); bipolar weights ×
    /// unsigned activations: − Σ_i 2^i pop(a_i); otherwise the sums as they are.
    @inline(__always)
    static func fixedSums(_ row: UnsafePointer<Int32>, _ c: Int, validTaps: UnsafePointer<Int32>, actSum: UnsafePointer<Int32>,
                          xorMode: Bool, wBipolar: Bool, inC: Int32) -> SIMD8<Int32> {
        let a = UnsafeRawPointer(row + c).loadUnaligned(as: SIMD8<Int32>.self)
        if xorMode { return UnsafeRawPointer(validTaps + c).loadUnaligned(as: SIMD8<Int32>.self) &* inC &- 2 &* a }
        return wBipolar ? a &- UnsafeRawPointer(actSum + c).loadUnaligned(as: SIMD8<Int32>.self) : a
    }

    /// `fixedSums` for column c alone.
    @inline(__always)
    static func fixedSum(_ row: UnsafePointer<Int32>, _ c: Int, validTaps: UnsafePointer<Int32>, actSum: UnsafePointer<Int32>,
                         xorMode: Bool, wBipolar: Bool, inC: Int32) -> Int32 {
        xorMode ? validTaps[c] &* inC &- 2 &* row[c] : wBipolar ? row[c] &- actSum[c] : row[c]
    }

    public static func scratchByteCount(_ g: ConvGeometry, actBits: Int) -> Int { layout(g, actBits: actBits).total &+ 64 }

    /// Which tile this build runs (e.g. "pshufb 4x8").
    public static var microkernelName: String { BinaryMicrokernel.name }

    /// Encodings are BitPlaneEncoding raw values (0 bipolar, 1 unsigned, 2 two's complement); the
    /// caller (BinaryConv) has checked the combination: both bipolar, or unsigned activations.
    /// acc[o][p] (int32, exact) and/or y = clamp(Float(acc)·scales[o] + bias[o]) are written NCHW, for the
    /// output channels in `channels` and output pixels in `pixels` only (a session's threads each take a range of
    /// one; every value is an exact integer sum and its own epilogue, so it comes out the same in any range).
    /// With `packedOutput`, the output is written instead as the next bit-serial layer's 1-bit packed input, each bit
    /// packedSigns[o] · a ≥ packedThresholds[o] (`storePacked`); `channels` must then start at a multiple of 64 and
    /// end at one or at g.outC.
    /// With `residual` (float output only), each float y becomes clamp(y + residual[same index], residualMin,
    /// residualMax) in BinaryStep's order (a residual Add and its fused ReLU/Clip folded into this epilogue).
    /// With `packedCopy` (float output only), the final floats are also written as a 1-bit packed plane (channels
    /// g.outC, vectors g.outPixels), bit = y ≥ packedCopyThreshold — the next bit-serial layers' input packing
    /// (ActivationPacking.packOnePlane's compare) done here; `channels` as for `packedOutput`.
    public static func run(_ g: ConvGeometry, activations: UnsafePointer<UInt64>, actBits: Int, actEncoding: Int,
                           weights: UnsafePointer<UInt64>, weightBits: Int, weightEncoding: Int,
                           scales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           accumulators: UnsafeMutablePointer<Int32>?, output: UnsafeMutablePointer<Float>?,
                           scratch: UnsafeMutableRawPointer, outputMin: Float, outputMax: Float,
                           channels: Range<Int>, pixels: Range<Int>, packedOutput: UnsafeMutablePointer<UInt64>? = nil,
                           packedThresholds: UnsafePointer<Int32>? = nil, packedSigns: UnsafePointer<Int32>? = nil,
                           residual: UnsafePointer<Float>? = nil, residualMin: Float = -.infinity, residualMax: Float = .infinity,
                           packedCopy: UnsafeMutablePointer<UInt64>? = nil, packedCopyThreshold: Float = 0) {
        let words = (g.inC &+ 63) >> 6
        let taps = g.kernelH &* g.kernelW
        let k = taps &* words
        let actPlane = g.inH &* g.inW &* words
        let wPlane = g.outC &* k
        let xorMode = actEncoding == 0
        let wBipolar = weightEncoding == 0
        let nr = BinaryMicrokernel.panelWidth, mr = BinaryMicrokernel.tileRows
        let lay = layout(g, actBits: actBits)
        let panel = scratch.assumingMemoryBound(to: UInt64.self)
        let validTaps = (scratch + lay.valid).assumingMemoryBound(to: Int32.self)
        let padMask = (scratch + lay.mask).assumingMemoryBound(to: UInt64.self)
        let actSum = (scratch + lay.actSum).assumingMemoryBound(to: Int32.self)
        let tapPop = (scratch + lay.tapPop).assumingMemoryBound(to: Int32.self)
        let accT = (scratch + lay.acc).assumingMemoryBound(to: Int32.self)
        let part = (scratch + lay.part).assumingMemoryBound(to: Int32.self)
        let ldTapPop = tapPopStride(g)
        if xorMode {
            // A padded tap reads zero activation words, so pop(0 ^ w) = pop(w) must be taken back out.
            for o in channels {
                for t in 0..<taps {
                    var s = 0
                    for u in 0..<words { s &+= weights[(o &* taps &+ t) &* words &+ u].nonzeroBitCount }
                    tapPop[t &* ldTapPop &+ o] = Int32(truncatingIfNeeded: s)
                }
            }
            for t in 0..<taps { (tapPop + (t &* ldTapPop &+ channels.upperBound)).update(repeating: 0, count: 7) }
        }
        let n = g.outPixels
        let inC = Int32(truncatingIfNeeded: g.inC)
        // Input offset (in words) of each tap from a pixel's first tap, and the window's last row and column.
        let tapWords = (scratch + lay.tapWords).assumingMemoryBound(to: Int.self)
        let tapSource = (scratch + lay.tapSource).assumingMemoryBound(to: Int32.self)
        for kh in 0..<g.kernelH {
            for kw in 0..<g.kernelW { tapWords[kh &* g.kernelW &+ kw] = (kh &* g.dilationH &* g.inW &+ kw &* g.dilationW) &* words }
        }
        let lastRow = (g.kernelH &- 1) &* g.dilationH, lastColumn = (g.kernelW &- 1) &* g.dilationW
        let lo = SIMD8<Float>(repeating: outputMin), hi = SIMD8<Float>(repeating: outputMax)
        let clampsLow = outputMin > -.infinity, clampsHigh = outputMax < .infinity
        // The output the tile writes itself (`BinaryTiles.FloatOutput`): floats only, sums with no fix-up.
        let plainFloats = wBipolar || xorMode || accumulators != nil || residual != nil || packedCopy != nil || packedOutput != nil
            ? nil : output
        precondition(packedCopy == nil || nr <= 16, "BinaryConvTiled: a packed copy gathers at most two 8-column blocks")
        let word = (scratch + lay.word).assumingMemoryBound(to: UInt64.self)
        var p0 = pixels.lowerBound
        while p0 < pixels.upperBound {
            let cols = Swift.min(nr, pixels.upperBound &- p0)
            let oh = p0 / g.outW, ow = p0 &- oh &* g.outW
            let rowIH = oh &* g.strideH &- g.padTop, rowIW = ow &* g.strideW &- g.padLeft
            let interior = cols == nr && ow &+ nr <= g.outW && rowIH >= 0 && rowIH &+ lastRow < g.inH && rowIW >= 0
                && rowIW &+ (nr &- 1) &* g.strideW &+ lastColumn < g.inW
            let step = g.strideW &* words
            if interior {
                // The panel is part of one output row and all its taps lie inside: its columns read input pixels
                // strideW apart from each tap's offset, with no per-column bounds checks (the per-column gather had
                // been a quarter of L1 w1a1 on Zen 4).
                let start = (rowIH &* g.inW &+ rowIW) &* words
                for t in 0..<taps {
                    let first = start &+ tapWords[t]
                    for c in 0..<nr { tapSource[t &* nr &+ c] = Int32(truncatingIfNeeded: first &+ c &* step) }
                }
                for c in 0..<nr { validTaps[c] = Int32(truncatingIfNeeded: taps); padMask[c] = 0 }
            } else {
                tapSources(g, words: words, firstPixel: p0, columns: cols, into: tapSource,
                           validTaps: xorMode ? validTaps : nil, padMask: xorMode ? padMask : nil)
            }
            // The panel from the (tap, column) offsets, a pixel vector at a time, padded taps as zero words. Built
            // lane by lane: left to itself, LLVM vectorized a column's copy over its words and wrote them with
            // vpscatterqq (L1 w2a2 0.54 → 0.50 ms without). An interior panel has no padded taps to test for, and with
            // one word per pixel at stride 1 (64 input channels) each tap's row is nr consecutive words, copied as
            // vectors (L1 w2a2 0.479 → 0.469 ms, w1a1 0.196 → 0.190). Edge panels built by output-row segments, with
            // the padding as a zeroed panel, were slower (L2/L3 w1a1 +3 %: the zeroing, and fewer registers in `run`).
            for i in 0..<actBits {
                let plane = activations + i &* actPlane, dst = panel + i &* k &* nr
                for t in 0..<taps {
                    let from = tapSource + t &* nr, to = dst + t &* words &* nr
                    if interior && step == 1 {
                        let src = UnsafeRawPointer(plane + Int(from[0]))
                        var c = 0
                        while c < nr {
                            UnsafeMutableRawPointer(to + c).storeBytes(of: src.loadUnaligned(fromByteOffset: 8 &* c, as: BinaryLanes.self),
                                                                       as: BinaryLanes.self)
                            c &+= BinaryLanes.scalarCount
                        }
                        continue
                    }
                    for u in 0..<words {
                        var c = 0
                        while c < nr {
                            var v = BinaryLanes()
                            if interior {
                                for j in 0..<BinaryLanes.scalarCount { v[j] = plane[Int(from[c &+ j]) &+ u] }
                            } else {
                                for j in 0..<BinaryLanes.scalarCount {
                                    let o = Int(from[c &+ j])
                                    if o >= 0 { v[j] = plane[o &+ u] }
                                }
                            }
                            UnsafeMutableRawPointer(to + (u &* nr &+ c)).storeBytes(of: v, as: BinaryLanes.self)
                            c &+= BinaryLanes.scalarCount
                        }
                    }
                }
            }
            if wBipolar && !xorMode {
                for c in 0..<nr {
                    var s = 0
                    for i in 0..<actBits {
                        var pi = 0
                        for kk in 0..<k { pi &+= panel[(i &* k &+ kk) &* nr &+ c].nonzeroBitCount }
                        s &+= pi &<< i
                    }
                    actSum[c] = Int32(truncatingIfNeeded: s)
                }
            }
            // A panel of a few live pixels runs them one at a time with words along the lanes (`pixelPlanes`).
            let byPixel = cols <= BinaryMicrokernel.pixelColumns && k % BinaryLanes.scalarCount == 0
            let pixelWords = (scratch + lay.pixelWords).assumingMemoryBound(to: UInt64.self)
            if byPixel {
                BinaryTiles.pixelWords(panel, aPlane: k &* nr, k: k, actBits: actBits, columns: cols, into: pixelWords)
            }
            var m0 = channels.lowerBound
            while m0 < channels.upperBound {
                let rows = Swift.min(mr, channels.upperBound &- m0)
                if byPixel && xorMode {
                    BinaryTiles.pixelPlanes(BinaryTiles.XorWords.self, k: k, w: weights + m0 &* k, ldw: k, wPlane: 0, weightBits: 1,
                                            negativeTop: false, rows: rows, actBits: 1, shift: 0, columns: cols,
                                            pixelWords: pixelWords, out: accT)
                } else if byPixel {
                    BinaryTiles.pixelPlanes(BinaryTiles.AndWords.self, k: k, w: weights + m0 &* k, ldw: k, wPlane: wPlane,
                                            weightBits: weightBits, negativeTop: weightEncoding == 2, rows: rows,
                                            actBits: actBits, shift: wBipolar ? 1 : 0, columns: cols, pixelWords: pixelWords,
                                            out: accT)
                } else if xorMode {
                    BinaryMicrokernel.tile(k: k, w: weights + m0 &* k, ldw: k, rows: rows, panel: UnsafePointer(panel),
                                           columns: cols, xor: true, out: accT)
                } else if BinaryMicrokernel.fusesPlanes {
                    // Floats only and sums that need no fix-up: the tile writes them from its registers.
                    let floats = plainFloats.map {
                        BinaryTiles.FloatOutput(output: $0 + (m0 &* n &+ p0), rowStride: n, scales: scales + m0,
                                                bias: bias.map { $0 + m0 }, outputMin: outputMin, outputMax: outputMax, columns: cols)
                    }
                    BinaryTiles.vectorPlanes(k: k, w: weights + m0 &* k, ldw: k, wPlane: wPlane, weightBits: weightBits,
                                             negativeTop: weightEncoding == 2, rows: rows, panel: UnsafePointer(panel),
                                             aPlane: k &* nr, actBits: actBits, shift: wBipolar ? 1 : 0, columns: cols,
                                             out: accT, floats: floats)
                    if floats != nil {
                        m0 &+= mr
                        continue
                    }
                } else {
                    accT.update(repeating: 0, count: mr &* nr)
                    for i in 0..<actBits {
                        for j in 0..<weightBits {
                            BinaryMicrokernel.tile(k: k, w: weights + (j &* wPlane &+ m0 &* k), ldw: k, rows: rows,
                                                   panel: UnsafePointer(panel + (i &* k &* nr)), columns: cols, xor: false,
                                                   out: part)
                            // bipolar w = 2b − 1: 2·Σ 2^i pop(a_i & b) here, − Σ 2^i pop(a_i) in the epilogue.
                            let shift = Int32(truncatingIfNeeded: i &+ j &+ (wBipolar ? 1 : 0))
                            if weightEncoding == 2 && j == weightBits &- 1 {
                                for e in 0..<(mr &* nr) { accT[e] &-= part[e] &<< shift }
                            } else {
                                for e in 0..<(mr &* nr) { accT[e] &+= part[e] &<< shift }
                            }
                        }
                    }
                }
                if xorMode {
                    // Padded taps read zero words, so pop(0 ^ w) of those taps comes out again, 8 channels at once.
                    for c in 0..<cols where padMask[c] != 0 {
                        var m = padMask[c]
                        var corr = SIMD8<Int32>()
                        while m != 0 {
                            let t = m.trailingZeroBitCount
                            corr &+= UnsafeRawPointer(tapPop + (t &* ldTapPop &+ m0)).loadUnaligned(as: SIMD8<Int32>.self)
                            m &= m &- 1
                        }
                        for r in 0..<rows { accT[r &* nr &+ c] &-= corr[r] }
                    }
                }
                // This tile completes its 64-channel words: both packed outputs store them after it.
                let endsWord = (m0 &+ rows) & 63 == 0 || m0 &+ rows == channels.upperBound
                if let packedOutput, let packedThresholds, let packedSigns {
                    storePacked(g, acc: accT, validTaps: validTaps, actSum: actSum, xorMode: xorMode, wBipolar: wBipolar,
                                rows: rows, cols: cols, m0: m0, p0: p0, thresholds: packedThresholds, signs: packedSigns,
                                word: word, last: endsWord, words: packedOutput)
                    m0 &+= mr
                    continue
                }
                if let output, accumulators == nil, residual == nil, packedCopy == nil {
                    // Floats only, the usual case, in a loop with no optional outputs to test: in the general loop
                    // below they were reloaded and tested per vector, 20 % of a 1x1 conv's (L5) w2a2 time. An infinite
                    // bound's half of `clampLanes` changes no lane (NaN included), so it is left out; the last
                    // columns of a short panel (a 14² map's 4) are one vector stored lane by lane.
                    @inline(__always) func value(_ a: SIMD8<Int32>, _ sv: SIMD8<Float>, _ bv: SIMD8<Float>) -> SIMD8<Float> {
                        clampLanes(floatLanes(a) * sv + bv, lo: lo, hi: hi, low: clampsLow, high: clampsHigh)
                    }
                    for r in 0..<rows {
                        let o = m0 &+ r, row = accT + r &* nr, out = output + (o &* n &+ p0)
                        let scale = scales[o], b: Float = bias?[o] ?? 0
                        let sv = SIMD8<Float>(repeating: scale), bv = SIMD8<Float>(repeating: b)
                        var c = 0
                        while nr >= 8 && c &+ 8 <= cols {
                            let a = fixedSums(row, c, validTaps: validTaps, actSum: actSum, xorMode: xorMode, wBipolar: wBipolar, inC: inC)
                            UnsafeMutableRawPointer(out + c).storeBytes(of: value(a, sv, bv), as: SIMD8<Float>.self)
                            c &+= 8
                        }
                        if nr >= 8 && c < cols {   // the tile's rows and column arrays are nr ≥ c + 8 wide
                            let y = value(fixedSums(row, c, validTaps: validTaps, actSum: actSum, xorMode: xorMode, wBipolar: wBipolar,
                                                    inC: inC), sv, bv)
                            for j in 0..<(cols &- c) { out[c &+ j] = y[j] }
                            c = cols
                        }
                        while c < cols {
                            let a = fixedSum(row, c, validTaps: validTaps, actSum: actSum, xorMode: xorMode, wBipolar: wBipolar, inC: inC)
                            out[c] = Int8Quantization.dequantize(a, scale: scale, bias: b, outputMin: outputMin, outputMax: outputMax)
                            c &+= 1
                        }
                    }
                    m0 &+= mr
                    continue
                }
                if packedCopy != nil && m0 & 63 == 0 { word.update(repeating: 0, count: nr) }
                epilogue(accT, rows: rows, firstRow: m0, firstColumn: p0, columns: cols, outPixels: n, scales: scales, bias: bias,
                         validTaps: validTaps, actSum: actSum, xorMode: xorMode, wBipolar: wBipolar, inC: inC,
                         accumulators: accumulators, output: output, outputMin: outputMin, outputMax: outputMax, residual: residual,
                         residualMin: residualMin, residualMax: residualMax, packedCopy: packedCopy != nil,
                         packedCopyThreshold: packedCopyThreshold, word: word)
                if let packedCopy, endsWord {
                    let wpv = (g.outC &+ 63) >> 6
                    storeWords(word, cols: cols, into: packedCopy + (p0 &* wpv &+ m0 >> 6), stride: wpv)
                }
                m0 &+= mr
            }
            p0 &+= nr
        }
    }

    /// tapSource[t·NR + c] = the word offset of tap t of column c's pixel, or −1 where the tap is padding or
    /// c ≥ `columns`, four columns at a time; for xor mode also each column's taps inside the input (`validTaps`) and
    /// its padded taps as a mask (`padMask`: their pop(0 ^ w) comes out again). Tap by tap and column by column with
    /// its bounds tests, this had been a third of `run` on L1 w2a2; out of line, so `run`'s registers stay its own
    /// (inside it, w1a1 L5 lost 10 %).
    @inline(never)
    static func tapSources(_ g: ConvGeometry, words: Int, firstPixel p0: Int, columns cols: Int,
                           into tapSource: UnsafeMutablePointer<Int32>, validTaps: UnsafeMutablePointer<Int32>?,
                           padMask: UnsafeMutablePointer<UInt64>?) {
        let nr = BinaryMicrokernel.panelWidth
        var oh = p0 / g.outW, ow = p0 &- oh &* g.outW
        let inH = SIMD4<Int32>(repeating: Int32(truncatingIfNeeded: g.inH))
        let inW = SIMD4<Int32>(repeating: Int32(truncatingIfNeeded: g.inW))
        let w = Int32(truncatingIfNeeded: words)
        var c = 0
        while c < nr {
            var ih0 = SIMD4<Int32>(), iw0 = SIMD4<Int32>()
            var valid = SIMD4<Int32>(), masks = SIMD4<UInt64>()
            let live = SIMD4<Int32>(0, 1, 2, 3) .< SIMD4<Int32>(repeating: Int32(truncatingIfNeeded: cols &- c))
            for l in 0..<4 {
                // A column past `cols` gets a row no tap reaches.
                ih0[l] = c &+ l < cols ? Int32(truncatingIfNeeded: oh &* g.strideH &- g.padTop) : Int32.min / 2
                iw0[l] = Int32(truncatingIfNeeded: ow &* g.strideW &- g.padLeft)
                ow &+= 1
                if ow == g.outW { ow = 0; oh &+= 1 }
            }
            for kh in 0..<g.kernelH {
                let ih = ih0 &+ Int32(truncatingIfNeeded: kh &* g.dilationH)
                let rowInside = (ih .>= 0) .& (ih .< inH)
                for kw in 0..<g.kernelW {
                    let iw = iw0 &+ Int32(truncatingIfNeeded: kw &* g.dilationW)
                    let inside = rowInside .& (iw .>= 0) .& (iw .< inW)
                    let source = SIMD4<Int32>(repeating: -1).replacing(with: (ih &* inW &+ iw) &* w, where: inside)
                    let t = kh &* g.kernelW &+ kw
                    UnsafeMutableRawPointer(tapSource + (t &* nr &+ c)).storeBytes(of: source, as: SIMD4<Int32>.self)
                    if validTaps != nil {
                        valid &+= SIMD4<Int32>().replacing(with: 1, where: inside)
                        let padded = live .& .!inside
                        if t < 64 {
                            for l in 0..<4 where padded[l] { masks[l] |= 1 << UInt64(t) }
                        }
                    }
                }
            }
            if let validTaps, let padMask {
                UnsafeMutableRawPointer(validTaps + c).storeBytes(of: valid, as: SIMD4<Int32>.self)
                for l in 0..<4 { padMask[c &+ l] = masks[l] }
            }
            c &+= 4
        }
    }

    /// The general epilogue of a tile's rows (accumulators, residual, packed copy; `run`'s plain loops take the rest):
    /// the integer fix-up, `Int8Quantization.dequantize`'s operations, the residual Add with its clamp, and the packed
    /// copy's bits into `word`. Out of line: inside `run` its clamp vectors and bit accumulators went to the stack
    /// whenever the function around it grew (M1 w1a1 3.9 → 4.4 ms after a change elsewhere in `run`).
    @inline(never)
    static func epilogue(_ accT: UnsafeMutablePointer<Int32>, rows: Int, firstRow m0: Int, firstColumn p0: Int, columns cols: Int,
                         outPixels n: Int, scales: UnsafePointer<Float>, bias: UnsafePointer<Float>?, validTaps: UnsafePointer<Int32>,
                         actSum: UnsafePointer<Int32>, xorMode: Bool, wBipolar: Bool, inC: Int32,
                         accumulators: UnsafeMutablePointer<Int32>?, output: UnsafeMutablePointer<Float>?, outputMin: Float,
                         outputMax: Float, residual: UnsafePointer<Float>?, residualMin: Float, residualMax: Float,
                         packedCopy: Bool, packedCopyThreshold: Float, word: UnsafeMutablePointer<UInt64>) {
        let nr = BinaryMicrokernel.panelWidth
        let lo = SIMD8<Float>(repeating: outputMin), hi = SIMD8<Float>(repeating: outputMax)
        let rlo = SIMD8<Float>(repeating: residualMin), rhi = SIMD8<Float>(repeating: residualMax)
        let copyThreshold = SIMD8<Float>(repeating: packedCopyThreshold)
        // The packed copy's bits of the tile's first two 8-column blocks (panels are at most 16 wide) gather in
        // registers over its rows; through `word` each row was a load-or-store on the same slot (a store-
        // forwarding chain that cost more than the packing pass it saves).
        var bits0 = SIMD8<UInt64>(), bits1 = SIMD8<UInt64>()
        for r in 0..<rows {
            let o = m0 &+ r, row = accT + r &* nr, idx = o &* n &+ p0
            let scale = scales[o], b: Float = bias?[o] ?? 0
            let sv = SIMD8<Float>(repeating: scale), bv = SIMD8<Float>(repeating: b)
            // The integer fix-up and Int8Quantization.dequantize in one pass over the row, 8 lanes at a time.
            var c = 0
            while nr >= 8 && c &+ 8 <= cols {   // compiles away for panels under 8 columns (portable)
                let a = fixedSums(row, c, validTaps: validTaps, actSum: actSum, xorMode: xorMode, wBipolar: wBipolar, inC: inC)
                if let accumulators { UnsafeMutableRawPointer(accumulators + (idx &+ c)).storeBytes(of: a, as: SIMD8<Int32>.self) }
                if let output {
                    var y = clampLanes(floatLanes(a) * sv + bv, lo: lo, hi: hi)
                    if let residual {
                        y = clampLanesLowFirst(y + UnsafeRawPointer(residual + (idx &+ c)).loadUnaligned(as: SIMD8<Float>.self),
                                               lo: rlo, hi: rhi)
                    }
                    UnsafeMutableRawPointer(output + (idx &+ c)).storeBytes(of: y, as: SIMD8<Float>.self)
                    if packedCopy {
                        // The channel's bit in 32-bit lanes (a float-compare mask blends them), then its half.
                        let bit = SIMD8<UInt32>(repeating: 1 &<< UInt32(truncatingIfNeeded: o & 31))
                            .replacing(with: 0, where: .!(y .>= copyThreshold))
                        let v = SIMD8<UInt64>(truncatingIfNeeded: bit) &<< UInt64(truncatingIfNeeded: o & 32)
                        if c == 0 { bits0 |= v } else { bits1 |= v }
                    }
                }
                c &+= 8
            }
            while c < cols {
                let a = fixedSum(row, c, validTaps: validTaps, actSum: actSum, xorMode: xorMode, wBipolar: wBipolar, inC: inC)
                accumulators?[idx &+ c] = a
                let y = Int8Quantization.dequantize(a, scale: scale, bias: b, outputMin: outputMin, outputMax: outputMax)
                let final = residual.map { Swift.min(Swift.max(y + $0[idx &+ c], residualMin), residualMax) } ?? y
                output?[idx &+ c] = final
                if packedCopy && final >= packedCopyThreshold { word[c] |= 1 &<< UInt64(truncatingIfNeeded: o & 63) }
                c &+= 1
            }
        }
        if nr >= 8 && packedCopy && cols >= 8 {
            let at = UnsafeMutableRawPointer(word)
            at.storeBytes(of: at.load(as: SIMD8<UInt64>.self) | bits0, as: SIMD8<UInt64>.self)
            if cols >= 16 { at.storeBytes(of: at.load(fromByteOffset: 64, as: SIMD8<UInt64>.self) | bits1, toByteOffset: 64, as: SIMD8<UInt64>.self) }
        }
    }
}

/// The two register-blocked tiles a module's BinaryMicrokernel chooses from.
enum BinaryTiles {
    /// out[r·NR + c] = Σ_k pop(w[r][k] op panel[k][c]) for 8 rows, NR = 2 · lanes; lanes are pixels, each weight
    /// word is broadcast. `BinaryLanes` and `popcountLanes` come from the module (vpopcntq, …). Rows past `rows`
    /// repeat the last real one; their sums are computed and ignored. With `columns` ≤ lanes only the first pixel
    /// vector is counted (the second's sums stay 0): a map's last panel, such as the 4 pixels of a 14² map after
    /// 12 full panels, then costs half a tile.
    @inline(__always)
    static func vector(k: Int, w: UnsafePointer<UInt64>, ldw: Int, rows: Int, panel: UnsafePointer<UInt64>,
                       columns: Int, xor: Bool, out: UnsafeMutablePointer<Int32>) {
        let half = columns <= BinaryLanes.scalarCount
        switch (xor, half) {
        case (true, false): vectorRows(XorWords.self, BothVectors.self, k: k, w: w, ldw: ldw, rows: rows, panel: panel, out: out)
        case (true, true): vectorRows(XorWords.self, FirstVector.self, k: k, w: w, ldw: ldw, rows: rows, panel: panel, out: out)
        case (false, false): vectorRows(AndWords.self, BothVectors.self, k: k, w: w, ldw: ldw, rows: rows, panel: panel, out: out)
        case (false, true): vectorRows(AndWords.self, FirstVector.self, k: k, w: w, ldw: ldw, rows: rows, panel: panel, out: out)
        }
    }

    @inline(__always)
    static func vectorRows<Op: WordOperation, V: PanelVectors>(_: Op.Type, _: V.Type, k: Int, w: UnsafePointer<UInt64>,
                                                               ldw: Int, rows: Int, panel: UnsafePointer<UInt64>,
                                                               out: UnsafeMutablePointer<Int32>) {
        var s: EightRowSums = (RowSums(), RowSums(), RowSums(), RowSums(), RowSums(), RowSums(), RowSums(), RowSums())
        planePair(Op.self, AddCounts.self, V.self, k: k, w: w, ldw: ldw, rows: rows, panel: panel, sums: &s)
        store(s, out)
    }

    @inline(__always) static func store(_ s: EightRowSums, _ out: UnsafeMutablePointer<Int32>) {
        let nr = 2 &* BinaryLanes.scalarCount
        s.0.store(out); s.1.store(out + nr); s.2.store(out + 2 &* nr); s.3.store(out + 3 &* nr)
        s.4.store(out + 4 &* nr); s.5.store(out + 5 &* nr); s.6.store(out + 6 &* nr); s.7.store(out + 7 &* nr)
    }

    /// `vector` over every plane pair of multi-bit operands in one call, summed in registers:
    /// out = 2^shift · Σ_{i, j} ±2^(i+j) Σ_k pop(w_j[r][k] & a_i[k][c]) (w_j = w + j·wPlane, a_i = panel + i·aPlane; the
    /// top weight plane negative when `negativeTop`, two's complement). Pairs go by level i + j from the top, the sums
    /// doubled between levels (Horner), so each pair costs what `vector` costs and no partial tile goes through memory:
    /// with one tile call per pair, storing and re-adding the partial tiles was as much work as a 1×1 conv's 4-word K.
    /// `columns` as for `vector`. With `floats` the sums go to those float outputs instead of `out`.
    @inline(__always)
    static func vectorPlanes(k: Int, w: UnsafePointer<UInt64>, ldw: Int, wPlane: Int, weightBits: Int, negativeTop: Bool,
                             rows: Int, panel: UnsafePointer<UInt64>, aPlane: Int, actBits: Int, shift: Int, columns: Int,
                             out: UnsafeMutablePointer<Int32>, floats: FloatOutput? = nil) {
        if columns <= BinaryLanes.scalarCount {
            vectorPlanes(FirstVector.self, k: k, w: w, ldw: ldw, wPlane: wPlane, weightBits: weightBits, negativeTop: negativeTop,
                         rows: rows, panel: panel, aPlane: aPlane, actBits: actBits, shift: shift, out: out, floats: floats)
        } else {
            vectorPlanes(BothVectors.self, k: k, w: w, ldw: ldw, wPlane: wPlane, weightBits: weightBits, negativeTop: negativeTop,
                         rows: rows, panel: panel, aPlane: aPlane, actBits: actBits, shift: shift, out: out, floats: floats)
        }
    }

    @inline(__always)
    static func vectorPlanes<V: PanelVectors>(_: V.Type, k: Int, w: UnsafePointer<UInt64>, ldw: Int, wPlane: Int,
                                              weightBits: Int, negativeTop: Bool, rows: Int, panel: UnsafePointer<UInt64>,
                                              aPlane: Int, actBits: Int, shift: Int, out: UnsafeMutablePointer<Int32>,
                                              floats: FloatOutput?) {
        var s: EightRowSums = (RowSums(), RowSums(), RowSums(), RowSums(), RowSums(), RowSums(), RowSums(), RowSums())
        var level = actBits &+ weightBits &- 2
        while level >= 0 {
            for i in 0..<actBits {
                let j = level &- i
                if j < 0 || j >= weightBits { continue }
                let wj = w + j &* wPlane, ai = panel + i &* aPlane
                if negativeTop && j == weightBits &- 1 {
                    planePair(AndWords.self, SubtractCounts.self, V.self, k: k, w: wj, ldw: ldw, rows: rows, panel: ai, sums: &s)
                } else {
                    planePair(AndWords.self, AddCounts.self, V.self, k: k, w: wj, ldw: ldw, rows: rows, panel: ai, sums: &s)
                }
            }
            let by = level == 0 ? shift : 1
            if by > 0 {
                s.0.shift(by); s.1.shift(by); s.2.shift(by); s.3.shift(by)
                s.4.shift(by); s.5.shift(by); s.6.shift(by); s.7.shift(by)
            }
            level &-= 1
        }
        if let floats { store(s, rows: rows, floats) } else { store(s, out) }
    }

    /// A panel's first `columns` pixels with their words in a row: columns[(c · actBits + i) · k + kk] is word kk of
    /// plane i (at panel + i · aPlane) of pixel c, for `pixelPlanes`.
    @inline(__always)
    static func pixelWords(_ panel: UnsafePointer<UInt64>, aPlane: Int, k: Int, actBits: Int, columns: Int,
                           into words: UnsafeMutablePointer<UInt64>) {
        let nr = 2 &* BinaryLanes.scalarCount
        for c in 0..<columns {
            for i in 0..<actBits {
                let to = words + (c &* actBits &+ i) &* k, from = panel + (i &* aPlane &+ c)
                for kk in 0..<k { to[kk] = from[kk &* nr] }
            }
        }
    }

    /// The sums of `vectorPlanes` (`Op` = and) or of `vector` (`Op` = xor, one plane each) for a panel's first
    /// `columns` pixels alone, the words along the lanes instead of the pixels: each pixel's K words per activation
    /// plane (`pixelWords`) against each row's K words, eight rows side by side and one horizontal sum per row at the
    /// end. A map's last pixel or two (a 7² map's 49th) cost what they count instead of a half panel's 8 lanes. `k` is
    /// a multiple of the lane count (a word vector never straddles rows: with a partial last vector read lane by lane,
    /// a 14² map's last 4 pixels at k = 36 took longer than their half panel). Sums go to out[r · NR + c] for
    /// c < columns; rows as `vector`. Out of line, so its eight sums do not crowd `run`'s epilogue registers.
    @inline(never)
    static func pixelPlanes<Op: WordOperation>(_: Op.Type, k: Int, w: UnsafePointer<UInt64>, ldw: Int, wPlane: Int,
                                               weightBits: Int, negativeTop: Bool, rows: Int, actBits: Int, shift: Int,
                                               columns: Int, pixelWords: UnsafePointer<UInt64>,
                                               out: UnsafeMutablePointer<Int32>) {
        let nr = 2 &* BinaryLanes.scalarCount, lanes = BinaryLanes.scalarCount
        @inline(__always) func row(_ r: Int) -> Int { (r < rows ? r : rows &- 1) &* ldw }
        let o0 = row(0), o1 = row(1), o2 = row(2), o3 = row(3), o4 = row(4), o5 = row(5), o6 = row(6), o7 = row(7)
        for c in 0..<columns {
            let column = pixelWords + c &* actBits &* k
            var s0 = BinaryLanes(), s1 = BinaryLanes(), s2 = BinaryLanes(), s3 = BinaryLanes()
            var s4 = BinaryLanes(), s5 = BinaryLanes(), s6 = BinaryLanes(), s7 = BinaryLanes()
            var level = actBits &+ weightBits &- 2
            while level >= 0 {
                for i in 0..<actBits {
                    let j = level &- i
                    if j < 0 || j >= weightBits { continue }
                    let wj = UnsafeRawPointer(w + j &* wPlane), ai = column + i &* k
                    let negative = negativeTop && j == weightBits &- 1
                    @inline(__always) func words(_ kk: Int, _ o: Int) -> BinaryLanes {
                        wj.loadUnaligned(fromByteOffset: (o &+ kk) &* 8, as: BinaryLanes.self)
                    }
                    @inline(__always) func add(_ acc: inout BinaryLanes, _ x: BinaryLanes) {
                        acc = negative ? acc &- popcountLanes(x) : acc &+ popcountLanes(x)
                    }
                    var kk = 0
                    while kk < k {
                        let a = UnsafeRawPointer(ai + kk).loadUnaligned(as: BinaryLanes.self)
                        add(&s0, Op.apply(words(kk, o0), a)); add(&s1, Op.apply(words(kk, o1), a))
                        add(&s2, Op.apply(words(kk, o2), a)); add(&s3, Op.apply(words(kk, o3), a))
                        add(&s4, Op.apply(words(kk, o4), a)); add(&s5, Op.apply(words(kk, o5), a))
                        add(&s6, Op.apply(words(kk, o6), a)); add(&s7, Op.apply(words(kk, o7), a))
                        kk &+= lanes
                    }
                }
                let by = BinaryLanes.Scalar(truncatingIfNeeded: level == 0 ? shift : 1)
                if by > 0 { s0 &<<= by; s1 &<<= by; s2 &<<= by; s3 &<<= by; s4 &<<= by; s5 &<<= by; s6 &<<= by; s7 &<<= by }
                level &-= 1
            }
            @inline(__always) func total(_ v: BinaryLanes) -> Int32 {
                var t: UInt64 = 0
                for l in 0..<lanes { t &+= v[l] }
                return Int32(truncatingIfNeeded: t)
            }
            out[c] = total(s0); out[nr &+ c] = total(s1); out[2 &* nr &+ c] = total(s2); out[3 &* nr &+ c] = total(s3)
            out[4 &* nr &+ c] = total(s4); out[5 &* nr &+ c] = total(s5); out[6 &* nr &+ c] = total(s6)
            out[7 &* nr &+ c] = total(s7)
        }
    }

    /// A plain layer's float outputs (no accumulators, residual or packed copy) for sums that need no fix-up
    /// (unsigned activations, unsigned or two's-complement weights), written from a tile's registers with the plain
    /// epilogue's operations: y = clamp(Float(sum) · scale + bias). Through the int32 tile and back (a narrowing,
    /// store, load and conversion per vector) it was ~5 % of a 1x1 conv's w2a2 time (L5).
    struct FloatOutput {
        /// The tile's row 0, column 0, rows `rowStride` apart; `scales` and `bias` start at row 0.
        let output: UnsafeMutablePointer<Float>, rowStride: Int
        let scales: UnsafePointer<Float>, bias: UnsafePointer<Float>?
        /// Scalars, not vectors: in `run` two more vectors live across its tile loop made the general epilogue spill
        /// its packed-copy bits (M1 w1a1 3.9 → 4.4 ms).
        let outputMin: Float, outputMax: Float
        /// Live columns: lanes past them are not stored.
        let columns: Int
    }

    /// `floats`' rows of a tile's sums (out of the struct: as its methods the rows stayed calls, their sums passed
    /// through memory).
    @inline(__always) static func store(_ s: EightRowSums, rows: Int, _ f: FloatOutput) {
        let lo = SIMD8<Float>(repeating: f.outputMin), hi = SIMD8<Float>(repeating: f.outputMax)
        let low = f.outputMin > -.infinity, high = f.outputMax < .infinity
        floatRow(s.0, 0, f, lo, hi, low, high)
        if rows > 1 { floatRow(s.1, 1, f, lo, hi, low, high) }
        if rows > 2 { floatRow(s.2, 2, f, lo, hi, low, high) }
        if rows > 3 { floatRow(s.3, 3, f, lo, hi, low, high) }
        if rows > 4 { floatRow(s.4, 4, f, lo, hi, low, high) }
        if rows > 5 { floatRow(s.5, 5, f, lo, hi, low, high) }
        if rows > 6 { floatRow(s.6, 6, f, lo, hi, low, high) }
        if rows > 7 { floatRow(s.7, 7, f, lo, hi, low, high) }
    }

    @_transparent static func floatRow(_ sums: RowSums, _ r: Int, _ f: FloatOutput, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>,
                                       _ low: Bool, _ high: Bool) {
        let sv = SIMD8<Float>(repeating: f.scales[r]), bv = SIMD8<Float>(repeating: f.bias?[r] ?? 0)
        let y = f.output + r &* f.rowStride
        storeFloats(sums.low, at: y, from: 0, sv, bv, lo, hi, low, high, columns: f.columns)
        if f.columns > BinaryLanes.scalarCount {
            storeFloats(sums.high, at: y, from: BinaryLanes.scalarCount, sv, bv, lo, hi, low, high, columns: f.columns)
        }
    }

    @_transparent static func storeFloats(_ sums: BinaryLanes, at y: UnsafeMutablePointer<Float>, from c: Int,
                                          _ sv: SIMD8<Float>, _ bv: SIMD8<Float>, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>,
                                          _ low: Bool, _ high: Bool, columns: Int) {
        var a = SIMD8<Int32>()
        for j in 0..<(BinaryLanes.scalarCount < 8 ? BinaryLanes.scalarCount : 8) { a[j] = Int32(truncatingIfNeeded: sums[j]) }
        let v = clampLanes(floatLanes(a) * sv + bv, lo: lo, hi: hi, low: low, high: high)
        let live = columns &- c < BinaryLanes.scalarCount ? columns &- c : BinaryLanes.scalarCount
        if live == 8 {
            UnsafeMutableRawPointer(y + c).storeBytes(of: v, as: SIMD8<Float>.self)
        } else {
            for j in 0..<live { y[c &+ j] = v[j] }
        }
    }

    typealias EightRowSums = (RowSums, RowSums, RowSums, RowSums, RowSums, RowSums, RowSums, RowSums)

    /// Σ_k pop(w[r][k] op panel[k][c]) added to (or subtracted from) the eight rows' sums; rows past `rows` repeat
    /// the last real one.
    @inline(__always)
    static func planePair<Op: WordOperation, A: CountAccumulation, V: PanelVectors>(
        _: Op.Type, _: A.Type, _: V.Type, k: Int, w: UnsafePointer<UInt64>, ldw: Int, rows: Int,
        panel: UnsafePointer<UInt64>, sums s: inout EightRowSums
    ) {
        @inline(__always) func row(_ r: Int) -> UnsafePointer<UInt64> { w + Swift.min(r, rows &- 1) &* ldw }
        let w0 = row(0), w1 = row(1), w2 = row(2), w3 = row(3), w4 = row(4), w5 = row(5), w6 = row(6), w7 = row(7)
        let step = MemoryLayout<BinaryLanes>.size
        var bp = UnsafeRawPointer(panel)
        var kk = 0
        while kk < k {
            let b0 = bp.loadUnaligned(as: BinaryLanes.self)
            let b1 = V.both ? bp.loadUnaligned(fromByteOffset: step, as: BinaryLanes.self) : b0
            bp += 2 &* step
            s.0.accumulate(Op.self, A.self, V.self, w0[kk], b0, b1); s.1.accumulate(Op.self, A.self, V.self, w1[kk], b0, b1)
            s.2.accumulate(Op.self, A.self, V.self, w2[kk], b0, b1); s.3.accumulate(Op.self, A.self, V.self, w3[kk], b0, b1)
            s.4.accumulate(Op.self, A.self, V.self, w4[kk], b0, b1); s.5.accumulate(Op.self, A.self, V.self, w5[kk], b0, b1)
            s.6.accumulate(Op.self, A.self, V.self, w6[kk], b0, b1); s.7.accumulate(Op.self, A.self, V.self, w7[kk], b0, b1)
            kk &+= 1
        }
    }

    /// Adding or subtracting a plane pair's counts, as a type so each loop compiles without a branch on it.
    protocol CountAccumulation { static func apply(_ acc: BinaryLanes, _ count: BinaryLanes) -> BinaryLanes }
    enum AddCounts: CountAccumulation { @inline(__always) static func apply(_ a: BinaryLanes, _ c: BinaryLanes) -> BinaryLanes { a &+ c } }
    enum SubtractCounts: CountAccumulation { @inline(__always) static func apply(_ a: BinaryLanes, _ c: BinaryLanes) -> BinaryLanes { a &- c } }

    /// One weight row's popcount sums over the two pixel vectors of a panel.
    struct RowSums {
        var low = BinaryLanes(), high = BinaryLanes()

        /// pop(word op b) added or subtracted, for both pixel vectors or only the first.
        @inline(__always) mutating func accumulate<Op: WordOperation, A: CountAccumulation, V: PanelVectors>(
            _: Op.Type, _: A.Type, _: V.Type, _ word: UInt64, _ b0: BinaryLanes, _ b1: BinaryLanes
        ) {
            let x = BinaryLanes(repeating: word)
            low = A.apply(low, popcountLanes(Op.apply(x, b0)))
            if V.both { high = A.apply(high, popcountLanes(Op.apply(x, b1))) }
        }

        @inline(__always) mutating func shift(_ by: Int) {
            low &<<= BinaryLanes.Scalar(truncatingIfNeeded: by)
            high &<<= BinaryLanes.Scalar(truncatingIfNeeded: by)
        }

        /// Each vector on its own, so the truncation is one narrowing instruction and a store (a loop over lanes
        /// across all sums went through the stack, 20 % of the L3 w1a1 kernel).
        @inline(__always) func store(_ out: UnsafeMutablePointer<Int32>) {
            let l = BinaryLanes.scalarCount
            for j in 0..<l { out[j] = Int32(truncatingIfNeeded: low[j]) }
            for j in 0..<l { out[l &+ j] = Int32(truncatingIfNeeded: high[j]) }
        }
    }

    /// The bit operation of a tile, as a type so each tile loop is compiled without a branch on it.
    protocol WordOperation { static func apply(_ x: BinaryLanes, _ b: BinaryLanes) -> BinaryLanes }
    enum XorWords: WordOperation { @inline(__always) static func apply(_ x: BinaryLanes, _ b: BinaryLanes) -> BinaryLanes { x ^ b } }
    enum AndWords: WordOperation { @inline(__always) static func apply(_ x: BinaryLanes, _ b: BinaryLanes) -> BinaryLanes { x & b } }

    /// Same contract with NR = 4 and scalar `nonzeroBitCount` (POPCNT where the target has it).
    @inline(__always)
    static func scalar(k: Int, w: UnsafePointer<UInt64>, ldw: Int, rows: Int, panel: UnsafePointer<UInt64>,
                       xor: Bool, out: UnsafeMutablePointer<Int32>) {
        let w0 = w
        let w1 = w + (rows > 1 ? 1 : 0) &* ldw
        let w2 = w + (rows > 2 ? 2 : rows &- 1) &* ldw
        let w3 = w + (rows > 3 ? 3 : rows &- 1) &* ldw
        var c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0
        var c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0
        var bp = panel
        var kk = 0
        while kk < k {
            let b0 = bp[0], b1 = bp[1], b2 = bp[2], b3 = bp[3]
            bp += 4
            var x = w0[kk]
            c00 &+= (xor ? x ^ b0 : x & b0).nonzeroBitCount; c01 &+= (xor ? x ^ b1 : x & b1).nonzeroBitCount
            c02 &+= (xor ? x ^ b2 : x & b2).nonzeroBitCount; c03 &+= (xor ? x ^ b3 : x & b3).nonzeroBitCount
            x = w1[kk]
            c10 &+= (xor ? x ^ b0 : x & b0).nonzeroBitCount; c11 &+= (xor ? x ^ b1 : x & b1).nonzeroBitCount
            c12 &+= (xor ? x ^ b2 : x & b2).nonzeroBitCount; c13 &+= (xor ? x ^ b3 : x & b3).nonzeroBitCount
            x = w2[kk]
            c20 &+= (xor ? x ^ b0 : x & b0).nonzeroBitCount; c21 &+= (xor ? x ^ b1 : x & b1).nonzeroBitCount
            c22 &+= (xor ? x ^ b2 : x & b2).nonzeroBitCount; c23 &+= (xor ? x ^ b3 : x & b3).nonzeroBitCount
            x = w3[kk]
            c30 &+= (xor ? x ^ b0 : x & b0).nonzeroBitCount; c31 &+= (xor ? x ^ b1 : x & b1).nonzeroBitCount
            c32 &+= (xor ? x ^ b2 : x & b2).nonzeroBitCount; c33 &+= (xor ? x ^ b3 : x & b3).nonzeroBitCount
            kk &+= 1
        }
        out[0] = Int32(truncatingIfNeeded: c00); out[1] = Int32(truncatingIfNeeded: c01)
        out[2] = Int32(truncatingIfNeeded: c02); out[3] = Int32(truncatingIfNeeded: c03)
        out[4] = Int32(truncatingIfNeeded: c10); out[5] = Int32(truncatingIfNeeded: c11)
        out[6] = Int32(truncatingIfNeeded: c12); out[7] = Int32(truncatingIfNeeded: c13)
        out[8] = Int32(truncatingIfNeeded: c20); out[9] = Int32(truncatingIfNeeded: c21)
        out[10] = Int32(truncatingIfNeeded: c22); out[11] = Int32(truncatingIfNeeded: c23)
        out[12] = Int32(truncatingIfNeeded: c30); out[13] = Int32(truncatingIfNeeded: c31)
        out[14] = Int32(truncatingIfNeeded: c32); out[15] = Int32(truncatingIfNeeded: c33)
    }
}

/// No-load popcount throughput (the ceiling `nibble bench kernels` reports): independent chains of
/// add + popcount + accumulate on registers, the same three operations per word as the tiles' xor/pop/add.
public enum BinaryPopcountPeak {
    /// 64-bit words popcounted per iteration of `scalar` / `vector`.
    public static let scalarWordsPerIteration = 8
    public static let vectorWordsPerIteration = 4 &* BinaryLanes.scalarCount

    @inline(never)
    public static func scalar(iterations: Int, seed: UInt64) -> UInt64 {
        var v0 = seed, v1 = seed &* 3, v2 = seed &* 5, v3 = seed &* 7
        var v4 = seed &* 11, v5 = seed &* 13, v6 = seed &* 17, v7 = seed &* 19
        var a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0
        let inc: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<iterations {
            v0 &+= inc; a0 &+= v0.nonzeroBitCount; v1 &+= inc; a1 &+= v1.nonzeroBitCount
            v2 &+= inc; a2 &+= v2.nonzeroBitCount; v3 &+= inc; a3 &+= v3.nonzeroBitCount
            v4 &+= inc; a4 &+= v4.nonzeroBitCount; v5 &+= inc; a5 &+= v5.nonzeroBitCount
            v6 &+= inc; a6 &+= v6.nonzeroBitCount; v7 &+= inc; a7 &+= v7.nonzeroBitCount
        }
        return UInt64(truncatingIfNeeded: a0 &+ a1 &+ a2 &+ a3 &+ a4 &+ a5 &+ a6 &+ a7)
    }

    @inline(never)
    public static func vector(iterations: Int, seed: UInt64) -> UInt64 {
        var v0 = BinaryLanes(repeating: seed), v1 = BinaryLanes(repeating: seed &* 3)
        var v2 = BinaryLanes(repeating: seed &* 5), v3 = BinaryLanes(repeating: seed &* 7)
        for j in 0..<BinaryLanes.scalarCount { v0[j] &+= UInt64(j); v1[j] &*= UInt64(j &+ 1) }
        var a0 = BinaryLanes(), a1 = BinaryLanes(), a2 = BinaryLanes(), a3 = BinaryLanes()
        let inc = BinaryLanes(repeating: 0x9E37_79B9_7F4A_7C15)
        for _ in 0..<iterations {
            v0 &+= inc; a0 &+= popcountLanes(v0); v1 &+= inc; a1 &+= popcountLanes(v1)
            v2 &+= inc; a2 &+= popcountLanes(v2); v3 &+= inc; a3 &+= popcountLanes(v3)
        }
        return (a0 &+ a1 &+ a2 &+ a3).wrappedSum()
    }
}
