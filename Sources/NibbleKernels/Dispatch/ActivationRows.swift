// Sigmoid, HardSigmoid and HardSwish of whole rows at the level the session runs, from the shared sources
// (`Exponential`, `HardActivations`), so every level gives the same floats. The runtime's steps are built for the
// baseline ISA; these calls give them the host's vector width.
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

public enum ActivationRows {
    /// y[i] = 1 / (1 + Exponential.exp(−x[i])) for i < count. `y` may be `x`.
    public static func sigmoid(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>, isa: KernelISA = KernelISA.current) {
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

    /// y[i] = x[i] · (1 / (1 + Exponential.exp(−x[i]))) for i < count (Swish). `y` may be `x`.
    public static func swish(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512: NibbleKernelsAVX512.Exponential.swish(x, count: count, into: y)
        case .avx2: NibbleKernelsAVX2.Exponential.swish(x, count: count, into: y)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable: Exponential.swish(x, count: count, into: y)
        case .reference: for i in 0..<count { y[i] = x[i] * (1 / (1 + Exponential.exp(-x[i]))) }
        }
    }

    /// y[i] = HardActivations.hardSigmoid(x[i], alpha, beta) for i < count. `y` may be `x`.
    public static func hardSigmoid(_ x: UnsafePointer<Float>, count: Int, alpha: Float, beta: Float, into y: UnsafeMutablePointer<Float>,
                                   isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512: NibbleKernelsAVX512.HardActivations.hardSigmoid(x, count: count, alpha: alpha, beta: beta, into: y)
        case .avx2: NibbleKernelsAVX2.HardActivations.hardSigmoid(x, count: count, alpha: alpha, beta: beta, into: y)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable: HardActivations.hardSigmoid(x, count: count, alpha: alpha, beta: beta, into: y)
        case .reference: for i in 0..<count { y[i] = HardActivations.hardSigmoid(x[i], alpha: alpha, beta: beta) }
        }
    }

    /// y[i] = HardActivations.hardSwish(x[i]) for i < count. `y` may be `x`.
    public static func hardSwish(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512: NibbleKernelsAVX512.HardActivations.hardSwish(x, count: count, into: y)
        case .avx2: NibbleKernelsAVX2.HardActivations.hardSwish(x, count: count, into: y)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable: HardActivations.hardSwish(x, count: count, into: y)
        case .reference: for i in 0..<count { y[i] = HardActivations.hardSwish(x[i]) }
        }
    }
}
