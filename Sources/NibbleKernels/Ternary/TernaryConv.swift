// Public entry points of the ternary × uint8 kernel (TernaryConvTiled): pick the ISA build. The x86 ISA
// modules exist only in the SwiftPM build (the Embedded ARM build compiles them out).
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

/// FGQ ternary residual edges on packed two-mask planes (TernaryPlanes), group-1 convolutions and fully
/// connected layers (a 1×1 conv over one pixel), as an int8 GEMM whose weights are expanded per run: the caller
/// quantizes the input to uint8 and calls `prepareInput`, then per chunk of `chunkPixels` output pixels builds the
/// im2col panel once and accumulates each enabled edge over it, the first storing and the last adding bias and
/// clamp (TernaryEdgeOutput). With no edge enabled the output is 0 + bias, clamped: `TernaryConvReference.epilogue`
/// over a zeroed output.
/// Few output pixels (fully connected layers, tiny convs) with group lengths a multiple of 16 take TernaryConvDirect
/// behind the same calls: the "panel" is each pixel's input row and the masks are read in place, nothing expanded.
/// Bit-identical to TernaryConvReference.
public enum TernaryConv {
    public static func supports(_ g: ConvGeometry) -> Bool { g.groups == 1 }

    /// Output pixels per panel chunk (the same at every level).
    public static func chunkPixels(_ g: ConvGeometry) -> Int {
        TernaryConvTiled.chunkPixels(reductionLength: g.reductionLength, outPixels: g.outPixels)
    }

    /// Scratch for a chunk's panel, a block of expanded weight rows and their scales (64-byte aligned pointer), at
    /// any level this host runs.
    public static func scratchByteCount(_ g: ConvGeometry, groupSize: Int) -> Int {
        var n = TernaryConvTiled.scratchByteCount(g, groupSize: groupSize)
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        if KernelISA.detected >= .avx2 { n = Swift.max(n, NibbleKernelsAVX2.TernaryConvTiled.scratchByteCount(g.forAVX2, groupSize: groupSize)) }
        if KernelISA.detected >= .avx512 { n = Swift.max(n, NibbleKernelsAVX512.TernaryConvTiled.scratchByteCount(g.forAVX512, groupSize: groupSize)) }
        #endif
        return n
    }

    /// Once per run, before the first buildPanel: prepares what every chunk's panel is built from.
    public static func prepareInput(_ g: ConvGeometry, groupSize: Int, input q: UnsafePointer<UInt8>, zeroPoint: Int32,
                                    scratch: UnsafeMutableRawPointer, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.TernaryConvTiled.prepareInput(g.forAVX512, groupSize: groupSize, input: q, zeroPoint: zeroPoint, scratch: scratch)
        case .avx2:
            NibbleKernelsAVX2.TernaryConvTiled.prepareInput(g.forAVX2, groupSize: groupSize, input: q, zeroPoint: zeroPoint, scratch: scratch)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable, .reference:
            TernaryConvTiled.prepareInput(g, groupSize: groupSize, input: q, zeroPoint: zeroPoint, scratch: scratch)
        }
    }

    /// Packs the uint8 input's im2col panel for output pixels pixelStart ..< pixelStart + count (≤ chunkPixels).
    public static func buildPanel(_ g: ConvGeometry, groupSize: Int, input q: UnsafePointer<UInt8>, zeroPoint: Int32, pixelStart: Int,
                                  count: Int, scratch: UnsafeMutableRawPointer, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.TernaryConvTiled.buildPanel(g.forAVX512, groupSize: groupSize, input: q, zeroPoint: zeroPoint,
                                                            pixelStart: pixelStart, count: count, scratch: scratch)
        case .avx2:
            NibbleKernelsAVX2.TernaryConvTiled.buildPanel(g.forAVX2, groupSize: groupSize, input: q, zeroPoint: zeroPoint,
                                                          pixelStart: pixelStart, count: count, scratch: scratch)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable, .reference:
            TernaryConvTiled.buildPanel(g, groupSize: groupSize, input: q, zeroPoint: zeroPoint, pixelStart: pixelStart,
                                        count: count, scratch: scratch)
        }
    }

    /// output[o, pixelStart ..< pixelStart + count] ← one edge's contribution, stored, added or added and finished
    /// (see TernaryConvTiled and TernaryEdgeOutput).
    public static func accumulateEdge(_ g: ConvGeometry, groupSize: Int, scratch: UnsafeMutableRawPointer, count: Int, pixelStart: Int,
                                      planes: UnsafePointer<UInt64>, alpha: UnsafePointer<Float>, zeroPoint: Int32, inputScale: Float,
                                      output: TernaryEdgeOutput, isa: KernelISA = KernelISA.current) {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            NibbleKernelsAVX512.TernaryConvTiled.accumulateEdge(g.forAVX512, groupSize: groupSize, scratch: scratch, count: count,
                pixelStart: pixelStart, words: planes, alpha: alpha, zeroPoint: zeroPoint, inputScale: inputScale, output: output.forAVX512)
        case .avx2:
            NibbleKernelsAVX2.TernaryConvTiled.accumulateEdge(g.forAVX2, groupSize: groupSize, scratch: scratch, count: count,
                pixelStart: pixelStart, words: planes, alpha: alpha, zeroPoint: zeroPoint, inputScale: inputScale, output: output.forAVX2)
        #else
        case .avx512, .avx2:
            fallthrough
        #endif
        case .portable, .reference:
            TernaryConvTiled.accumulateEdge(g, groupSize: groupSize, scratch: scratch, count: count, pixelStart: pixelStart,
                words: planes, alpha: alpha, zeroPoint: zeroPoint, inputScale: inputScale, output: output)
        }
    }
}
