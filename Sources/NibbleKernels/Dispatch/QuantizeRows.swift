// Float → byte quantization of whole rows at the level the session runs, from the shared sources (`Int8Quantization`,
// `SymbolQuantization`), so every level gives the same bytes. Callers outside the kernel modules (the CAT codec, a
// line buffer, the ternary step) are built for the baseline ISA; these calls give them the host's vector width.
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

public enum QuantizeRows {
    /// q[i] = Int8Quantization.quantize(x[i], scale, zeroPoint) for i < count (an int8 kernel's uint8 input).
    /// `q` may be `x`'s own memory: a forward pass reads each float before a byte lands on it.
    public static func uint8(_ x: UnsafePointer<Float>, count: Int, scale: Float, zeroPoint: Int32, into q: UnsafeMutablePointer<UInt8>,
                             isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.Int8Quantization.quantize(x, count: count, scale: scale, zeroPoint: zeroPoint, into: q)
        case .avx2:
            NibbleKernelsAVX2.Int8Quantization.quantize(x, count: count, scale: scale, zeroPoint: zeroPoint, into: q)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable, .reference:
            Int8Quantization.quantize(x, count: count, scale: scale, zeroPoint: zeroPoint, into: q)
        }
    }

    /// q[i] = SymbolQuantization.quantize(x[i], step, zeroPoint, maxSymbol) for i < count (the CAT codec's symbols).
    /// `q` may be `x`'s own memory, as above.
    public static func symbols(_ x: UnsafePointer<Float>, count: Int, step: Float, zeroPoint: Int, maxSymbol: Int,
                               into q: UnsafeMutablePointer<UInt8>, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.SymbolQuantization.quantize(x, count: count, step: step, zeroPoint: zeroPoint, maxSymbol: maxSymbol, into: q)
        case .avx2:
            NibbleKernelsAVX2.SymbolQuantization.quantize(x, count: count, step: step, zeroPoint: zeroPoint, maxSymbol: maxSymbol, into: q)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable, .reference:
            SymbolQuantization.quantize(x, count: count, step: step, zeroPoint: zeroPoint, maxSymbol: maxSymbol, into: q)
        }
    }
}
