// Shared source (symlinked into every kernel module), so the CAT codec's quantize runs at the host's vector width
// (`QuantizeRows` picks the level) and gives the same bytes at every level. NibbleCodec itself is built for the
// baseline ISA, where this loop was 13 % of a CAT MobileNet's run (SSE, 8 lanes in two halves).

/// The CAT codec's activation quantizer (NibbleCodec's `ActivationQuantizer`): q = ⌊clamp(x/step + zeroPoint, 0,
/// maxSymbol) + 1/2⌋ (round half up), NaN → zeroPoint.
public enum SymbolQuantization {
    @inline(__always)
    public static func quantize(_ x: Float, step: Float, zeroPoint: Int, maxSymbol: Int) -> UInt8 {
        // Clamp in the float domain first, then truncate v + 1/2, which is exact for v in [0, 255] and, unlike
        // Float.rounded(), needs no libm call (roundf was 10 % of a CAT session's run time on the digits CNN).
        var v = x / step + Float(zeroPoint)
        if !(v >= 0) { v = x.isNaN ? Float(zeroPoint) : 0 }
        if v > Float(maxSymbol) { v = Float(maxSymbol) }
        return UInt8(truncatingIfNeeded: Int32(v + 0.5))
    }

    /// `count` values, 16 lanes at a time with the scalar form's IEEE operations per lane (same bytes).
    @inline(__always)
    public static func quantize(_ x: UnsafePointer<Float>, count n: Int, step: Float, zeroPoint: Int, maxSymbol: Int,
                                into q: UnsafeMutablePointer<UInt8>) {
        let s = SIMD16<Float>(repeating: step), zp = SIMD16<Float>(repeating: Float(zeroPoint))
        let top = SIMD16<Float>(repeating: Float(maxSymbol)), magic = SIMD16<Float>(repeating: 8_388_608)
        var i = 0
        while i &+ 16 <= n {
            let xs = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            var v = xs / s + zp
            v = v.replacing(with: 0, where: .!(v .>= 0)).replacing(with: zp, where: xs .!= xs)
            let y = v.replacing(with: top, where: v .> top) + 0.5
            // ⌊y⌋ for y in [0.5, 255.5] without a per-lane float → int call: 2^23 + y rounds y to the nearest
            // integer n (ties to even) and holds n in its low mantissa bits; subtract 1 where n > y.
            let t = y + magic
            let down = SIMD16<UInt32>(repeating: 0).replacing(with: 1, where: t - magic .> y)
            let bits = unsafeBitCast(t, to: SIMD16<UInt32>.self) &- down
            UnsafeMutableRawPointer(q + i).storeBytes(of: byteLanes(bits), as: SIMD16<UInt8>.self)
            i &+= 16
        }
        // Raw loads and stores, as above: `q` may be `x`'s own memory (`QuantizeRows`).
        while i < n {
            let v = UnsafeRawPointer(x + i).load(as: Float.self)
            UnsafeMutableRawPointer(q + i).storeBytes(of: quantize(v, step: step, zeroPoint: zeroPoint, maxSymbol: maxSymbol), as: UInt8.self)
            i &+= 1
        }
    }
}
