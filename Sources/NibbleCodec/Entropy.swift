/// Empirical (order-0) entropy of quantized symbols: the bound a static per-layer code of single symbols can
/// reach, reported beside the achieved bits/value (issue 6, footprint benchmark). Standard library only, so the
/// logarithm is computed here rather than taken from libm.
public enum Entropy {
    /// −Σ pᵢ·log₂ pᵢ over the nonzero bins, in bits per value; 0 for an empty histogram.
    public static func bitsPerValue(_ histogram: UnsafeBufferPointer<UInt64>) -> Double {
        var total: Double = 0
        for count in histogram { total += Double(count) }
        if total == 0 { return 0 }
        var bits: Double = 0
        for count in histogram where count > 0 {
            let p = Double(count) / total
            bits -= p * log2(p)
        }
        return bits
    }

    /// Convenience over an array (calibration and reporting side).
    public static func bitsPerValue(_ histogram: [UInt64]) -> Double {
        histogram.withUnsafeBufferPointer { bitsPerValue($0) }
    }

    /// Adds each symbol to `histogram[symbol]`; symbols at or beyond `histogram.count` are ignored.
    public static func accumulate(_ symbols: UnsafeBufferPointer<UInt8>, into histogram: inout [UInt64]) {
        let n = histogram.count
        for s in symbols where Int(s) < n { histogram[Int(s)] &+= 1 }
    }

    /// log₂ x for finite x > 0 (NaN otherwise), accurate to about 1e-15: x = m·2^e with m in [1, 2), and
    /// ln m = 2·atanh((m − 1)/(m + 1)) summed as an odd power series (|t| ≤ 1/3, so 30 terms are plenty).
    public static func log2(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return x == 0 ? -.infinity : .nan }
        let e = Double(x.exponent)
        let m = x.significand
        let t = (m - 1) / (m + 1)
        let t2 = t * t
        var term = t
        var sum: Double = 0
        var k: Double = 1
        while k < 60 {
            sum += term / k
            term *= t2
            k += 2
        }
        return e + 2 * sum / 0.693_147_180_559_945_309_417_232_121_458
    }
}
