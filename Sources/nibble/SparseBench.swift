import NibbleKernels

/// The sparse entries of `nibble bench kernels` (issue 5): `sparse90` prunes the layer's random fp32 weights to
/// the 10 % of largest magnitude (unstructured, CSR) and `nm24` keeps the 2 largest of every 4 input channels
/// (2:4); both run `SparseGEMM` on the same input as the dense fp32 entry; `sparse90i8` / `nm24i8` are the same with
/// int8 values. Only 1x1 convs (stride 1, no padding,
/// group 1) and fully connected layers have a sparse kernel today.
enum SparseBench {
    /// `…i8`: the same pruned weights as int8 values (scale 1/127) with uint8 activations, as the int8 entry.
    static let kernels = ["sparse90", "nm24", "sparse90i8", "nm24i8"]

    static func applies(_ g: ConvGeometry) -> Bool {
        g.kernelH == 1 && g.kernelW == 1 && g.strideH == 1 && g.strideW == 1 && g.padTop == 0 && g.padLeft == 0
            && g.groups == 1 && g.outH == g.inH && g.outW == g.inW
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
