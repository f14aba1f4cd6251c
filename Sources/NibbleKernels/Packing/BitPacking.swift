// Float → small integers → bit-planes (layout in BitPlaneLayout). The quantizers here are the only
// definition: the reference twins and the tests quantize with the same functions, so results compare bit-exactly.

#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

/// Quantization of floats to bit-plane integers and packing into `BitPlaneLayout` order.
public enum BitPacking {
    /// The least float whose 1-bit activation (`quantize`, bits 1) is 1 — x ≥ it exactly when the bit is set, NaN never:
    /// 0 for bipolar, the least x with x / step > 1/2 for unsigned (`step` > 0 and finite).
    public static func oneBitThreshold(step: Float, encoding: BitPlaneEncoding) -> Float {
        encoding == .bipolar ? 0 : ActivationPacking.leastRounding(to: 1, step: step)
    }

    /// Activation value: bipolar → x ≥ 0 ? +1 : −1 (NaN → −1); unsigned → clamp(round_half_even(x / step), 0, 2^bits − 1)
    /// (NaN → 0); two's complement → clamp(round_half_even(x / step), −2^(bits−1), 2^(bits−1) − 1) (NaN → 0).
    @inline(__always)
    public static func quantize(_ x: Float, step: Float, encoding: BitPlaneEncoding, bits: Int) -> Int8 {
        if encoding == .bipolar { return x >= 0 ? 1 : -1 }
        let r = encoding.range(bits: bits)
        let v = (x / step).rounded(.toNearestOrEven)
        if !(v >= Float(r.lowerBound)) { return v.isNaN ? 0 : Int8(r.lowerBound) }
        if v >= Float(r.upperBound) { return Int8(r.upperBound) }
        return Int8(v)
    }

    /// The planes of one integer value (its low `bits` bits; bipolar: +1 → 1, −1 → 0).
    @inline(__always)
    static func planeBits(_ v: Int8, encoding: BitPlaneEncoding) -> UInt64 {
        encoding == .bipolar ? (v > 0 ? 1 : 0) : UInt64(UInt8(bitPattern: v))
    }

    /// Packs element values given as `values[c · layout.vectors + v]` (NCHW activations: c-major, pixel-minor).
    /// `packed` must hold layout.wordCount words; it is fully overwritten.
    public static func packActivations(values: UnsafePointer<Int8>, layout: BitPlaneLayout,
                                       into packed: UnsafeMutablePointer<UInt64>) {
        precondition(isRepresentable(values, count: layout.channels * layout.vectors, layout: layout),
                     "BitPacking.packActivations: a value lies outside \(layout.encoding) \(layout.bits)-bit range")
        packed.update(repeating: 0, count: layout.wordCount)
        let wpv = layout.wordsPerVector, nv = layout.vectors
        for c in 0..<layout.channels {
            let word = c >> 6, shift = UInt64(c & 63)
            let row = values + c * nv
            for v in 0..<nv {
                let b = planeBits(row[v], encoding: layout.encoding)
                if b == 0 { continue }
                for j in 0..<layout.bits where (b >> UInt64(j)) & 1 == 1 {
                    packed[(j * nv + v) * wpv + word] |= 1 << shift
                }
            }
        }
    }

    /// Quantizes NCHW floats (`x[c · H·W + pixel]`, batch 1) with one step and packs them: the same words as
    /// `quantize` then `packActivations(values:)`, in one pass. Each block of 8 pixels × 64 channels is
    /// quantized into registers (8 pixels are contiguous in NCHW) and its words are assembled there, one
    /// shift-or per value and plane, instead of a read-modify-write of a strided word per set bit: this runs
    /// before every bit-serial layer, and the scattered form cost several times the conv itself
    /// (`nibble bench kernels` prints "pack 1-bit input"). Pixels past the last full block of 8 take the scalar
    /// path. `pixels` (all by default) packs a range only, for a session's threads: with bounds at multiples of 8
    /// (or at the end) each pixel takes the same path as in a whole pass.
    public static func packActivations(_ x: UnsafePointer<Float>, step: Float, layout: BitPlaneLayout,
                                       into packed: UnsafeMutablePointer<UInt64>, pixels: Range<Int>? = nil) {
        let nv = layout.vectors, wpv = layout.wordsPerVector, channels = layout.channels, bits = layout.bits
        let encoding = layout.encoding
        let r = encoding.range(bits: bits)
        let range = pixels ?? 0..<nv
        // Whole blocks of 8 pixels in the ISA module the host runs (one vector register per 8 lanes there).
        var v0: Int
        switch KernelISA.current {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            v0 = NibbleKernelsAVX512.ActivationPacking.packBlocks(x, step: step, vectors: nv, wordsPerVector: wpv, channels: channels,
                bits: bits, bipolar: encoding == .bipolar, lowest: r.lowerBound, highest: r.upperBound, into: packed, pixels: range)
        case .avx2:
            v0 = NibbleKernelsAVX2.ActivationPacking.packBlocks(x, step: step, vectors: nv, wordsPerVector: wpv, channels: channels,
                bits: bits, bipolar: encoding == .bipolar, lowest: r.lowerBound, highest: r.upperBound, into: packed, pixels: range)
        #endif
        default:
            v0 = ActivationPacking.packBlocks(x, step: step, vectors: nv, wordsPerVector: wpv, channels: channels,
                bits: bits, bipolar: encoding == .bipolar, lowest: r.lowerBound, highest: r.upperBound, into: packed, pixels: range)
        }
        // The last pixels, one at a time.
        while v0 < range.upperBound {
            for word in 0..<wpv {
                let c0 = word &<< 6
                let count = Swift.min(64, channels &- c0)
                for j in 0..<bits { packed[(j &* nv &+ v0) &* wpv &+ word] = 0 }
                for c in 0..<count {
                    let b = planeBits(quantize(x[(c0 &+ c) &* nv &+ v0], step: step, encoding: encoding, bits: bits),
                                      encoding: encoding)
                    for j in 0..<bits { packed[(j &* nv &+ v0) &* wpv &+ word] |= ((b &>> UInt64(j)) & 1) &<< UInt64(c) }
                }
            }
            v0 &+= 1
        }
    }

    /// Packs OIHW integer weights `values[((o · C + c) · kH + kh) · kW + kw]`; layout.vectors = O · kH · kW.
    public static func packWeights(values: UnsafePointer<Int8>, outChannels: Int, layout: BitPlaneLayout,
                                   into packed: UnsafeMutablePointer<UInt64>) {
        precondition(outChannels > 0 && layout.vectors % outChannels == 0,
                     "BitPacking.packWeights: layout.vectors \(layout.vectors) is not a multiple of outChannels \(outChannels)")
        precondition(isRepresentable(values, count: layout.channels * layout.vectors, layout: layout),
                     "BitPacking.packWeights: a value lies outside \(layout.encoding) \(layout.bits)-bit range")
        packed.update(repeating: 0, count: layout.wordCount)
        let taps = layout.vectors / outChannels, c = layout.channels, wpv = layout.wordsPerVector, nv = layout.vectors
        for o in 0..<outChannels {
            for ci in 0..<c {
                for t in 0..<taps {
                    let b = planeBits(values[(o * c + ci) * taps + t], encoding: layout.encoding)
                    if b == 0 { continue }
                    let v = o * taps + t
                    for j in 0..<layout.bits where (b >> UInt64(j)) & 1 == 1 {
                        packed[(j * nv + v) * wpv + (ci >> 6)] |= 1 << UInt64(ci & 63)
                    }
                }
            }
        }
    }

    /// Quantizes OIHW float weights with a step per output channel (`steps[o]`) and packs them;
    /// `scratch` holds layout.channels · layout.vectors bytes (it receives the integer weights).
    public static func packWeights(_ w: UnsafePointer<Float>, steps: UnsafePointer<Float>, outChannels: Int,
                                   layout: BitPlaneLayout, scratch: UnsafeMutablePointer<Int8>,
                                   into packed: UnsafeMutablePointer<UInt64>) {
        let perO = layout.channels * (layout.vectors / outChannels)
        for o in 0..<outChannels {
            for i in 0..<perO {
                scratch[o * perO + i] = quantize(w[o * perO + i], step: steps[o], encoding: layout.encoding, bits: layout.bits)
            }
        }
        packWeights(values: UnsafePointer(scratch), outChannels: outChannels, layout: layout, into: packed)
    }

    static func isRepresentable(_ v: UnsafePointer<Int8>, count: Int, layout: BitPlaneLayout) -> Bool {
        let r = layout.encoding.range(bits: layout.bits)
        for i in 0..<count {
            let x = Int(v[i])
            if layout.encoding == .bipolar ? (x != 1 && x != -1) : !r.contains(x) { return false }
        }
        return true
    }
}
