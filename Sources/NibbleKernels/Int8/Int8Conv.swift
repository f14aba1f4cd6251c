// Public int8 convolution entry point: picks the ISA build (VNNI on AVX-512, exact widening elsewhere; groups-1 convs
// with ≥ 16 output pixels run im2col-free, Int8ConvIndirect — on AVX-512 only with ≥ 4 output pixels per output
// channel; depthwise convs run direct at every level, Int8DepthwiseDirect).
// The x86 ISA modules exist only in the SwiftPM build; the Embedded ARM build (scripts/test-arm) compiles
// these files into one module without them (#if false there), so every level runs the portable kernels.
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

/// Convolution with uint8 activations (quantized here, per-tensor scale and zero point) and int8
/// symmetric OIHW weights with per-output-channel scales; float output with fused bias and clamp.
public enum Int8Conv {
    /// Bytes of scratch `run` needs at any level this host runs; pass a 64-byte aligned pointer.
    /// (Only levels the host supports are asked: their code may not execute elsewhere.)
    public static func scratchByteCount(_ g: ConvGeometry) -> Int {
        var n = Int8ConvTiled.scratchByteCount(g)
        if Int8DepthwiseDirect.applies(g) { n = Swift.max(n, Int8DepthwiseDirect.scratchByteCount(g)) }
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        if KernelISA.detected >= .avx2 {
            n = Swift.max(n, NibbleKernelsAVX2.Int8ConvTiled.scratchByteCount(g.forAVX2))
            if Int8DepthwiseDirect.applies(g) { n = Swift.max(n, NibbleKernelsAVX2.Int8DepthwiseDirect.scratchByteCount(g.forAVX2)) }
            if NibbleKernelsAVX2.Int8ConvIndirect.applies(g.forAVX2) { n = Swift.max(n, NibbleKernelsAVX2.Int8ConvIndirect.scratchByteCount(g.forAVX2)) }
        }
        if KernelISA.detected >= .avx512 {
            n = Swift.max(n, NibbleKernelsAVX512.Int8ConvTiled.scratchByteCount(g.forAVX512))
            if Int8DepthwiseDirect.applies(g) { n = Swift.max(n, NibbleKernelsAVX512.Int8DepthwiseDirect.scratchByteCount(g.forAVX512)) }
            if NibbleKernelsAVX512.Int8ConvIndirect.applies(g.forAVX512) {
                n = Swift.max(n, NibbleKernelsAVX512.Int8ConvIndirect.scratchByteCount(g.forAVX512))
            }
        }
        #endif
        return n
    }

    /// Whether `run` reads `rowSums` for this geometry: depthwise convs (`Int8DepthwiseDirect`, at every level) use none.
    public static func usesRowSums(_ g: ConvGeometry) -> Bool { !Int8DepthwiseDirect.applies(g) }

    /// Each output channel's weight sum over its K = inC/groups · kH · kW weights: what `run` takes as `rowSums`.
    public static func rowSums(_ g: ConvGeometry, weights: UnsafePointer<Int8>) -> [Int32] {
        Int8FullyConnected.rowSums(weights: weights, inFeatures: g.reductionLength, outFeatures: g.outC)
    }

    /// y[o] = clamp(Σ (q - zp)·w[o] · inputScale · weightScales[o] + bias[o]),
    /// q = clamp(round(x / inputScale) + inputZeroPoint, 0, 255). `quantizedInput`, when given, is that q already
    /// (a CAT window decoded straight to bytes): read instead of `input`, which is then not read. `rowSums`: each
    /// output channel's weight sum (`rowSums(_:weights:)`), counted once by the caller (a model at load); without
    /// them each run counts them again (depthwise convs use none).
    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, inputScale: Float, inputZeroPoint: Int32,
                           weights: UnsafePointer<Int8>, weightScales: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutableRawPointer, outputMin: Float = -.infinity,
                           outputMax: Float = .infinity, outputPixels: Range<Int>? = nil,
                           quantizedInput: UnsafePointer<UInt8>? = nil, rowSums: UnsafePointer<Int32>? = nil,
                           isa: KernelISA = KernelISA.current) {
        let pixels = outputPixels ?? 0..<g.outPixels
        precondition(pixels.lowerBound >= 0 && pixels.upperBound <= g.outPixels, "Int8Conv: output pixels \(pixels) outside 0..<\(g.outPixels)")
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512 where Int8DepthwiseDirect.applies(g):
            NibbleKernelsAVX512.Int8DepthwiseDirect.run(g.forAVX512, input: input, inputScale: inputScale,
                inputZeroPoint: inputZeroPoint, weights: weights, weightScales: weightScales, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax, pixels: pixels,
                quantizedInput: quantizedInput)
        case .avx2 where Int8DepthwiseDirect.applies(g):
            NibbleKernelsAVX2.Int8DepthwiseDirect.run(g.forAVX2, input: input, inputScale: inputScale,
                inputZeroPoint: inputZeroPoint, weights: weights, weightScales: weightScales, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax, pixels: pixels,
                quantizedInput: quantizedInput)
        case .avx512 where NibbleKernelsAVX512.Int8ConvIndirect.applies(g.forAVX512):
            NibbleKernelsAVX512.Int8ConvIndirect.run(g.forAVX512, input: input, inputScale: inputScale,
                inputZeroPoint: inputZeroPoint, weights: weights, weightScales: weightScales, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax, pixels: pixels,
                quantizedInput: quantizedInput, rowSums: rowSums)
        case .avx512:
            NibbleKernelsAVX512.Int8ConvTiled.run(g.forAVX512, input: input, inputScale: inputScale,
                inputZeroPoint: inputZeroPoint, weights: weights, weightScales: weightScales, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax, pixels: pixels,
                quantizedInput: quantizedInput, rowSums: rowSums)
        case .avx2 where NibbleKernelsAVX2.Int8ConvIndirect.applies(g.forAVX2):
            NibbleKernelsAVX2.Int8ConvIndirect.run(g.forAVX2, input: input, inputScale: inputScale,
                inputZeroPoint: inputZeroPoint, weights: weights, weightScales: weightScales, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax, pixels: pixels,
                quantizedInput: quantizedInput, rowSums: rowSums)
        case .avx2:
            NibbleKernelsAVX2.Int8ConvTiled.run(g.forAVX2, input: input, inputScale: inputScale,
                inputZeroPoint: inputZeroPoint, weights: weights, weightScales: weightScales, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax, pixels: pixels,
                quantizedInput: quantizedInput, rowSums: rowSums)
        #else
        case .avx512, .avx2:
            fallthrough  // no x86 ISA modules in this build: run the portable kernels
        #endif
        case .portable:
            // An `if`, not a `where` case: the build without x86 modules falls through into this body.
            if Int8DepthwiseDirect.applies(g) {
                Int8DepthwiseDirect.run(g, input: input, inputScale: inputScale,
                    inputZeroPoint: inputZeroPoint, weights: weights, weightScales: weightScales, bias: bias,
                    output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax, pixels: pixels,
                    quantizedInput: quantizedInput)
                return
            }
            Int8ConvTiled.run(g, input: input, inputScale: inputScale,
                inputZeroPoint: inputZeroPoint, weights: weights, weightScales: weightScales, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax, pixels: pixels,
                quantizedInput: quantizedInput, rowSums: rowSums)
        case .reference:
            // All pixels into a temporary, then the requested ones (the reference is never timed).
            let n = g.outPixels
            if let q = quantizedInput {
                // Bytes back to floats that quantize to the same bytes: (q − zp)·s/s rounds to q − zp (|q − zp| ≤ 255,
                // so the relative error of the two roundings is far below 1/2).
                let floats = (0..<g.inC * g.inH * g.inW).map { Float(Int32(q[$0]) - inputZeroPoint) * inputScale }
                run(g, input: floats, inputScale: inputScale, inputZeroPoint: inputZeroPoint, weights: weights,
                    weightScales: weightScales, bias: bias, output: output, scratch: scratch, outputMin: outputMin,
                    outputMax: outputMax, outputPixels: outputPixels, isa: .reference)
                return
            }
            var all = [Float](repeating: 0, count: g.outC * n)
            Int8ConvReference.run(g, input: input, inputScale: inputScale, inputZeroPoint: inputZeroPoint,
                weights: weights, weightScales: weightScales, bias: bias, output: &all,
                outputMin: outputMin, outputMax: outputMax)
            for o in 0..<g.outC {
                for p in pixels { output[o * n + p] = all[o * n + p] }
            }
        }
    }
}
