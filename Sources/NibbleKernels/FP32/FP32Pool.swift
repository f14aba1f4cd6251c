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

    /// sums[c] += x[c·length], then x[c·length + 1], … in index order for c < channels: each channel's float sum in
    /// the order of a plain loop (global average pooling, whole or band by band), but 8 channels' chains at a time.
    /// One channel at a time, each add waited for the last one (5 % of a digits32 MobileNet's run).
    public static func accumulateChannelSums(_ x: UnsafePointer<Float>, channels: Int, length: Int,
                                             into sums: UnsafeMutablePointer<Float>) {
        var c = 0
        while c &+ 8 <= channels {
            let p = x + c &* length
            var s0 = sums[c], s1 = sums[c &+ 1], s2 = sums[c &+ 2], s3 = sums[c &+ 3]
            var s4 = sums[c &+ 4], s5 = sums[c &+ 5], s6 = sums[c &+ 6], s7 = sums[c &+ 7]
            for i in 0..<length {
                s0 += p[i]; s1 += p[length &+ i]; s2 += p[2 &* length &+ i]; s3 += p[3 &* length &+ i]
                s4 += p[4 &* length &+ i]; s5 += p[5 &* length &+ i]; s6 += p[6 &* length &+ i]; s7 += p[7 &* length &+ i]
            }
            sums[c] = s0; sums[c &+ 1] = s1; sums[c &+ 2] = s2; sums[c &+ 3] = s3
            sums[c &+ 4] = s4; sums[c &+ 5] = s5; sums[c &+ 6] = s6; sums[c &+ 7] = s7
            c &+= 8
        }
        while c < channels {
            let p = x + c &* length
            var s = sums[c]
            for i in 0..<length { s += p[i] }
            sums[c] = s
            c &+= 1
        }
    }
}
