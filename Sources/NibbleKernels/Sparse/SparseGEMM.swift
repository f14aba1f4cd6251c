// Public sparse-weight GEMM entry point (1x1 convolution and fully connected): picks the ISA build.
// The x86 ISA modules exist only in the SwiftPM build; the Embedded ARM build (scripts/test-arm) compiles
// these files into one module without them, so every level runs the portable kernels.
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

/// out[b][o][p] = clamp(Σ_k W[o][k]·in[b][k][p] + bias[o]) with W sparse (`SparseLayout`): a 1x1 convolution
/// (stride 1, no padding, group 1) over `pixels` = H·W, or a fully connected layer with `pixels` = 1.
/// Input [batch][columns][pixels], output [batch][rows][pixels].
public enum SparseGEMM {
    /// Bytes of scratch `run` needs (any level); pass a 64-byte aligned pointer.
    public static func scratchByteCount(_ layout: SparseLayout, pixels: Int, int8: Bool) -> Int {
        var slots = 0
        if case .nm(let s) = layout { slots = s.slotsPerRow }
        return scratchByteCount(nmSlotsPerRow: slots, columns: layout.columns, pixels: pixels, int8: int8)
    }

    /// The same from the shape alone (`nmSlotsPerRow` 0 for CSR), before the weights are bound.
    public static func scratchByteCount(nmSlotsPerRow: Int, columns: Int, pixels: Int, int8: Bool) -> Int {
        SparseGEMMTiled.scratchByteCount(slotsPerRow: nmSlotsPerRow, depth: columns, pixels: pixels, int8: int8)
    }

    /// The layout as the shared kernels' plain arguments: format code, CSR arrays, N:M indices, N, M.
    @inline(__always)
    static func arguments(_ layout: SparseLayout) -> (Int, UnsafePointer<Int32>?, UnsafePointer<Int32>?, UnsafePointer<UInt8>?, Int, Int) {
        switch layout {
        case .csr(let c): return (0, c.rowPointers, c.columnIndices, nil, 0, 0)
        case .nm(let s): return (1, nil, nil, s.indices, s.n, s.m)
        }
    }

    /// fp32 values (one per stored nonzero / slot).
    public static func run(_ layout: SparseLayout, pixels: Int, batch: Int, values: UnsafePointer<Float>,
                           input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutableRawPointer, outputMin: Float = -.infinity, outputMax: Float = .infinity,
                           isa: KernelISA = KernelISA.current) {
        let (format, rp, ci, nmi, n, m) = arguments(layout)
        let rows = layout.rows, depth = layout.columns
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.SparseGEMMTiled.runF32(format: format, rows: rows, depth: depth, pixels: pixels, batch: batch,
                rowPointers: rp, columnIndices: ci, nmIndices: nmi, n: n, m: m, values: values, input: input, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        case .avx2:
            NibbleKernelsAVX2.SparseGEMMTiled.runF32(format: format, rows: rows, depth: depth, pixels: pixels, batch: batch,
                rowPointers: rp, columnIndices: ci, nmIndices: nmi, n: n, m: m, values: values, input: input, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        #else
        case .avx512, .avx2:
            fallthrough  // no x86 ISA modules in this build: run the portable kernels
        #endif
        case .portable:
            SparseGEMMTiled.runF32(format: format, rows: rows, depth: depth, pixels: pixels, batch: batch,
                rowPointers: rp, columnIndices: ci, nmIndices: nmi, n: n, m: m, values: values, input: input, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        case .reference:
            SparseGEMMReference.run(layout, pixels: pixels, batch: batch, values: values, input: input, bias: bias,
                                    output: output, outputMin: outputMin, outputMax: outputMax)
        }
    }

    /// int8 values with one float32 scale per row; the input is quantized to uint8 (inputScale,
    /// inputZeroPoint) and summed exactly in int32, as `Int8Conv` / `Int8FullyConnected`.
    public static func run(_ layout: SparseLayout, pixels: Int, batch: Int, values: UnsafePointer<Int8>,
                           input: UnsafePointer<Float>, inputScale: Float, inputZeroPoint: Int32,
                           weightScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer,
                           outputMin: Float = -.infinity, outputMax: Float = .infinity, isa: KernelISA = KernelISA.current) {
        let (format, rp, ci, nmi, n, m) = arguments(layout)
        let rows = layout.rows, depth = layout.columns
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.SparseGEMMTiled.runInt8(format: format, rows: rows, depth: depth, pixels: pixels, batch: batch,
                rowPointers: rp, columnIndices: ci, nmIndices: nmi, n: n, m: m, values: values, input: input,
                inputScale: inputScale, inputZeroPoint: inputZeroPoint, weightScales: weightScales, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        case .avx2:
            NibbleKernelsAVX2.SparseGEMMTiled.runInt8(format: format, rows: rows, depth: depth, pixels: pixels, batch: batch,
                rowPointers: rp, columnIndices: ci, nmIndices: nmi, n: n, m: m, values: values, input: input,
                inputScale: inputScale, inputZeroPoint: inputZeroPoint, weightScales: weightScales, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable:
            SparseGEMMTiled.runInt8(format: format, rows: rows, depth: depth, pixels: pixels, batch: batch,
                rowPointers: rp, columnIndices: ci, nmIndices: nmi, n: n, m: m, values: values, input: input,
                inputScale: inputScale, inputZeroPoint: inputZeroPoint, weightScales: weightScales, bias: bias,
                output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax)
        case .reference:
            SparseGEMMReference.run(layout, pixels: pixels, batch: batch, values: values, input: input,
                                    inputScale: inputScale, inputZeroPoint: inputZeroPoint, weightScales: weightScales,
                                    bias: bias, output: output, outputMin: outputMin, outputMax: outputMax)
        }
    }
}
