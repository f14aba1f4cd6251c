// Shared source (symlinked into every kernel module): FGQ ternary × uint8 convolution without multiplies.
//
// A ternary weight is +1, −1 or 0, so a scale group's dot product is a sum of the inputs under the +1 mask
// minus those under the −1 mask. The input is laid out as a panel of `tilePixels` int16 lanes per reduction
// index k (q − zero point, 0 for padding taps), and each set bit of a packed mask row (TernaryPlanes) adds or
// subtracts one panel row: 32 pixels per nonzero weight in two vector adds, zero weights cost nothing (the
// two-mask layout is read in place: the weights stay at 2 bits each). Up to 128 terms of |q − zp| ≤ 255 fit
// int16 (128 · 255 = 32640), then the partial sum is widened to int32; each group's exact int32 sum is scaled
// by its α in float in group order, exactly as TernaryConvReference does, so results are bit-identical.

public enum TernaryConvTiled {
    /// Pixels per panel tile: one SIMD32<Int16> (two AVX2 registers, one AVX-512 register) per panel row.
    public static let tilePixels = 32
    /// Terms an int16 lane can sum before it must be widened: 128 · 255 < 2^15.
    static let termsPerFlush = 128

    /// Scratch for a tile: the panel (reduction length × tilePixels int16), the tile's input row/column origins
    /// (2 × tilePixels Int32), then one float partial sum per output channel and lane (`sumsOffset`).
    public static func panelByteCount(reductionLength: Int, outC: Int) -> Int {
        sumsOffset(reductionLength: reductionLength) &+ outC &* tilePixels &* 4
    }

    @inline(__always)
    static func sumsOffset(reductionLength: Int) -> Int { reductionLength &* tilePixels &* 2 &+ 2 &* tilePixels &* 4 }

    /// A fully connected layer (1×1 kernel over a 1×1 input, no padding): its one output pixel reads the input
    /// vector itself, so the panel is stored densely (row k = one int16) and summed by a scalar path.
    @inline(__always)
    public static func isSinglePixel(inH: Int, inW: Int, kernelH: Int, kernelW: Int, padTop: Int, padLeft: Int) -> Bool {
        inH == 1 && inW == 1 && kernelH == 1 && kernelW == 1 && padTop == 0 && padLeft == 0
    }

    /// Fills the panel for output pixels pixelStart ..< pixelStart + count (count ≤ tilePixels; lanes past
    /// count are 0): row k = (c·kH + kh)·kW + kw holds q[c, ih, iw] − zeroPoint, 0 where the tap is padding.
    /// Group 1 only (the reduction runs over all input channels).
    @inline(__always)
    public static func buildPanel(inC: Int, inH: Int, inW: Int, outW: Int, kernelH: Int, kernelW: Int,
                                  strideH: Int, strideW: Int, padTop: Int, padLeft: Int, dilationH: Int, dilationW: Int,
                                  input q: UnsafePointer<UInt8>, zeroPoint: Int32, pixelStart: Int, count: Int,
                                  panel: UnsafeMutableRawPointer) {
        let reduction = inC &* kernelH &* kernelW
        let origins = (panel + reduction &* tilePixels &* 2).assumingMemoryBound(to: Int32.self)
        for t in 0..<tilePixels {
            let p = pixelStart &+ Swift.min(t, count &- 1)
            origins[t] = Int32(truncatingIfNeeded: (p / outW) &* strideH &- padTop)
            origins[tilePixels &+ t] = Int32(truncatingIfNeeded: (p % outW) &* strideW &- padLeft)
        }
        let zp = Int16(truncatingIfNeeded: zeroPoint)
        let rows = panel.assumingMemoryBound(to: Int16.self)
        if isSinglePixel(inH: inH, inW: inW, kernelH: kernelH, kernelW: kernelW, padTop: padTop, padLeft: padLeft) {
            // Fully connected: one pixel, so row k is a single int16, stored densely and zero-padded to a multiple
            // of 16 (accumulateEdge reads 16 at a time).
            for c in 0..<inC { rows[c] = Int16(q[c]) &- zp }
            for c in inC..<((inC &+ 15) & ~15) { rows[c] = 0 }
            return
        }
        var k = 0
        for c in 0..<inC {
            let channel = q + c &* inH &* inW
            for kh in 0..<kernelH {
                for kw in 0..<kernelW {
                    let row = rows + k &* tilePixels
                    for t in 0..<tilePixels {
                        let ih = Int(origins[t]) &+ kh &* dilationH, iw = Int(origins[tilePixels &+ t]) &+ kw &* dilationW
                        let inside = t < count && ih >= 0 && ih < inH && iw >= 0 && iw < inW
                        row[t] = inside ? Int16(channel[ih &* inW &+ iw]) &- zp : 0
                    }
                    k &+= 1
                }
            }
        }
    }

    /// output[o, pixelStart + t] += inputScale · Σ_groups α[o, g] · Σ_{k ∈ g} T[o, k] · panel[k, t] for every
    /// output channel o of one edge (`words`: its packed +1/−1 masks, `rows` × ⌈rowLength/64⌉ words per plane;
    /// `alpha`: [rows, groups]) and t < count. A group is `groupSize` input channels × `taps` (kH·kW) indices.
    /// The 32 lanes are held as explicit halves and quarters (SIMD16 / SIMD8) so every accumulator stays in a
    /// register; a single pixel (fully connected) takes a scalar path instead of 31 idle lanes.
    @inline(__always)
    public static func accumulateEdge(panel: UnsafeMutableRawPointer, count: Int, words: UnsafePointer<UInt64>, rows: Int,
                                      rowLength: Int, taps: Int, groupSize: Int, alpha: UnsafePointer<Float>,
                                      inputScale: Float, output: UnsafeMutablePointer<Float>, outPixels: Int, pixelStart: Int,
                                      singlePixel: Bool) {
        let wordsPerRow = (rowLength &+ 63) >> 6
        let groupLength = groupSize &* taps
        let groups = (rowLength &+ groupLength &- 1) / groupLength
        let stride = tilePixels &* 2
        if singlePixel {
            // Fully connected (buildPanel stored the row densely): 16 weights at a time, branch-free — each lane
            // takes x where its +1 bit is set, −x where its −1 bit is, 0 otherwise (a bit loop would re-scan every
            // 64-bit word once per group and mispredict its exit each time; FGQ groups are often 16 wide).
            let x = UnsafeRawPointer(panel)
            let laneBits = SIMD16<UInt16>(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
            for o in 0..<rows {
                let plus = words + o &* wordsPerRow, minus = words + (rows &+ o) &* wordsPerRow
                var sum: Float = 0
                for g in 0..<groups {
                    let start = g &* groupLength, end = Swift.min(rowLength, start &+ groupLength)
                    var acc0 = SIMD8<Int32>(), acc1 = SIMD8<Int32>()
                    var k = start & ~15
                    while k < end {
                        // Bits k ..< k + 16 of each mask (one word holds them: k is a multiple of 16), cut to the group.
                        let shift = UInt64(k & 63)
                        var range = UInt64(0xFFFF)
                        if k < start { range &= ~((UInt64(1) << UInt64(start &- k)) &- 1) }
                        if end &- k < 16 { range &= (UInt64(1) << UInt64(end &- k)) &- 1 }
                        let p = UInt16(truncatingIfNeeded: (plus[k >> 6] >> shift) & range)
                        let m = UInt16(truncatingIfNeeded: (minus[k >> 6] >> shift) & range)
                        // Lane bit → 0 or 1 without masks: b | −b has its top bit set exactly when b ≠ 0. Then
                        // t = plus − minus is 1, −1 (0xFFFF) or 0, and x·t wraps to the signed term.
                        let bp = SIMD16<UInt16>(repeating: p) & laneBits, bm = SIMD16<UInt16>(repeating: m) & laneBits
                        let t = ((bp | (0 &- bp)) &>> 15) &- ((bm | (0 &- bm)) &>> 15)
                        let v = x.loadUnaligned(fromByteOffset: k &* 2, as: SIMD16<UInt16>.self) &* t
                        let signed = unsafeBitCast(v, to: SIMD16<Int16>.self)
                        acc0 &+= SIMD8<Int32>(truncatingIfNeeded: signed.lowHalf)
                        acc1 &+= SIMD8<Int32>(truncatingIfNeeded: signed.highHalf)
                        k &+= 16
                    }
                    sum += alpha[o &* groups &+ g] * Float((acc0 &+ acc1).wrappedSum())
                }
                output[o] += sum * inputScale
            }
            return
        }
        // Group-major: one group's panel rows (groupSize · taps · 64 bytes, 9 KiB for 16 channels × 3×3) stay in
        // L1 while every output channel sums over them; the per-channel float sums wait in scratch. Each (o, lane)
        // still adds its groups' α·sum in group order, as the reference does.
        let sums = (panel + sumsOffset(reductionLength: rowLength)).assumingMemoryBound(to: SIMD8<Float>.self)
        sums.update(repeating: SIMD8<Float>(), count: rows &* 4)
        for g in 0..<groups {
            let start = g &* groupLength, end = Swift.min(rowLength, start &+ groupLength)
            for o in 0..<rows {
                let plus = words + o &* wordsPerRow, minus = words + (rows &+ o) &* wordsPerRow
                var w0 = SIMD8<Int32>(), w1 = SIMD8<Int32>(), w2 = SIMD8<Int32>(), w3 = SIMD8<Int32>()
                var n0 = SIMD16<Int16>(), n1 = SIMD16<Int16>()
                forEachTerm(plus: plus, minus: minus, start: start, end: end, flush: {
                    w0 &+= SIMD8<Int32>(truncatingIfNeeded: n0.lowHalf); w1 &+= SIMD8<Int32>(truncatingIfNeeded: n0.highHalf)
                    w2 &+= SIMD8<Int32>(truncatingIfNeeded: n1.lowHalf); w3 &+= SIMD8<Int32>(truncatingIfNeeded: n1.highHalf)
                    n0 = SIMD16<Int16>(); n1 = SIMD16<Int16>()
                }) { k, add in
                    let a = UnsafeRawPointer(panel).loadUnaligned(fromByteOffset: k &* stride, as: SIMD16<Int16>.self)
                    let b = UnsafeRawPointer(panel).loadUnaligned(fromByteOffset: k &* stride &+ 32, as: SIMD16<Int16>.self)
                    if add { n0 &+= a; n1 &+= b } else { n0 &-= a; n1 &-= b }
                }
                w0 &+= SIMD8<Int32>(truncatingIfNeeded: n0.lowHalf); w1 &+= SIMD8<Int32>(truncatingIfNeeded: n0.highHalf)
                w2 &+= SIMD8<Int32>(truncatingIfNeeded: n1.lowHalf); w3 &+= SIMD8<Int32>(truncatingIfNeeded: n1.highHalf)
                let a = alpha[o &* groups &+ g]
                let s = sums + o &* 4
                s[0] += a * SIMD8<Float>(w0); s[1] += a * SIMD8<Float>(w1); s[2] += a * SIMD8<Float>(w2); s[3] += a * SIMD8<Float>(w3)
            }
        }
        for o in 0..<rows {
            let y = output + (o &* outPixels &+ pixelStart), s = sums + o &* 4
            for q in 0..<4 { addLanes(s[q] * inputScale, to: y + q &* 8, count: Swift.min(8, count &- q &* 8)) }
        }
    }

    /// y[t] += lanes[t] for t < count (count ≤ 0: nothing).
    @inline(__always)
    static func addLanes(_ lanes: SIMD8<Float>, to y: UnsafeMutablePointer<Float>, count: Int) {
        if count >= 8 {
            UnsafeMutableRawPointer(y).storeBytes(of: UnsafeRawPointer(y).loadUnaligned(as: SIMD8<Float>.self) + lanes, as: SIMD8<Float>.self)
        } else {
            for t in 0..<Swift.max(count, 0) { y[t] += lanes[t] }
        }
    }

    /// Calls `term(k, isPlus)` for every set bit k in [start, end) of the +1 mask, then of the −1 mask, calling
    /// `flush` before every `termsPerFlush`-th term after the first so int16 lanes are widened in time.
    @inline(__always)
    static func forEachTerm(plus: UnsafePointer<UInt64>, minus: UnsafePointer<UInt64>, start: Int, end: Int,
                            flush: () -> Void, _ term: (Int, Bool) -> Void) {
        var terms = 0
        for plane in 0..<2 {
            let mask = plane == 0 ? plus : minus, isPlus = plane == 0
            var w = start >> 6
            while w << 6 < end {
                let low = Swift.max(start &- (w << 6), 0), high = Swift.min(end &- (w << 6), 64)
                let inRange = (high == 64 ? ~UInt64(0) : (UInt64(1) << UInt64(high)) &- 1) & ~((UInt64(1) << UInt64(low)) &- 1)
                var bits = mask[w] & inRange
                while bits != 0 {
                    if terms == termsPerFlush { flush(); terms = 0 }
                    term((w << 6) &+ bits.trailingZeroBitCount, isPlus)
                    bits &= bits &- 1
                    terms &+= 1
                }
                w &+= 1
            }
        }
    }
}
