// Sparse or dense for one layer? Dense time ∝ every weight × pixel (zeros included) plus a per-output term;
// sparse time ∝ stored values × pixels plus a per-output term (row setup, epilogue, the pixel tail). As in
// Elsen et al. 2020 §5 and XNNPACK's sparse-inference switch, the break-even density depends on the shape: with
// one pixel (FullyConnected) the sparse kernel is a gather with no vector reuse and loses to dense GEMV below
// ~85 % sparsity; over many pixels it wins from ~50–60 %.

/// Predicts the sparse kernel's speed-up over the dense one from the layer's shape and stored values.
public enum SparseCostModel {
    /// Nanoseconds per dense MAC, per dense output, per stored value × pixel (sparse) and per sparse output;
    /// `sparseRun` ns per stored value and contiguous run of pixels (the vector loop's setup and scalar tail).
    struct Costs { var denseMAC: Double; var denseOutput: Double; var sparseValue: Double; var sparseOutput: Double; var sparseRun: Double = 0 }

    /// Fitted to `nibble bench kernels --sparse-sweep` (min times; AMD EPYC, AVX2, 1 thread, 2026-11-27, on a
    /// shared machine at load ≈ 6.5 on 2 vCPUs, so ±30 %): dense 1x1 convs at L5 scale, sparse through the L5 points at
    /// 50 % and 95 % sparsity; FullyConnected through G1 (4096→1000) and 128×64. E.g. fp32 L5: dense 1.85 ms, CSR 90 %
    /// 0.57 ms (model 0.66); fp32 FC 64→128 at 90 %: dense 0.81 µs, CSR 2.15 µs (model 2.4). N:M rows cost the same
    /// per stored slot as CSR per nonzero within that noise (L5 2:4: 3.1 ms, CSR 50 %: 2.6 ms), so one set serves both.
    /// The run term is from the direct 3x3 convs at 90 % (`nibble bench kernels`, ns per stored value × pixel vs the
    /// output row width W: L1 W=56 0.12, L2 28 0.15, L3 14 0.32, L4 7 0.72 ≈ 0.093 + 4/W; dense 3x3 ≈ 0.027/MAC), so
    /// L1/L2 are predicted faster sparse (2.2×, 1.5×; measured 2.2×, 1.7×) and L3/L4 dense (0.95×, 0.54×; 0.85×, 0.40×).
    static func costs(int8: Bool, fullyConnected: Bool) -> Costs {
        switch (int8, fullyConnected) {
        case (false, false): return Costs(denseMAC: 0.036, denseOutput: 0, sparseValue: 0.093, sparseOutput: 0.9, sparseRun: 4)
        case (false, true): return Costs(denseMAC: 0.079, denseOutput: 1.3, sparseValue: 0.55, sparseOutput: 15)
        case (true, false): return Costs(denseMAC: 0.055, denseOutput: 0, sparseValue: 0.055, sparseOutput: 1.33, sparseRun: 4)
        case (true, true): return Costs(denseMAC: 0.093, denseOutput: 9.7, sparseValue: 0.57, sparseOutput: 12.5)
        }
    }

    /// dense time ÷ sparse time for `rows` outputs per pixel (K×K direct convs use the 1x1 constants: both sides
    /// stream one contiguous run of pixels per stored weight), `columns` weights per row and `storedValues`
    /// (CSR nonzeros or N:M slots); > 1 means the sparse kernel is predicted faster. `nm` is accepted for when the
    /// layouts' costs part (today they measure alike).
    /// `runLength` is the contiguous pixels per weight read: `pixels` for the GEMM forms, the output width for the
    /// direct K×K convolution.
    public static func predictedSpeedup(rows: Int, columns: Int, pixels: Int, storedValues: Int, int8: Bool, nm: Bool,
                                        runLength: Int? = nil) -> Double {
        let c = costs(int8: int8, fullyConnected: pixels == 1)
        let outputs = Double(rows) * Double(pixels)
        let run = Double(Swift.max(runLength ?? pixels, 1))
        let dense = outputs * Double(columns) * c.denseMAC + outputs * c.denseOutput
        let sparse = Double(storedValues) * Double(pixels) * (c.sparseValue + c.sparseRun / run) + outputs * c.sparseOutput
        return dense / Swift.max(sparse, 1e-9)
    }
}
