// Issue 5's fused glue between binary layers: a bit-serial conv whose output feeds only the next bit-serial layer
// writes that layer's 1-bit packed input straight from its integer sums (BinaryConvTiled.storePacked). The bit the
// float path gives, pack(quantize(clamp(Float(a)·scale + bias))), is monotonic in the sum a — each float operation
// rounds monotonically, and so do clamp and quantize — so it is one integer comparison per output channel, found
// once here by bisection over the exact float path: no float work or packing pass is left between the layers.

public enum BinaryChainThresholds {
    /// The sums the comparisons hold for: |a| ≤ this. Layers whose sums could be larger are not chained.
    public static let sumBound: Int32 = 1 << 30

    /// Whether every sum of a conv with these operands stays within `sumBound` (taps · C · 2^m · 2^k bounds |a|).
    public static func covers(_ g: ConvGeometry, activationBits m: Int, weightBits k: Int) -> Bool {
        let (taps, o1) = g.kernelH.multipliedReportingOverflow(by: g.kernelW)
        let (tc, o2) = taps.multipliedReportingOverflow(by: g.inC)
        return !o1 && !o2 && tc <= Int(sumBound) >> (m + k)
    }

    /// For output channel o < count: the bit BitPacking packs (layout `next`, one plane; bipolar or unsigned) for
    /// y = Int8Quantization.dequantize(a, scale: scales[o], bias: bias[o], outputMin:, outputMax:) quantized with
    /// `step` is (signs[o] · a ≥ thresholds[o]) for every |a| ≤ sumBound; signs[o] is −1 where scales[o] < 0 (the
    /// bit then falls as a grows).
    public static func make(scales: UnsafePointer<Float>, bias: UnsafePointer<Float>?, count: Int, outputMin: Float,
                            outputMax: Float, next: BitPlaneLayout, step: Float,
                            thresholds: UnsafeMutablePointer<Int32>, signs: UnsafeMutablePointer<Int32>) {
        precondition(next.bits == 1, "BinaryChainThresholds: \(next.bits)-bit packed output, expected 1")
        for o in 0..<count {
            let falling = scales[o] < 0, b = bias?[o] ?? 0
            // True from some sum upwards: the bit itself, or its complement where it falls.
            func rises(_ a: Int32) -> Bool {
                let y = Int8Quantization.dequantize(a, scale: scales[o], bias: b, outputMin: outputMin, outputMax: outputMax)
                let bit = BitPacking.planeBits(BitPacking.quantize(y, step: step, encoding: next.encoding, bits: 1),
                                               encoding: next.encoding) & 1 == 1
                return bit != falling
            }
            // The first sum in [−bound, bound + 1] where `rises` holds (bound + 1: nowhere).
            var lo = -Int64(sumBound), hi = Int64(sumBound) + 1
            while lo < hi {
                let mid = (lo + hi) >> 1
                if rises(Int32(mid)) { hi = mid } else { lo = mid + 1 }
            }
            // Rising: a ≥ T. Falling: the bit is a < T, i.e. −a ≥ 1 − T.
            thresholds[o] = Int32(falling ? 1 - lo : lo)
            signs[o] = falling ? -1 : 1
        }
    }
}
