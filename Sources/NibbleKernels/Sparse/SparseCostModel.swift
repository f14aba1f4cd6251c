// Sparse or dense for one layer? Dense time ∝ every weight × pixel (zeros included) plus a per-output term;
// sparse time ∝ stored values × pixels plus a per-output term (row setup, epilogue, the pixel tail). As in
// Elsen et al. 2020 §5 and XNNPACK's sparse-inference switch, the break-even density depends on the shape: with
// one pixel (FullyConnected) the sparse kernel is a gather with no vector reuse and loses to dense GEMV below
// ~85 % sparsity; over many pixels it wins from ~50–60 %.

/// Predicts the sparse kernel's speed-up over the dense one from the layer's shape and stored values.
public enum SparseCostModel {
    /// Nanoseconds per dense MAC, per dense output, per stored value × pixel (sparse) and per sparse output.
    struct Costs { var denseMAC: Double; var denseOutput: Double; var sparseValue: Double; var sparseOutput: Double }

    /// Fitted to `nibble bench kernels --sparse-sweep` (min times; AMD EPYC, AVX2, 1 thread, 2026-11-27, on a
    /// shared machine at load ≈ 6.5 on 2 vCPUs, so ±30 %): dense 1x1 convs at L5 scale, sparse through the L5 points at
    /// 50 % and 95 % sparsity; FullyConnected through G1 (4096→1000) and 128×64. E.g. fp32 L5: dense 1.85 ms, CSR 90 %
    /// 0.57 ms (model 0.66); fp32 FC 64→128 at 90 %: dense 0.81 µs, CSR 2.15 µs (model 2.4). N:M rows cost the same
    /// per stored slot as CSR per nonzero within that noise (L5 2:4: 3.1 ms, CSR 50 %: 2.6 ms), so one set serves both.
    static func costs(int8: Bool, fullyConnected: Bool) -> Costs {
        switch (int8, fullyConnected) {
        case (false, false): return Costs(denseMAC: 0.036, denseOutput: 0, sparseValue: 0.093, sparseOutput: 0.9)
        case (false, true): return Costs(denseMAC: 0.079, denseOutput: 1.3, sparseValue: 0.55, sparseOutput: 15)
        case (true, false): return Costs(denseMAC: 0.055, denseOutput: 0, sparseValue: 0.055, sparseOutput: 1.33)
        case (true, true): return Costs(denseMAC: 0.093, denseOutput: 9.7, sparseValue: 0.57, sparseOutput: 12.5)
        }
    }

    /// dense time ÷ sparse time for `rows` outputs per pixel (K×K direct convs use the 1x1 constants: both sides
    /// stream one contiguous run of pixels per stored weight), `columns` weights per row and `storedValues`
    /// (CSR nonzeros or N:M slots); > 1 means the sparse kernel is predicted faster. `nm` is accepted for when the
    /// layouts' costs part (today they measure alike).
    public static func predictedSpeedup(rows: Int, columns: Int, pixels: Int, storedValues: Int, int8: Bool, nm: Bool) -> Double {
        let c = costs(int8: int8, fullyConnected: pixels == 1)
        let outputs = Double(rows) * Double(pixels)
        let dense = outputs * Double(columns) * c.denseMAC + outputs * c.denseOutput
        let sparse = Double(storedValues) * Double(pixels) * c.sparseValue + outputs * c.sparseOutput
        return dense / Swift.max(sparse, 1e-9)
    }
}
