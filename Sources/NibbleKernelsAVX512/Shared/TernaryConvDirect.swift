// Shared source (symlinked into every kernel module): FGQ ternary × uint8 for few output pixels — fully connected
// layers and convs with a handful of output pixels — straight from the packed +1/−1 masks (TernaryPlanes), with no
// expanded weights: the int8 GEMM of TernaryConvTiled fills 1 of its 16 pixel lanes there and expands every weight
// per run. Each pixel's reduction vector (im2col row, mask order) is copied to scratch once; then per block of
// `TernaryMaskDot.rows` output channels (8: `TernaryMicrokernel.maskDot8`, 32 mask bits at a time; 16 on AVX-512:
// TernaryMaskDotVNNI, 64 at a time) the masks become −1/0/+1 bytes, w·(q − zp) is summed exactly per 16-index
// unit, and α·Float(sum) is added per group in group order — TernaryConvReference's
// float operations, so results are bit-identical. Groups must be whole units (group length a multiple of 16: FGQ's
// 16 channels and any multiple, of any kernel); other group lengths take the GEMM.

enum TernaryConvDirect {
    /// Output pixels up to which the direct path runs: each pixel expands the masks again, so its cost grows linearly,
    /// while the GEMM's is flat up to 16 pixels. Measured on FC 4096→1000 over n pixels (AVX2, ms, median of 15):
    /// direct 0.43, 0.65–0.8, 0.86–1.2, 1.1–1.5, 1.4–1.9, 2.1–2.2 for n = 1…6 and 2.1–3.0 at 8; GEMM 2.7–2.9 throughout.
    static let maxPixels = 6

    @inline(__always)
    static func applies(_ g: ConvGeometry, groupSize: Int) -> Bool {
        g.outPixels <= maxPixels && (groupSize &* g.kernelH &* g.kernelW) & 15 == 0
    }

    /// Bytes of one pixel's row: whole 64-index words, so the 32-index chunks of the kernels stay inside it.
    @inline(__always)
    static func rowBytes(_ g: ConvGeometry) -> Int { (g.reductionLength &+ 63) & ~63 }

    /// The pixels' rows, then one block's α transposed (a block's channels per group, so a group's scales are one
    /// vector).
    static func scratchByteCount(_ g: ConvGeometry, groupSize: Int) -> Int {
        g.outPixels &* rowBytes(g) &+ ((g.inC &+ groupSize &- 1) / groupSize) &* 4 &* TernaryMaskDot.rows
    }

    /// Row t of the scratch: pixel pixelStart + t's inputs at reduction index k = (c·kH + kh)·kW + kw, the zero point
    /// on padding taps, 0 past the row (its mask bits are 0).
    static func buildRows(_ g: ConvGeometry, input q: UnsafePointer<UInt8>, zeroPoint: Int32, pixelStart: Int, count: Int,
                          scratch: UnsafeMutableRawPointer) {
        let zp = UInt8(truncatingIfNeeded: Swift.max(0, Swift.min(255, zeroPoint)))
        let stride = rowBytes(g)
        if g.inH &* g.inW &* g.kernelH &* g.kernelW == 1 && count == 1 {
            // Fully connected: the row is the input.
            let row = scratch.assumingMemoryBound(to: UInt8.self)
            row.update(from: q, count: g.inC)
            (row + g.inC).update(repeating: 0, count: stride &- g.inC)
            return
        }
        for t in 0..<count {
            let row = scratch.assumingMemoryBound(to: UInt8.self) + t &* stride
            let p = pixelStart &+ t, oh = p / g.outW, ow = p &- oh &* g.outW
            var k = 0
            for c in 0..<g.inC {
                for kh in 0..<g.kernelH {
                    let ih = oh &* g.strideH &- g.padTop &+ kh &* g.dilationH
                    for kw in 0..<g.kernelW {
                        let iw = ow &* g.strideW &- g.padLeft &+ kw &* g.dilationW
                        let inside = ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW
                        row[k] = inside ? q[(c &* g.inH &+ ih) &* g.inW &+ iw] : zp
                        k &+= 1
                    }
                }
            }
            (row + k).update(repeating: 0, count: stride &- k)
        }
    }

    /// output[o, pixelStart + t] ← inputScale · Σ_groups α[o, g] · Σ_{k ∈ g} T[o, k] · (q − zp) (TernaryEdgeOutput)
    /// for every output channel and t < count, over the rows buildRows left in `scratch`.
    static func accumulateEdge(_ g: ConvGeometry, groupSize: Int, scratch: UnsafeMutableRawPointer, count: Int, pixelStart: Int,
                               words: UnsafePointer<UInt64>, alpha: UnsafePointer<Float>, zeroPoint: Int32, inputScale: Float,
                               output: TernaryEdgeOutput) {
        let rows = g.outC, rowLength = g.reductionLength
        let wordsPerRow = (rowLength &+ 63) >> 6
        let groups = (g.inC &+ groupSize &- 1) / groupSize
        let unitsPerGroup = (groupSize &* g.kernelH &* g.kernelW) >> 4
        // Little-endian: 32-bit half-word j of a row's masks holds indices 32j ..< 32j + 32.
        let plus = UnsafeRawPointer(words).assumingMemoryBound(to: UInt32.self)
        let minus = UnsafeRawPointer(words + rows &* wordsPerRow).assumingMemoryBound(to: UInt32.self)
        let stride = rowBytes(g)
        let alphaT = (scratch + g.outPixels &* stride).assumingMemoryBound(to: Float.self)
        let width = TernaryMaskDot.rows
        var o0 = 0
        while o0 < rows {
            let live = Swift.min(width, rows &- o0)
            TernaryMaskDot.transposeScales(alpha, rows: rows, first: o0, groups: groups, into: alphaT)
            for t in 0..<count {
                let x = UnsafePointer(scratch.assumingMemoryBound(to: UInt8.self) + t &* stride)
                let s = TernaryMaskDot.dot(plus: plus, minus: minus, halfWordsPerRow: 2 &* wordsPerRow, rows: rows, first: o0,
                                           rowLength: rowLength, x: x, zeroPoint: zeroPoint, alphaT: UnsafePointer(alphaT),
                                           unitsPerGroup: unitsPerGroup) * inputScale
                let y = o0 &* g.outPixels &+ pixelStart &+ t
                for j in 0..<live { output.write(s[j], at: y &+ j &* g.outPixels, channel: o0 &+ j) }
            }
            o0 &+= width
        }
    }
}

/// The 8-channel mask dot products (`TernaryMicrokernel.maskDot8`) as a `TernaryMaskDot`: lanes 8–15 are 0.
enum EightRowMaskDot {
    static let rows = 8

    /// αT[8·gi + j] = α[min(first + j, rows − 1), gi]: one 8-channel vector per group. Channel by channel, LLVM wrote
    /// each channel's groups with scatters, 9 % of G1.
    @inline(__always)
    static func transposeScales(_ alpha: UnsafePointer<Float>, rows: Int, first: Int, groups: Int, into alphaT: UnsafeMutablePointer<Float>) {
        @inline(__always) func a(_ j: Int) -> UnsafePointer<Float> { alpha + Swift.min(first &+ j, rows &- 1) &* groups }
        let a0 = a(0), a1 = a(1), a2 = a(2), a3 = a(3), a4 = a(4), a5 = a(5), a6 = a(6), a7 = a(7)
        for gi in 0..<groups {
            UnsafeMutableRawPointer(alphaT + gi &* 8)
                .storeBytes(of: SIMD8(a0[gi], a1[gi], a2[gi], a3[gi], a4[gi], a5[gi], a6[gi], a7[gi]), as: SIMD8<Float>.self)
        }
    }

    @inline(__always)
    static func dot(plus: UnsafePointer<UInt32>, minus: UnsafePointer<UInt32>, halfWordsPerRow: Int, rows: Int, first: Int,
                    rowLength: Int, x: UnsafePointer<UInt8>, zeroPoint: Int32, alphaT: UnsafePointer<Float>,
                    unitsPerGroup: Int) -> SIMD16<Float> {
        SIMD16(lowHalf: TernaryMicrokernel.maskDot8(plus: plus, minus: minus, halfWordsPerRow: halfWordsPerRow, rows: rows, first: first,
                                                    rowLength: rowLength, x: x, zeroPoint: zeroPoint, alphaT: alphaT,
                                                    unitsPerGroup: unitsPerGroup),
               highHalf: SIMD8<Float>())
    }
}
