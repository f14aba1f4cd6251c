// Public entry for the pooling kernels the runtime's PoolStep calls: picks the ISA build of PoolInterior.
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

public enum FP32Pool {
    /// PoolInterior.row at the level the host runs (see there); returns the first output column left.
    public static func interiorRow(_ src: UnsafePointer<Float>, planeEnd: Int, inW: Int, y0: Int, oxLo: Int, oxHi: Int, sW: Int,
                                   padLeft: Int, kH: Int, kW: Int, dH: Int, dW: Int, isMax: Bool,
                                   into dst: UnsafeMutablePointer<Float>, isa: KernelISA = KernelISA.current) -> Int {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            return NibbleKernelsAVX512.PoolInterior.row(src, planeEnd: planeEnd, inW: inW, y0: y0, oxLo: oxLo, oxHi: oxHi, sW: sW,
                                                        padLeft: padLeft, kH: kH, kW: kW, dH: dH, dW: dW, isMax: isMax, into: dst)
        case .avx2:
            return NibbleKernelsAVX2.PoolInterior.row(src, planeEnd: planeEnd, inW: inW, y0: y0, oxLo: oxLo, oxHi: oxHi, sW: sW,
                                                      padLeft: padLeft, kH: kH, kW: kW, dH: dH, dW: dW, isMax: isMax, into: dst)
        #endif
        default:
            return PoolInterior.row(src, planeEnd: planeEnd, inW: inW, y0: y0, oxLo: oxLo, oxHi: oxHi, sW: sW,
                                    padLeft: padLeft, kH: kH, kW: kW, dH: dH, dW: dW, isMax: isMax, into: dst)
        }
    }
}
