// Public bit-serial convolution entry point: checks operands, then picks the ISA build
// (vpopcntq on AVX-512, pshufb or POPCNT on AVX2, scalar portable, or the reference twin). On x86, layers with
// unsigned activations and enough plane pairs (k·m ≥ 4 on AVX2, ≥ 8 on AVX-512) run on bytes instead
// (LowBitByteConv: vpmaddubsw).
// The x86 ISA modules exist only in the SwiftPM build; the Embedded ARM build (scripts/test-arm) compiles
// these files into one module without them (#if false there), so every level runs the portable kernels.
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX2
import NibbleKernelsAVX512
#endif

/// Convolution of bit-packed activations with bit-packed weights (BitPlaneLayout), groups 1.
///
/// Integer result: acc[o][p] = Σ over valid taps, Σ_c a·w (padded taps contribute 0), computed as
/// - both bipolar (w1a1): Σ_valid (C − 2·popcount(a xor w)); zero words stand for padded taps and
///   Σ popcount(w) of those taps is subtracted again (per-tap weight popcounts, per-pixel padded-tap mask);
/// - unsigned m-bit activations × k-bit weights: Σ_i Σ_j c_j·2^(i+j)·popcount(a_i and w_j), c_j = −1 on the
///   top plane of two's-complement weights, else +1; bipolar weights (w = 2b − 1) give
///   2·Σ_i 2^i popcount(a_i and b) − Σ_i 2^i popcount(a_i).
/// Float result: y = clamp(Float(acc) · scales[o] + bias[o], outputMin, outputMax).
public enum BinaryConv {
    /// Activation × weight encodings the kernels implement.
    public static func supports(activations a: BitPlaneEncoding, weights w: BitPlaneEncoding) -> Bool {
        (a == .bipolar && w == .bipolar) || a == .unsigned
    }

    /// Bytes of scratch `run` needs at any level this host runs; pass a 64-byte aligned pointer. `weightBits` and
    /// `activationEncoding` (the largest and the unsigned case by default) decide whether the byte path may run.
    public static func scratchByteCount(_ g: ConvGeometry, activationBits: Int, weightBits: Int = 4,
                                        activationEncoding: BitPlaneEncoding = .unsigned) -> Int {
        var n = BinaryConvTiled.scratchByteCount(g, actBits: activationBits)
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        let bytes = NibbleKernelsAVX2.LowBitByteConv.applies(g.forAVX2, actBits: activationBits, actEncoding: Int(activationEncoding.rawValue),
                                                             weightBits: weightBits)
        // Both paths' needs: a caller that leaves weightBits at its default may run either.
        if KernelISA.detected >= .avx2 {
            n = Swift.max(n, NibbleKernelsAVX2.BinaryConvTiled.scratchByteCount(g.forAVX2, actBits: activationBits))
            if bytes { n = Swift.max(n, NibbleKernelsAVX2.LowBitByteConv.scratchByteCount(g.forAVX2)) }
        }
        if KernelISA.detected >= .avx512 {
            n = Swift.max(n, NibbleKernelsAVX512.BinaryConvTiled.scratchByteCount(g.forAVX512, actBits: activationBits))
            if bytes { n = Swift.max(n, NibbleKernelsAVX512.LowBitByteConv.scratchByteCount(g.forAVX512)) }
        }
        #endif
        return n
    }

    /// Name of the tile a level runs (for benchmark reports).
    public static func microkernelName(isa: KernelISA = KernelISA.current) -> String {
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512: return NibbleKernelsAVX512.BinaryConvTiled.microkernelName
        case .avx2: return NibbleKernelsAVX2.BinaryConvTiled.microkernelName
        #else
        case .avx512, .avx2:
            fallthrough  // no x86 ISA modules in this build: run the portable kernels
        #endif
        case .portable: return BinaryConvTiled.microkernelName
        case .reference: return "reference"
        }
    }

    /// Whether `run` at `isa` can write its output as the next layer's packed activations (`packedOutput`): the
    /// popcount tiles can (BinaryConvTiled.storePacked); the byte path and the reference twin write floats only.
    public static func writesPackedOutput(_ g: ConvGeometry, activationLayout al: BitPlaneLayout, weightLayout wl: BitPlaneLayout,
                                          isa: KernelISA = KernelISA.current) -> Bool {
        let ae = Int(al.encoding.rawValue)
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512: return !NibbleKernelsAVX512.LowBitByteConv.applies(g.forAVX512, actBits: al.bits, actEncoding: ae, weightBits: wl.bits)
        case .avx2: return !NibbleKernelsAVX2.LowBitByteConv.applies(g.forAVX2, actBits: al.bits, actEncoding: ae, weightBits: wl.bits)
        #else
        case .avx512, .avx2: return true
        #endif
        case .portable: return true
        case .reference: return false
        }
    }

    /// Whether `run` at `isa` takes a `residual` (the float epilogue of the popcount tiles and the reference twin; the
    /// byte path does not).
    public static func addsResidual(_ g: ConvGeometry, activationLayout al: BitPlaneLayout, weightLayout wl: BitPlaneLayout,
                                    isa: KernelISA = KernelISA.current) -> Bool {
        isa == .reference || writesPackedOutput(g, activationLayout: al, weightLayout: wl, isa: isa)
    }

    /// `activations`: layout `.activations(channels: g.inC, height: g.inH, width: g.inW, …)`;
    /// `weights`: layout `.weights(outChannels: g.outC, inChannels: g.inC, kernelH:, kernelW:, …)`.
    /// Writes `accumulators` and/or `output` (NCHW, g.outC × g.outH × g.outW) when non-nil, for the output
    /// channels in `outputChannels` and output pixels (oh·outW + ow) in `outputPixels` (all by default; a
    /// session's threads split one of them, each with its own scratch).
    /// `packedOutput` (only where `writesPackedOutput`; `output` and `accumulators` nil): instead of floats, one packed
    /// plane (layout channels g.outC, vectors g.outPixels, fully written for the channels and pixels run) whose bit
    /// is signs[o] · a ≥ thresholds[o] — BinaryChainThresholds makes them give the bits BitPacking would pack from the
    /// float output for the next bit-serial layer. `outputChannels` must then start at a multiple of 64 and end at one
    /// or at g.outC.
    /// `residual` (only where `addsResidual`; float `output` only): each output value y becomes
    /// Swift.min(Swift.max(y + values[same index], min), max) — a residual Add of the same shape and its fused clamp,
    /// as BinaryStep computes them, in this epilogue. `values` may be `output` itself.
    /// `packedCopy` (only where `writesPackedOutput`; float `output`, channels as for `packedOutput`): the final floats
    /// also as one packed plane like `packedOutput`'s, bit = y ≥ threshold (`BitPacking.oneBitThreshold`: what
    /// packActivations packs for the next 1-bit layers reading this output).
    /// The reference level unpacks into `scratch`-free temporary arrays (it is never timed).
    public static func run(_ g: ConvGeometry, activations: UnsafePointer<UInt64>, activationLayout al: BitPlaneLayout,
                           weights: UnsafePointer<UInt64>, weightLayout wl: BitPlaneLayout,
                           scales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           accumulators: UnsafeMutablePointer<Int32>?, output: UnsafeMutablePointer<Float>?,
                           scratch: UnsafeMutableRawPointer, outputMin: Float = -.infinity,
                           outputMax: Float = .infinity, outputChannels: Range<Int>? = nil,
                           outputPixels: Range<Int>? = nil,
                           packedOutput: (words: UnsafeMutablePointer<UInt64>, thresholds: UnsafePointer<Int32>,
                                          signs: UnsafePointer<Int32>)? = nil,
                           residual: (values: UnsafePointer<Float>, min: Float, max: Float)? = nil,
                           packedCopy: (words: UnsafeMutablePointer<UInt64>, threshold: Float)? = nil,
                           isa: KernelISA = KernelISA.current) {
        precondition(g.groups == 1, "BinaryConv: groups \(g.groups), expected 1")
        precondition(supports(activations: al.encoding, weights: wl.encoding),
                     "BinaryConv: \(al.encoding) activations × \(wl.encoding) weights not implemented")
        precondition(al.bits <= 4 && wl.bits <= 4, "BinaryConv: \(wl.bits)-bit weights × \(al.bits)-bit activations, expected ≤ 4 each")
        precondition(al.channels == g.inC && al.vectors == g.inH * g.inW,
                     "BinaryConv: activation layout \(al.channels)×\(al.vectors), expected \(g.inC)×\(g.inH * g.inW)")
        precondition(wl.channels == g.inC && wl.vectors == g.outC * g.kernelH * g.kernelW,
                     "BinaryConv: weight layout \(wl.channels)×\(wl.vectors), expected \(g.inC)×\(g.outC * g.kernelH * g.kernelW)")
        precondition(al.encoding != .bipolar || g.kernelH * g.kernelW <= 64,
                     "BinaryConv: bipolar padding correction takes up to 64 taps, got \(g.kernelH * g.kernelW)")
        let channels = outputChannels ?? 0..<g.outC, pixels = outputPixels ?? 0..<g.outPixels
        precondition(channels.lowerBound >= 0 && channels.upperBound <= g.outC && pixels.lowerBound >= 0 && pixels.upperBound <= g.outPixels,
                     "BinaryConv: output channels \(channels) or pixels \(pixels) outside 0..<\(g.outC), 0..<\(g.outPixels)")
        let ae = Int(al.encoding.rawValue), we = Int(wl.encoding.rawValue)
        if packedOutput != nil {
            precondition(writesPackedOutput(g, activationLayout: al, weightLayout: wl, isa: isa) && output == nil && accumulators == nil
                         && channels.lowerBound % 64 == 0 && (channels.upperBound % 64 == 0 || channels.upperBound == g.outC)
                         && BinaryChainThresholds.covers(g, activationBits: al.bits, weightBits: wl.bits),
                         "BinaryConv: packed output for output channels \(channels) at \(isa.name): needs the popcount tiles, no float output, channels in whole 64-channel words and sums within ±2^30")
        }
        if residual != nil {
            precondition(addsResidual(g, activationLayout: al, weightLayout: wl, isa: isa) && output != nil && packedOutput == nil,
                         "BinaryConv: a residual needs the popcount tiles or the reference, a float output and no packed output")
        }
        if packedCopy != nil {
            precondition(writesPackedOutput(g, activationLayout: al, weightLayout: wl, isa: isa) && output != nil && packedOutput == nil
                         && channels.lowerBound % 64 == 0 && (channels.upperBound % 64 == 0 || channels.upperBound == g.outC),
                         "BinaryConv: a packed copy needs the popcount tiles, a float output and output channels in whole 64-channel words")
        }
        let cw = packedCopy?.words, ct = packedCopy?.threshold ?? 0
        let rv = residual?.values, rlo = residual?.min ?? -.infinity, rhi = residual?.max ?? .infinity
        let pw = packedOutput?.words, pt = packedOutput?.thresholds, psg = packedOutput?.signs
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512 where NibbleKernelsAVX512.LowBitByteConv.applies(g.forAVX512, actBits: al.bits, actEncoding: ae, weightBits: wl.bits):
            NibbleKernelsAVX512.LowBitByteConv.run(g.forAVX512, activations: activations, actBits: al.bits, weights: weights,
                weightBits: wl.bits, weightEncoding: we, scales: scales, bias: bias, accumulators: accumulators, output: output,
                scratch: scratch, outputMin: outputMin, outputMax: outputMax, channels: channels, pixels: pixels)
        case .avx2 where NibbleKernelsAVX2.LowBitByteConv.applies(g.forAVX2, actBits: al.bits, actEncoding: ae, weightBits: wl.bits):
            NibbleKernelsAVX2.LowBitByteConv.run(g.forAVX2, activations: activations, actBits: al.bits, weights: weights,
                weightBits: wl.bits, weightEncoding: we, scales: scales, bias: bias, accumulators: accumulators, output: output,
                scratch: scratch, outputMin: outputMin, outputMax: outputMax, channels: channels, pixels: pixels)
        case .avx512:
            NibbleKernelsAVX512.BinaryConvTiled.run(g.forAVX512, activations: activations, actBits: al.bits, actEncoding: ae,
                weights: weights, weightBits: wl.bits, weightEncoding: we, scales: scales, bias: bias,
                accumulators: accumulators, output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax,
                channels: channels, pixels: pixels, packedOutput: pw, packedThresholds: pt, packedSigns: psg,
                residual: rv, residualMin: rlo, residualMax: rhi, packedCopy: cw, packedCopyThreshold: ct)
        case .avx2:
            NibbleKernelsAVX2.BinaryConvTiled.run(g.forAVX2, activations: activations, actBits: al.bits, actEncoding: ae,
                weights: weights, weightBits: wl.bits, weightEncoding: we, scales: scales, bias: bias,
                accumulators: accumulators, output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax,
                channels: channels, pixels: pixels, packedOutput: pw, packedThresholds: pt, packedSigns: psg,
                residual: rv, residualMin: rlo, residualMax: rhi, packedCopy: cw, packedCopyThreshold: ct)
        #else
        case .avx512, .avx2:
            fallthrough  // no x86 ISA modules in this build: run the portable kernels
        #endif
        case .portable:
            BinaryConvTiled.run(g, activations: activations, actBits: al.bits, actEncoding: ae,
                weights: weights, weightBits: wl.bits, weightEncoding: we, scales: scales, bias: bias,
                accumulators: accumulators, output: output, scratch: scratch, outputMin: outputMin, outputMax: outputMax,
                channels: channels, pixels: pixels, packedOutput: pw, packedThresholds: pt, packedSigns: psg,
                residual: rv, residualMin: rlo, residualMax: rhi, packedCopy: cw, packedCopyThreshold: ct)
        case .reference:
            // Unpack to integers, run the plain loops over everything and keep the requested block.
            var a = [Int8](repeating: 0, count: g.inC * g.inH * g.inW)
            var w = [Int8](repeating: 0, count: g.outC * g.reductionLength)
            let taps = g.kernelH * g.kernelW
            for c in 0..<g.inC {
                for v in 0..<al.vectors { a[c * al.vectors + v] = Int8(al.value(activations, vector: v, channel: c)) }
            }
            for o in 0..<g.outC {
                for c in 0..<g.inC {
                    for t in 0..<taps { w[(o * g.inC + c) * taps + t] = Int8(wl.value(weights, vector: o * taps + t, channel: c)) }
                }
            }
            let n = g.outPixels
            var acc = [Int32](repeating: 0, count: g.outC * n), out = [Float](repeating: 0, count: g.outC * n)
            acc.withUnsafeMutableBufferPointer { ap in out.withUnsafeMutableBufferPointer { op in
                BinaryConvReference.run(g, activations: a, weights: w, scales: scales, bias: bias, accumulators: ap.baseAddress,
                                        output: op.baseAddress, outputMin: outputMin, outputMax: outputMax)
            }}
            for o in channels {
                for p in pixels {
                    accumulators?[o * n + p] = acc[o * n + p]
                    let y = out[o * n + p]
                    output?[o * n + p] = rv.map { Swift.min(Swift.max(y + $0[o * n + p], rlo), rhi) } ?? y
                }
            }
        }
    }
}

/// The no-load popcount ceiling of a level (see BinaryPopcountPeak in the shared kernels).
public enum BinaryPopcountCeiling {
    /// Runs the scalar (`vector: false`) or vector chains; returns (checksum, words popcounted).
    public static func run(vector: Bool, iterations: Int, isa: KernelISA = KernelISA.current) -> (checksum: UInt64, words: Int) {
        let seed = UInt64(truncatingIfNeeded: iterations) | 1
        switch isa {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        case .avx512:
            return vector ? (NibbleKernelsAVX512.BinaryPopcountPeak.vector(iterations: iterations, seed: seed),
                             iterations * NibbleKernelsAVX512.BinaryPopcountPeak.vectorWordsPerIteration)
                          : (NibbleKernelsAVX512.BinaryPopcountPeak.scalar(iterations: iterations, seed: seed),
                             iterations * NibbleKernelsAVX512.BinaryPopcountPeak.scalarWordsPerIteration)
        case .avx2:
            return vector ? (NibbleKernelsAVX2.BinaryPopcountPeak.vector(iterations: iterations, seed: seed),
                             iterations * NibbleKernelsAVX2.BinaryPopcountPeak.vectorWordsPerIteration)
                          : (NibbleKernelsAVX2.BinaryPopcountPeak.scalar(iterations: iterations, seed: seed),
                             iterations * NibbleKernelsAVX2.BinaryPopcountPeak.scalarWordsPerIteration)
        #else
        case .avx512, .avx2:
            fallthrough  // no x86 ISA modules in this build: run the portable kernels
        #endif
        case .portable, .reference:
            return vector ? (BinaryPopcountPeak.vector(iterations: iterations, seed: seed),
                             iterations * BinaryPopcountPeak.vectorWordsPerIteration)
                          : (BinaryPopcountPeak.scalar(iterations: iterations, seed: seed),
                             iterations * BinaryPopcountPeak.scalarWordsPerIteration)
        }
    }
}
