// The logistic sigmoid of whole rows at the level the session runs, from the shared source (`Exponential`), so every
// level gives the same floats. The runtime's steps are built for the baseline ISA; this call gives them the host's
// vector width.
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

public enum SigmoidRows {
    /// y[i] = 1 / (1 + Exponential.exp(−x[i])) for i < count. `y` may be `x`.
    public static func run(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512: NibbleKernelsAVX512.Exponential.sigmoid(x, count: count, into: y)
        case .avx2: NibbleKernelsAVX2.Exponential.sigmoid(x, count: count, into: y)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable: Exponential.sigmoid(x, count: count, into: y)
        case .reference: for i in 0..<count { y[i] = 1 / (1 + Exponential.exp(-x[i])) }
        }
    }
}
