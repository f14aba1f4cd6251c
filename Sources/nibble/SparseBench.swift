import NibbleKernels

/// The sparse entries of `nibble bench kernels` (issue 5): `sparse90` prunes the layer's random fp32 weights to
/// the 10 % of largest magnitude (unstructured, CSR) and `nm24` keeps the 2 largest of every 4 input channels
/// (2:4); both run `SparseGEMM` on the same input as the dense fp32 entry; `sparse90i8` / `nm24i8` are the same with
/// int8 values. Only 1x1 convs (stride 1, no padding,
/// group 1) and fully connected layers have a sparse kernel today.
enum SparseBench {
    /// `…i8`: the same pruned weights as int8 values (scale 1/127) with uint8 activations, as the int8 entry.
    static let kernels = ["sparse90", "nm24", "sparse90i8", "nm24i8"]

    /// 1x1 convs with stride 1, no padding, group 1 (`SparseGEMM`), or for CSR any stride-1 conv (`SparseConv`).
    static func applies(_ g: ConvGeometry, kernel: String) -> Bool {
        isGEMM(g) || (kernel.hasPrefix("sparse90") && SparseConv.supports(g))
    }

    static func isGEMM(_ g: ConvGeometry) -> Bool {
        g.kernelH == 1 && g.kernelW == 1 && g.strideH == 1 && g.strideW == 1 && g.padTop == 0 && g.padLeft == 0
            && g.groups == 1 && g.outH == g.inH && g.outW == g.inW
    }

    /// Times a conv layer: the GEMM form for 1x1, else the direct sparse convolution (CSR).
    static func conv(_ kernel: String, _ g: ConvGeometry, input: [Float], weights: [Float], bias: [Float], seconds: Double) -> Timing {
        if isGEMM(g) {
            return time(kernel, rows: g.outC, columns: g.inC, pixels: g.outPixels, input: input, weights: weights, bias: bias, seconds: seconds)
        }
        let pruned = prune(kernel, weights: weights, rows: g.outC, columns: g.reductionLength)
        let int8 = kernel.hasSuffix("i8")
        var output = [Float](repeating: 0, count: g.outC * g.outPixels)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: SparseConv.scratchByteCount(g), alignment: 64)
        defer { scratch.deallocate() }
        func run<T: Numeric>(_ w: [T], _ body: (SparseCSR, UnsafePointer<T>) -> Void) -> Timing {
            let e = SparseEncoding.csr(w, rows: g.outC, columns: g.reductionLength)
            return e.rowPointers.withUnsafeBufferPointer { rp in e.columnIndices.withUnsafeBufferPointer { ci in
                e.values.withUnsafeBufferPointer { v in
                    let csr = SparseCSR(rows: g.outC, columns: g.reductionLength, rowPointers: rp.baseAddress!, columnIndices: ci.baseAddress!)
                    return Timing.measure(seconds: seconds) { body(csr, v.baseAddress!) }
                }
            }}
        }
        if int8 {
            return run(pruned.map { Int8(($0 * 127).rounded()) }) { csr, v in
                SparseConv.run(g, csr, values: v, input: input, inputScale: 2.0 / 255, inputZeroPoint: 128, weightScales: bias,
                               bias: bias, output: &output, scratch: scratch)
            }
        }
        return run(pruned) { csr, v in
            SparseConv.run(g, csr, values: v, input: input, bias: bias, output: &output, scratch: scratch)
        }
    }

    /// Magnitude-pruned copy of `weights` ([rows][columns]) for `kernel`.
    static func prune(_ kernel: String, weights: [Float], rows: Int, columns: Int) -> [Float] {
        var w = weights
        if kernel.hasPrefix("sparse90") {
            let threshold = weights.map(abs).sorted()[Int(Double(weights.count) * 0.9)]
            for i in w.indices where abs(w[i]) < threshold { w[i] = 0 }
        } else {
            for o in 0..<rows {
                var g = 0
                while g < columns {
                    let cols = (g..<min(g + 4, columns)).sorted { abs(weights[o * columns + $0]) > abs(weights[o * columns + $1]) }
                    for c in cols.dropFirst(2) { w[o * columns + c] = 0 }
                    g += 4
                }
            }
        }
        return w
    }

    static func time(_ kernel: String, rows: Int, columns: Int, pixels: Int, input: [Float], weights: [Float], bias: [Float],
                     seconds: Double) -> Timing {
        let pruned = prune(kernel, weights: weights, rows: rows, columns: columns)
        let int8 = kernel.hasSuffix("i8")
        if int8 {
            let q = pruned.map { Int8(($0 * 127).rounded()) }
            return withLayout(kernel, q, rows: rows, columns: columns) { layout, values in
                time(layout, pixels: pixels, input: input, bias: bias, seconds: seconds, int8: true) { i, b, o, scratch in
                    SparseGEMM.run(layout, pixels: pixels, batch: 1, values: values, input: i, inputScale: 2.0 / 255, inputZeroPoint: 128,
                                   weightScales: b, bias: b, output: o, scratch: scratch)
                }
            }
        }
        return withLayout(kernel, pruned, rows: rows, columns: columns) { layout, values in
            time(layout, pixels: pixels, input: input, bias: bias, seconds: seconds, int8: false) { i, b, o, scratch in
                SparseGEMM.run(layout, pixels: pixels, batch: 1, values: values, input: i, bias: b, output: o, scratch: scratch)
            }
        }
    }

    /// Times `body` on the layer's input, bias (also the int8 weight scales: only the time matters) and output.
    static func time(_ layout: SparseLayout, pixels: Int, input: [Float], bias: [Float], seconds: Double, int8: Bool,
                     _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutableRawPointer) -> Void) -> Timing {
        var output = [Float](repeating: 0, count: layout.rows * pixels)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: SparseGEMM.scratchByteCount(layout, pixels: pixels, int8: int8), alignment: 64)
        defer { scratch.deallocate() }
        return input.withUnsafeBufferPointer { i in bias.withUnsafeBufferPointer { b in output.withUnsafeMutableBufferPointer { o in
            Timing.measure(seconds: seconds) { body(i.baseAddress!, b.baseAddress!, o.baseAddress!, scratch) }
        }}}
    }

    /// CSR (sparse90…) or 2:4 (nm24…) arrays of `pruned`, alive during `body`.
    static func withLayout<T: Numeric>(_ kernel: String, _ pruned: [T], rows: Int, columns: Int,
                                       _ body: (SparseLayout, UnsafePointer<T>) -> Timing) -> Timing {
        if kernel.hasPrefix("sparse90") {
            let e = SparseEncoding.csr(pruned, rows: rows, columns: columns)
            return e.rowPointers.withUnsafeBufferPointer { rp in e.columnIndices.withUnsafeBufferPointer { ci in
                e.values.withUnsafeBufferPointer { v in
                    body(.csr(SparseCSR(rows: rows, columns: columns, rowPointers: rp.baseAddress!, columnIndices: ci.baseAddress!)), v.baseAddress!)
                }
            }}
        }
        let e = SparseEncoding.nm(pruned, rows: rows, columns: columns, n: 2, m: 4)!
        return e.indices.withUnsafeBufferPointer { ix in e.values.withUnsafeBufferPointer { v in
            body(.nm(SparseNM(rows: rows, columns: columns, n: 2, m: 4, indices: ix.baseAddress!)), v.baseAddress!)
        }}
    }
}

/// `nibble bench kernels --sparse-sweep`: the measurements behind `SparseCostModel`'s constants. For each value
/// type and case (convolution = many pixels, fully connected = one), times the dense kernel and the CSR kernel over
/// a few shapes and densities, then fits dense ns per MAC and sparse ns per stored value × pixel plus ns per row
/// (least squares) and prints them with the predicted vs measured speed-ups.
extension SparseBench {
    static func sweep(seconds: Double) {
        let shapes: [(rows: Int, columns: Int, pixels: Int)] = [
            (1024, 256, 196), (256, 64, 784), (128, 128, 49), (64, 32, 196),
            (1000, 4096, 1), (128, 64, 1), (64, 128, 1), (10, 64, 1), (512, 512, 1),
        ]
        let densities = [0.5, 0.25, 0.1, 0.05]
        for int8 in [false, true] {
            for conv in [true, false] {
                var denseRate: [Double] = []
                var points: [(x1: Double, x2: Double, t: Double, dense: Double)] = []
                for s in shapes where (s.pixels > 1) == conv {
                    let input = randomFloats(s.columns * s.pixels, seed: 1), weights = randomFloats(s.rows * s.columns, seed: 2)
                    let bias = randomFloats(s.rows, seed: 3)
                    let dense = denseTime(rows: s.rows, columns: s.columns, pixels: s.pixels, input: input, weights: weights, bias: bias,
                                          int8: int8, seconds: seconds)
                    denseRate.append(dense * 1e6 / Double(s.rows * s.columns * s.pixels))
                    for d in densities {
                        var w = weights
                        let threshold = weights.map(abs).sorted()[Int(Double(weights.count) * (1 - d))]
                        for i in w.indices where abs(w[i]) < threshold { w[i] = 0 }
                        let nnz = w.filter { $0 != 0 }.count
                        let t: Double
                        if int8 {
                            let q = w.map { Int8(($0 * 127).rounded()) }
                            t = withLayout("sparse90", q, rows: s.rows, columns: s.columns) { layout, values in
                                time(layout, pixels: s.pixels, input: input, bias: bias, seconds: seconds, int8: true) { i, b, o, scratch in
                                    SparseGEMM.run(layout, pixels: s.pixels, batch: 1, values: values, input: i, inputScale: 2.0 / 255,
                                                   inputZeroPoint: 128, weightScales: b, bias: b, output: o, scratch: scratch)
                                }
                            }.minMs
                        } else {
                            t = withLayout("sparse90", w, rows: s.rows, columns: s.columns) { layout, values in
                                time(layout, pixels: s.pixels, input: input, bias: bias, seconds: seconds, int8: false) { i, b, o, scratch in
                                    SparseGEMM.run(layout, pixels: s.pixels, batch: 1, values: values, input: i, bias: b, output: o, scratch: scratch)
                                }
                            }.minMs
                        }
                        points.append((Double(nnz * s.pixels), Double(s.rows), t * 1e6, dense * 1e6))
                    }
                }
                // Least squares t ≈ a·x1 + b·x2 (2×2 normal equations).
                var s11 = 0.0, s12 = 0.0, s22 = 0.0, s1t = 0.0, s2t = 0.0
                for p in points { s11 += p.x1 * p.x1; s12 += p.x1 * p.x2; s22 += p.x2 * p.x2; s1t += p.x1 * p.t; s2t += p.x2 * p.t }
                let det = s11 * s22 - s12 * s12
                let a = det != 0 ? (s1t * s22 - s2t * s12) / det : 0, b = det != 0 ? (s2t * s11 - s1t * s12) / det : 0
                let dense = denseRate.sorted()[denseRate.count / 2]
                print("\(int8 ? "int8" : "fp32") \(conv ? "conv1x1" : "fully connected"): dense \(String(format: "%.4f", dense)) ns/MAC (median over shapes), sparse \(String(format: "%.4f", a)) ns per stored value × pixel + \(String(format: "%.1f", b)) ns per row")
                for p in points {
                    print(String(format: "  stored×pixels %9.0f rows %5.0f: measured %9.1f ns (dense %9.1f, speed-up %5.2f), fitted %9.1f", p.x1, p.x2, p.t, p.dense, p.dense / p.t, a * p.x1 + b * p.x2))
                }
            }
        }
    }

    /// Min time (ms) of the dense kernel of the same family: fp32 / int8 conv (1x1) or fully connected.
    static func denseTime(rows: Int, columns: Int, pixels: Int, input: [Float], weights: [Float], bias: [Float], int8: Bool,
                          seconds: Double) -> Double {
        var output = [Float](repeating: 0, count: rows * pixels)
        let q = weights.map { Int8(($0 * 127).rounded()) }
        if pixels == 1 {
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: Int8FullyConnected.scratchByteCount(inFeatures: columns, outFeatures: rows, batch: 1), alignment: 64)
            defer { scratch.deallocate() }
            return Timing.measure(seconds: seconds) {
                if int8 {
                    Int8FullyConnected.run(inFeatures: columns, outFeatures: rows, batch: 1, input: input, inputScale: 2.0 / 255,
                                           inputZeroPoint: 128, weights: q, weightScales: bias, bias: bias, output: &output, scratch: scratch)
                } else {
                    FP32FullyConnected.run(inFeatures: columns, outFeatures: rows, batch: 1, input: input, weights: weights, bias: bias, output: &output)
                }
            }.minMs
        }
        let side = Int(Double(pixels).squareRoot())
        let g = ConvGeometry(inC: columns, inH: side, inW: pixels / side, outC: rows, outH: side, outW: pixels / side, kernelH: 1, kernelW: 1)
        let bytes = max(Int8Conv.scratchByteCount(g), FP32Conv.scratchFloatCount(g) * 4, 64)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { scratch.deallocate() }
        return Timing.measure(seconds: seconds) {
            if int8 {
                Int8Conv.run(g, input: input, inputScale: 2.0 / 255, inputZeroPoint: 128, weights: q, weightScales: bias, bias: bias,
                             output: &output, scratch: scratch)
            } else {
                FP32Conv.run(g, input: input, weights: weights, bias: bias, output: &output,
                             scratch: scratch.assumingMemoryBound(to: Float.self))
            }
        }.minMs
    }
}
