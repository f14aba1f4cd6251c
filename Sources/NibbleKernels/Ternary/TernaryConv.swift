// Public entry points of the ternary × uint8 kernel (TernaryConvTiled): pick the ISA build. The x86 ISA
// modules exist only in the SwiftPM build (the Embedded ARM build compiles them out).
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

/// FGQ ternary residual edges on packed two-mask planes (TernaryPlanes), group-1 convolutions and fully
/// connected layers (a 1×1 conv over one pixel): the caller quantizes the input to uint8, then per tile of
/// `tilePixels` output pixels builds the panel once and accumulates each enabled edge into the float output
/// (which it zeroed), then applies `TernaryConvReference.epilogue`. Bit-identical to TernaryConvReference.
public enum TernaryConv {
    public static var tilePixels: Int { TernaryConvTiled.tilePixels }

    public static func supports(_ g: ConvGeometry) -> Bool { g.groups == 1 }

    /// Scratch for one tile's panel and the per-channel partial sums (64-byte aligned pointer).
    public static func panelByteCount(_ g: ConvGeometry) -> Int {
        TernaryConvTiled.panelByteCount(reductionLength: g.reductionLength, outC: g.outC)
    }

    public static func buildPanel(_ g: ConvGeometry, input q: UnsafePointer<UInt8>, zeroPoint: Int32, pixelStart: Int,
                                  count: Int, panel: UnsafeMutableRawPointer, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.TernaryConvTiled.buildPanel(inC: g.inC, inH: g.inH, inW: g.inW, outW: g.outW,
                kernelH: g.kernelH, kernelW: g.kernelW, strideH: g.strideH, strideW: g.strideW, padTop: g.padTop,
                padLeft: g.padLeft, dilationH: g.dilationH, dilationW: g.dilationW, input: q, zeroPoint: zeroPoint,
                pixelStart: pixelStart, count: count, panel: panel)
        case .avx2:
            NibbleKernelsAVX2.TernaryConvTiled.buildPanel(inC: g.inC, inH: g.inH, inW: g.inW, outW: g.outW,
                kernelH: g.kernelH, kernelW: g.kernelW, strideH: g.strideH, strideW: g.strideW, padTop: g.padTop,
                padLeft: g.padLeft, dilationH: g.dilationH, dilationW: g.dilationW, input: q, zeroPoint: zeroPoint,
                pixelStart: pixelStart, count: count, panel: panel)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable, .reference:
            TernaryConvTiled.buildPanel(inC: g.inC, inH: g.inH, inW: g.inW, outW: g.outW,
                kernelH: g.kernelH, kernelW: g.kernelW, strideH: g.strideH, strideW: g.strideW, padTop: g.padTop,
                padLeft: g.padLeft, dilationH: g.dilationH, dilationW: g.dilationW, input: q, zeroPoint: zeroPoint,
                pixelStart: pixelStart, count: count, panel: panel)
        }
    }

    /// output[o, pixelStart ..< pixelStart + count] += one edge's contribution (see TernaryConvTiled).
    public static func accumulateEdge(_ g: ConvGeometry, panel: UnsafeMutableRawPointer, count: Int, planes: UnsafePointer<UInt64>,
                                      groupSize: Int, alpha: UnsafePointer<Float>, inputScale: Float,
                                      output: UnsafeMutablePointer<Float>, pixelStart: Int, isa: KernelISA = KernelISA.current) {
        let rowLength = g.reductionLength, taps = g.kernelH &* g.kernelW
        let single = TernaryConvTiled.isSinglePixel(inH: g.inH, inW: g.inW, kernelH: g.kernelH, kernelW: g.kernelW,
                                                    padTop: g.padTop, padLeft: g.padLeft)
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.TernaryConvTiled.accumulateEdge(panel: panel, count: count, words: planes, rows: g.outC,
                rowLength: rowLength, taps: taps, groupSize: groupSize, alpha: alpha, inputScale: inputScale,
                output: output, outPixels: g.outPixels, pixelStart: pixelStart, singlePixel: single)
        case .avx2:
            NibbleKernelsAVX2.TernaryConvTiled.accumulateEdge(panel: panel, count: count, words: planes, rows: g.outC,
                rowLength: rowLength, taps: taps, groupSize: groupSize, alpha: alpha, inputScale: inputScale,
                output: output, outPixels: g.outPixels, pixelStart: pixelStart, singlePixel: single)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable, .reference:
            TernaryConvTiled.accumulateEdge(panel: panel, count: count, words: planes, rows: g.outC,
                rowLength: rowLength, taps: taps, groupSize: groupSize, alpha: alpha, inputScale: inputScale,
                output: output, outPixels: g.outPixels, pixelStart: pixelStart, singlePixel: single)
        }
    }
}
