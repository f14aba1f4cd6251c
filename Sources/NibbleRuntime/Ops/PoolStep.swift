import NibbleFormat
import NibbleKernels

/// MaxPool and AveragePool over NCHW (batch 1), ONNX semantics: explicit pads, dilations (max only),
/// ceil_mode, count_include_pad (average only). Padded cells never win a max.
struct PoolStep {
    let isMax: Bool
    let input: Int, output: Int
    let channels: Int, inH: Int, inW: Int, outH: Int, outW: Int
    let kH: Int, kW: Int, sH: Int, sW: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int, dH: Int, dW: Int
    let countIncludePad: Bool

    static func make(_ c: NodeChecker) throws(NibbleError) -> PoolStep {
        try c.requireInputs(1...1)
        let x = try c.input(0)
        try c.require(x, dtype: .float32, "input")
        let xs = c.tensor(x).shape
        if xs.count != 4 || xs[0] != 1 { throw c.fail("input shape \(xs), expected [1, C, H, W]") }
        let isMax = c.node.op == .maxPool
        let k = try c.ints(.kernelShape, count: 2)
        let s = try c.ints(.strides, count: 2, default: [1, 1])
        let p = try c.ints(.pads, count: 4, default: [0, 0, 0, 0])
        let d = try c.ints(.dilations, count: 2, default: [1, 1])
        let ceil = try c.ints(.ceilMode, count: 1, default: [0])[0] != 0
        let include = try c.ints(.countIncludePad, count: 1, default: [0])[0] != 0
        if k.contains(where: { $0 < 1 }) || s.contains(where: { $0 < 1 }) || d.contains(where: { $0 < 1 }) || p.contains(where: { $0 < 0 }) {
            throw c.fail("kernel \(k), strides \(s), dilations \(d) must be >= 1 and pads \(p) >= 0")
        }
        if !isMax && d != [1, 1] { throw c.fail("dilations \(d) are not supported for AveragePool") }
        if p[0] >= k[0] || p[2] >= k[0] || p[1] >= k[1] || p[3] >= k[1] {
            throw c.fail("pads \(p) must be smaller than the kernel \(k)")
        }
        func outSize(_ n: Int, _ k: Int, _ s: Int, _ p0: Int, _ p1: Int, _ d: Int) -> Int {
            let eff = (k - 1) * d + 1, span = n + p0 + p1 - eff
            if span < 0 { return 0 }
            var o = (ceil ? (span + s - 1) / s : span / s) + 1
            // ONNX/PyTorch: with ceil_mode the last window must start inside the input or left padding.
            if ceil && (o - 1) * s >= n + p0 { o -= 1 }
            return o
        }
        let oh = outSize(xs[2], k[0], s[0], p[0], p[2], d[0]), ow = outSize(xs[3], k[1], s[1], p[1], p[3], d[1])
        if oh < 1 || ow < 1 { throw c.fail("kernel \(k) is larger than the padded input \(xs)") }
        try c.requireShape(c.output, [1, xs[1], oh, ow], "output")
        return PoolStep(isMax: isMax, input: x, output: c.output, channels: xs[1], inH: xs[2], inW: xs[3], outH: oh, outW: ow,
                        kH: k[0], kW: k[1], sH: s[0], sW: s[1], padTop: p[0], padLeft: p[1], padBottom: p[2], padRight: p[3],
                        dH: d[0], dW: d[1], countIncludePad: include)
    }

    /// The kernel rows of a window starting at input row y0 that lie inside the input: the first and how many.
    func rowsInside(_ y0: Int) -> (first: Int, count: Int) {
        let first = y0 >= 0 ? 0 : (dH &- 1 &- y0) / dH
        let span = inH &- 1 &- y0   // ky · dH must not exceed this
        if span < 0 { return (first, 0) }
        return (first, Swift.max(0, Swift.min(kH, span / dH &+ 1) &- first))
    }

    /// The output columns [lo, hi) whose pooling window lies inside the input horizontally.
    func interiorColumns() -> (Int, Int) {
        let lo = (padLeft + sW - 1) / sW
        let lastStart = inW - 1 - (kW - 1) * dW + padLeft   // ox · sW must not exceed this
        let hi = lastStart < 0 ? 0 : min(outW, lastStart / sW + 1)
        return (min(lo, hi), hi)
    }

    func run(_ b: Bindings) { runTask(b, task: 0, of: 1) }

    /// Task `task` of `tasks`: a range of channels (pooling never mixes channels).
    func runTask(_ b: Bindings, task: Int, of tasks: Int) {
        let x = b.f32(input), y = b.f32(output)
        let interior = interiorColumns()   // the same for every row (two divisions a row had been a quarter of its cost)
        for ch in TaskSplit.range(channels, task: task, of: tasks) {
            let src = x + ch * inH * inW, dst = y + ch * outH * outW
            for oy in 0..<outH {
                let y0 = oy &* sH &- padTop
                // Outputs whose window lies inside the input horizontally take a loop without bounds checks (same
                // visiting order, so the results are identical); the border ones take the general loop below.
                // Vertically, the window's rows inside the input are what the general loop visits; a max, or a mean
                // not counting padding, over just those rows is the same result, so a top or bottom row takes
                // the interior loop too. (A mean counting padding divides by more: its border rows stay general.)
                let rows = y0 >= 0 && y0 &+ (kH &- 1) &* dH < inH ? (first: 0, count: kH) : rowsInside(y0)
                let (oxLo, oxHi) = rows.count == kH || (rows.count > 0 && (isMax || !countIncludePad)) ? interior : (0, 0)
                if oxLo < oxHi {
                    // Eight outputs at a time (the kernels' PoolInterior, with this loop's order per lane).
                    let ox = FP32Pool.interiorRow(src, planeEnd: inH &* inW, inW: inW, y0: y0 &+ rows.first &* dH, oxLo: oxLo,
                                                  oxHi: oxHi, sW: sW, padLeft: padLeft, kH: rows.count, kW: kW, dH: dH,
                                                  dW: dW, isMax: isMax, into: dst + oy &* outW)
                    for ox in ox..<oxHi {
                        let base = src + ((y0 &+ rows.first &* dH) &* inW &+ ox &* sW &- padLeft)
                        var acc: Float = isMax ? -.infinity : 0
                        for ky in 0..<rows.count {
                            let row = base + ky &* dH &* inW
                            for kx in 0..<kW {
                                let v = row[kx &* dW]
                                if isMax { acc = max(acc, v) } else { acc += v }
                            }
                        }
                        dst[oy &* outW &+ ox] = isMax ? acc : acc / Float(rows.count &* kW)
                    }
                }
                // The border columns, 0..<lo and hi..<outW (all of them when none is interior): a filter over every
                // column had cost as much as the interior of M1's max pool.
                let (lo, hi) = oxLo < oxHi ? (oxLo, oxHi) : (outW, outW)
                for side in 0..<2 {
                    for ox in side == 0 ? 0..<lo : hi..<outW {
                        let x0 = ox * sW - padLeft
                        var acc: Float = isMax ? -.infinity : 0
                        var n = 0
                        for ky in 0..<kH {
                            let iy = y0 + ky * dH
                            if iy < 0 || iy >= inH { continue }
                            for kx in 0..<kW {
                                let ix = x0 + kx * dW
                                if ix < 0 || ix >= inW { continue }
                                let v = src[iy * inW + ix]
                                if isMax { acc = max(acc, v) } else { acc += v }
                                n += 1
                            }
                        }
                        if !isMax {
                            // count_include_pad counts explicit padding but not the ceil-mode overhang.
                            let divisor: Int
                            if countIncludePad {
                                let hEnd = min(y0 + kH, inH + padBottom), wEnd = min(x0 + kW, inW + padRight)
                                divisor = (hEnd - y0) * (wEnd - x0)
                            } else {
                                divisor = n
                            }
                            acc = divisor > 0 ? acc / Float(divisor) : 0
                        }
                        dst[oy * outW + ox] = acc
                    }
                }
            }
        }
    }
}

/// GlobalAveragePool: [1, C, H, W] → [1, C, 1, 1].
struct GlobalAveragePoolStep {
    let input: Int, output: Int, channels: Int, area: Int

    static func make(_ c: NodeChecker) throws(NibbleError) -> GlobalAveragePoolStep {
        try c.requireInputs(1...1)
        let x = try c.input(0)
        try c.require(x, dtype: .float32, "input")
        let xs = c.tensor(x).shape
        if xs.count < 3 || xs[0] != 1 { throw c.fail("input shape \(xs), expected [1, C, spatial...]") }
        try c.requireShape(c.output, [1, xs[1]] + [Int](repeating: 1, count: xs.count - 2), "output")
        return GlobalAveragePoolStep(input: x, output: c.output, channels: xs[1], area: xs[2...].reduce(1, *))
    }

    func run(_ b: Bindings) {
        let x = b.f32(input), y = b.f32(output)
        let inv = 1 / Float(area)
        y.update(repeating: 0, count: channels)
        FP32Pool.accumulateChannelSums(x, channels: channels, length: area, into: y)
        for ch in 0..<channels { y[ch] *= inv }
    }
}
