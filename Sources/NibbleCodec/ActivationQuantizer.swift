import NibbleKernels

/// Per-layer uniform quantizer for feature maps (issue 6, "CAT low-entropy codes").
///
/// Symbols are unsigned integers q in 0...2^bits − 1 and x ≈ (q − zeroPoint)·step:
/// - unsigned (after ReLU): zeroPoint = 0, q = ⌊clamp(x/step, 0, 2^bits − 1) + 1/2⌋;
/// - signed: zeroPoint = 2^(bits−1), q = ⌊clamp(x/step + zeroPoint, 0, 2^bits − 1) + 1/2⌋ (symmetric clip).
///
/// The step is chosen from calibration samples to minimise the mean squared quantization error (MSE-optimal
/// clipping, as in ACIQ/LAPQ): max-scaled steps waste levels on rare outliers, which at 4 bits costs a lot of
/// accuracy (issue 6 quotes MobileNetV3); the search below picks the clip that balances rounding against
/// clipping error.
public struct ActivationQuantizer: Sendable, Equatable {
    public let bits: Int
    public let step: Float
    public let zeroPoint: Int

    /// The largest symbol, 2^bits − 1.
    public var maxSymbol: Int { (1 << bits) - 1 }
    /// The symbol that dequantizes to 0 (the symbol zero runs are made of).
    public var zeroSymbol: UInt8 { UInt8(truncatingIfNeeded: zeroPoint) }

    /// Nil unless bits is in 2...8, step is finite and > 0, and zeroPoint is a symbol.
    public init?(bits: Int, step: Float, zeroPoint: Int = 0) {
        guard (2...8).contains(bits), step.isFinite, step > 0,
              zeroPoint >= 0, zeroPoint < (1 << bits) else { return nil }
        self.bits = bits
        self.step = step
        self.zeroPoint = zeroPoint
    }

    /// q = ⌊clamp(x/step + zeroPoint, 0, maxSymbol) + 1/2⌋, NaN → zeroPoint (`SymbolQuantization`, shared with the
    /// vector kernels so every path gives the same bytes).
    @inline(__always)
    public func quantize(_ x: Float) -> UInt8 {
        SymbolQuantization.quantize(x, step: step, zeroPoint: zeroPoint, maxSymbol: maxSymbol)
    }

    @inlinable @inline(__always)
    public func dequantize(_ q: UInt8) -> Float {
        Float(Int(q) - zeroPoint) * step
    }

    /// Quantizes `min(input.count, output.count)` values at the host's vector width (`QuantizeRows`: the same bytes
    /// as the scalar form at every level); no allocation. Every band a CAT session encodes goes through here.
    public func quantize(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<UInt8>) {
        guard let x = input.baseAddress, let q = output.baseAddress else { return }
        QuantizeRows.symbols(x, count: Swift.min(input.count, output.count), step: step, zeroPoint: zeroPoint, maxSymbol: maxSymbol, into: q)
    }

    /// Dequantizes `min(input.count, output.count)` values, 8 lanes at a time (same floats as the scalar form:
    /// q − zeroPoint is exact in both); no allocation.
    public func dequantize(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Float>) {
        let n = Swift.min(input.count, output.count)
        guard let q = input.baseAddress, let y = output.baseAddress else { return }
        let step = SIMD8<Float>(repeating: self.step)
        // 2^23 + q as float bits, minus 2^23 + zeroPoint: (q − zeroPoint) exactly, without an int → float call.
        let exponent = SIMD8<UInt32>(repeating: 0x4B00_0000), offset = SIMD8<Float>(repeating: 8_388_608 + Float(zeroPoint))
        var i = 0
        while i &+ 8 <= n {
            let qs = SIMD8<UInt32>(truncatingIfNeeded: UnsafeRawPointer(q + i).loadUnaligned(as: SIMD8<UInt8>.self))
            let v = unsafeBitCast(exponent | qs, to: SIMD8<Float>.self) - offset
            UnsafeMutableRawPointer(y + i).storeBytes(of: v * step, as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < n { y[i] = dequantize(q[i]); i &+= 1 }
    }

    /// Mean of (x − dequantize(quantize(x)))² over the samples (non-finite samples are skipped).
    public func meanSquaredError(_ samples: UnsafeBufferPointer<Float>) -> Double {
        var sum: Double = 0
        var n = 0
        for x in samples where x.isFinite {
            let d = Double(x) - Double(dequantize(quantize(x)))
            sum += d * d
            n += 1
        }
        return n == 0 ? 0 : sum / Double(n)
    }

    // MARK: calibration (convert time)

    /// The MSE-optimal quantizer for the samples: the clip value c is searched over `candidates` points spread
    /// evenly in [minimumFraction·max|x|, max|x|], then refined on a grid 20× finer around the best point;
    /// step = c / (positive levels). Nil if bits is out of range; samples that are all zero (or empty)
    /// give step 1.
    public static func calibrated(
        samples: UnsafeBufferPointer<Float>, bits: Int, signed: Bool,
        candidates: Int = 100, minimumFraction: Float = 0.01
    ) -> ActivationQuantizer? {
        guard (2...8).contains(bits) else { return nil }
        let zeroPoint = signed ? 1 << (bits - 1) : 0
        let positiveLevels = Float((1 << bits) - 1 - zeroPoint)
        let maxAbs = maxAbsolute(samples, signed: signed)
        guard maxAbs > 0 else { return ActivationQuantizer(bits: bits, step: 1, zeroPoint: zeroPoint) }

        let count = Swift.max(candidates, 2)
        let low = maxAbs * Swift.min(Swift.max(minimumFraction, 1e-6), 1)
        let spacing = (maxAbs - low) / Float(count - 1)
        var best: ActivationQuantizer? = nil
        var bestError = Double.infinity
        var bestClip = maxAbs
        func consider(_ clip: Float) {
            guard clip > 0, let q = ActivationQuantizer(bits: bits, step: clip / positiveLevels, zeroPoint: zeroPoint)
            else { return }
            let e = q.meanSquaredError(samples)
            if e < bestError { bestError = e; best = q; bestClip = clip }
        }
        for i in 0..<count { consider(low + spacing * Float(i)) }
        let center = bestClip
        for j in -20...20 where j != 0 { consider(center + spacing * Float(j) / 20) }
        return best
    }

    /// The max-scaled quantizer (clip = max|x|), kept for comparison with the MSE-clipped one.
    public static func maxScaled(samples: UnsafeBufferPointer<Float>, bits: Int, signed: Bool) -> ActivationQuantizer? {
        guard (2...8).contains(bits) else { return nil }
        let zeroPoint = signed ? 1 << (bits - 1) : 0
        let positiveLevels = Float((1 << bits) - 1 - zeroPoint)
        let maxAbs = maxAbsolute(samples, signed: signed)
        return ActivationQuantizer(bits: bits, step: maxAbs > 0 ? maxAbs / positiveLevels : 1, zeroPoint: zeroPoint)
    }

    /// max x (unsigned: negatives are clipped to 0 anyway) or max |x| (signed), over finite samples.
    static func maxAbsolute(_ samples: UnsafeBufferPointer<Float>, signed: Bool) -> Float {
        var m: Float = 0
        for x in samples where x.isFinite {
            let v = signed ? abs(x) : x
            if v > m { m = v }
        }
        return m
    }
}
