// Public direct sparse convolution entry point (K×K, stride 1, dilation 1, group 1; CSR weights): picks the ISA
// build. The x86 ISA modules exist only in the SwiftPM build (the Embedded ARM build compiles them out).
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

/// Convolution with CSR weights whose columns are OIHW rows (k = (c·kH + kh)·kW + kw), SkimCaffe-style over a
/// zero-padded copy of the input (`SparseConvDirect`). fp32 values, or int8 values with the int8 kernels' input
/// quantization and epilogue.
public enum SparseConv {
    /// What the direct kernel runs: stride 1, dilation 1, group 1 (any kernel size and padding).
    public static func supports(_ g: ConvGeometry) -> Bool {
        g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1 && g.groups == 1
    }

    /// Bytes of scratch (any level); pass a 64-byte aligned pointer.
    public static func scratchByteCount(_ g: ConvGeometry) -> Int {
        SparseConvDirect.scratchByteCount(inC: g.inC, outH: g.outH, outW: g.outW, kernelH: g.kernelH, kernelW: g.kernelW,
                                          columns: g.reductionLength)
    }

    public static func run(_ g: ConvGeometry, _ csr: SparseCSR, values: UnsafePointer<Float>, input: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer,
                           outputMin: Float = -.infinity, outputMax: Float = .infinity, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.SparseConvDirect.runF32(inC: g.inC, inH: g.inH, inW: g.inW, outC: g.outC, outH: g.outH, outW: g.outW,
                kernelH: g.kernelH, kernelW: g.kernelW, padTop: g.padTop, padLeft: g.padLeft, rowPointers: csr.rowPointers,
                columnIndices: csr.columnIndices, values: values, input: input, bias: bias, output: output, scratch: scratch,
                outputMin: outputMin, outputMax: outputMax)
        case .avx2:
            NibbleKernelsAVX2.SparseConvDirect.runF32(inC: g.inC, inH: g.inH, inW: g.inW, outC: g.outC, outH: g.outH, outW: g.outW,
                kernelH: g.kernelH, kernelW: g.kernelW, padTop: g.padTop, padLeft: g.padLeft, rowPointers: csr.rowPointers,
                columnIndices: csr.columnIndices, values: values, input: input, bias: bias, output: output, scratch: scratch,
                outputMin: outputMin, outputMax: outputMax)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable:
            SparseConvDirect.runF32(inC: g.inC, inH: g.inH, inW: g.inW, outC: g.outC, outH: g.outH, outW: g.outW,
                kernelH: g.kernelH, kernelW: g.kernelW, padTop: g.padTop, padLeft: g.padLeft, rowPointers: csr.rowPointers,
                columnIndices: csr.columnIndices, values: values, input: input, bias: bias, output: output, scratch: scratch,
                outputMin: outputMin, outputMax: outputMax)
        case .reference:
            // Never tuned: the dense reference convolution of the expanded weights.
            let w = SparseEncoding.dense(.csr(csr), values: values)
            FP32ConvReference.run(g, input: input, weights: w, bias: bias, output: output, outputMin: outputMin, outputMax: outputMax)
        }
    }

    public static func run(_ g: ConvGeometry, _ csr: SparseCSR, values: UnsafePointer<Int8>, input: UnsafePointer<Float>,
                           inputScale: Float, inputZeroPoint: Int32, weightScales: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer,
                           outputMin: Float = -.infinity, outputMax: Float = .infinity, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.SparseConvDirect.runInt8(inC: g.inC, inH: g.inH, inW: g.inW, outC: g.outC, outH: g.outH, outW: g.outW,
                kernelH: g.kernelH, kernelW: g.kernelW, padTop: g.padTop, padLeft: g.padLeft, rowPointers: csr.rowPointers,
                columnIndices: csr.columnIndices, values: values, input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint,
                weightScales: weightScales, bias: bias, output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        case .avx2:
            NibbleKernelsAVX2.SparseConvDirect.runInt8(inC: g.inC, inH: g.inH, inW: g.inW, outC: g.outC, outH: g.outH, outW: g.outW,
                kernelH: g.kernelH, kernelW: g.kernelW, padTop: g.padTop, padLeft: g.padLeft, rowPointers: csr.rowPointers,
                columnIndices: csr.columnIndices, values: values, input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint,
                weightScales: weightScales, bias: bias, output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable:
            SparseConvDirect.runInt8(inC: g.inC, inH: g.inH, inW: g.inW, outC: g.outC, outH: g.outH, outW: g.outW,
                kernelH: g.kernelH, kernelW: g.kernelW, padTop: g.padTop, padLeft: g.padLeft, rowPointers: csr.rowPointers,
                columnIndices: csr.columnIndices, values: values, input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint,
                weightScales: weightScales, bias: bias, output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        case .reference:
            let w = SparseEncoding.dense(.csr(csr), values: values)
            Int8ConvReference.run(g, input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint, weights: w,
                                  weightScales: weightScales, bias: bias, output: output, outputMin: outputMin, outputMax: outputMax)
        }
    }
}
