// Sparse or dense for one layer? A two-term roofline-style estimate: dense time ∝ rows·columns·pixels (every
// weight, including the zeros), sparse time ∝ storedValues·pixels plus a per-row cost (row setup, N:M index
// decode, epilogue). As in Elsen et al. 2020 §5 / XNNPACK's sparse-inference switch, the break-even density
// depends on the pixel count: with one pixel (FC) the sparse kernel is a gather with no vector reuse.

/// Predicts the sparse kernel's speed-up over the dense one from the layer's shape and stored values.
public enum SparseCostModel {
    /// Nanoseconds per multiply-accumulate (per weight × pixel) and per row, measured with
    /// `nibble bench kernels` on the converter's host (AVX2, see the constants below).
    struct Costs { var dense: Double; var sparse: Double; var row: Double }

    /// fp32 constants; `pixels == 1` is the fully connected (gather) case.
    static func costs(int8: Bool, pixels: Int, nm: Bool) -> Costs {
        switch (int8, pixels > 1) {
        case (false, true): return Costs(dense: 0.0196, sparse: 0.0196, row: 20)
        case (false, false): return Costs(dense: 0.0812, sparse: 0.30, row: 8)
        case (true, true): return Costs(dense: 0.0118, sparse: 0.04, row: 30)
        case (true, false): return Costs(dense: 0.060, sparse: 0.35, row: 8)
        }
    }

    /// dense time ÷ sparse time; > 1 means the sparse kernel is predicted faster.
    public static func predictedSpeedup(rows: Int, columns: Int, pixels: Int, storedValues: Int, int8: Bool, nm: Bool) -> Double {
        let c = costs(int8: int8, pixels: pixels, nm: nm)
        let dense = Double(rows) * Double(columns) * Double(pixels) * c.dense
        let sparse = Double(storedValues) * Double(pixels) * c.sparse + Double(rows) * c.row
        return dense / Swift.max(sparse, 1e-9)
    }
}
