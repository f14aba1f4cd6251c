// Each ISA module compiles its own copy of the shared ConvGeometry and TernaryEdgeOutput; these convert field by
// field.
// The x86 ISA modules exist only in the SwiftPM build (the Embedded ARM build, scripts/test-arm, has none).
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512

extension ConvGeometry {
    @inline(__always) var forAVX2: NibbleKernelsAVX2.ConvGeometry {
        .init(inC: inC, inH: inH, inW: inW, outC: outC, outH: outH, outW: outW, kernelH: kernelH, kernelW: kernelW,
              strideH: strideH, strideW: strideW, padTop: padTop, padLeft: padLeft,
              dilationH: dilationH, dilationW: dilationW, groups: groups)
    }
    @inline(__always) var forAVX512: NibbleKernelsAVX512.ConvGeometry {
        .init(inC: inC, inH: inH, inW: inW, outC: outC, outH: outH, outW: outW, kernelH: kernelH, kernelW: kernelW,
              strideH: strideH, strideW: strideW, padTop: padTop, padLeft: padLeft,
              dilationH: dilationH, dilationW: dilationW, groups: groups)
    }
}

extension TernaryEdgeOutput {
    @inline(__always) var forAVX2: NibbleKernelsAVX2.TernaryEdgeOutput {
        .init(y, first: first, last: last, bias: bias, outputMin: outputMin, outputMax: outputMax)
    }
    @inline(__always) var forAVX512: NibbleKernelsAVX512.TernaryEdgeOutput {
        .init(y, first: first, last: last, bias: bias, outputMin: outputMin, outputMax: outputMax)
    }
}
#endif
