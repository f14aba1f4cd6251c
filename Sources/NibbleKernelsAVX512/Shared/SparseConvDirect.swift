// Shared source (symlinked into every kernel module). Direct sparse convolution for K×K kernels, stride 1,
// dilation 1, group 1 (SkimCaffe, Park et al. 2017 "Faster CNNs with direct sparse convolutions", §3): the input
// is copied once into a zero-padded [C][outH + kH − 1][outW + kW − 1] buffer; a nonzero W[o][c][kh][kw] then reads
// one contiguous run of the padded plane per output row, at offset c·Hp·Wp + kh·Wp + kw, so every output row of
// every output channel is the CSR row loop of `SparseGEMMTiled` (no im2col, no zero is touched).

/// CSR weights over OIHW columns (k = (c·kH + kh)·kW + kw); input [C][inH][inW], output [O][outH][outW].
public enum SparseConvDirect {
    /// Bytes of scratch: the padded input (float32, or int32 (q − zp) for int8) and one row's offsets.
    public static func scratchByteCount(inC: Int, outH: Int, outW: Int, kernelH: Int, kernelW: Int, columns: Int) -> Int {
        let padded = inC &* (outH &+ kernelH &- 1) &* (outW &+ kernelW &- 1)
        return ((padded &* 4 &+ 63) & ~63) &+ ((columns &* 4 &+ 63) & ~63) &+ 64
    }

    /// Row o's nonzero offsets into the padded input.
    @inline(__always)
    static func offsets(row o: Int, rowPointers: UnsafePointer<Int32>, columnIndices: UnsafePointer<Int32>, kernelH: Int,
                        kernelW: Int, planeStride: Int, rowStride: Int, into out: UnsafeMutablePointer<Int32>) -> (start: Int, count: Int) {
        let start = Int(rowPointers[o]), count = Int(rowPointers[o &+ 1]) &- start
        let taps = kernelH &* kernelW
        for j in 0..<count {
            let k = Int(columnIndices[start &+ j])
            let c = k / taps, t = k &- c &* taps
            let kh = t / kernelW, kw = t &- kh &* kernelW
            out[j] = Int32(truncatingIfNeeded: c &* planeStride &+ kh &* rowStride &+ kw)
        }
        return (start, count)
    }

    /// Copies `input` into the zero-padded buffer, mapping each value through `f` (identity, or int8's q − zp).
    @inline(__always)
    static func pad<T>(_ input: UnsafePointer<Float>, inC: Int, inH: Int, inW: Int, padTop: Int, padLeft: Int,
                       height hp: Int, width wp: Int, zero: T, into buffer: UnsafeMutablePointer<T>, _ f: (Float) -> T) {
        buffer.update(repeating: zero, count: inC &* hp &* wp)
        for c in 0..<inC {
            for ih in 0..<inH {
                let ph = ih &+ padTop
                if ph >= hp { break }
                let src = input + (c &* inH &+ ih) &* inW, dst = buffer + (c &* hp &+ ph) &* wp
                for iw in 0..<inW {
                    let pw = iw &+ padLeft
                    if pw >= wp { break }
                    dst[pw] = f(src[iw])
                }
            }
        }
    }

    public static func runF32(inC: Int, inH: Int, inW: Int, outC: Int, outH: Int, outW: Int, kernelH: Int, kernelW: Int,
                              padTop: Int, padLeft: Int, rowPointers: UnsafePointer<Int32>, columnIndices: UnsafePointer<Int32>,
                              values: UnsafePointer<Float>, input: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                              output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer, outputMin: Float, outputMax: Float) {
        let hp = outH &+ kernelH &- 1, wp = outW &+ kernelW &- 1
        let padded = scratch.assumingMemoryBound(to: Float.self)
        let offs = (scratch + ((inC &* hp &* wp &* 4 &+ 63) & ~63)).assumingMemoryBound(to: Int32.self)
        pad(input, inC: inC, inH: inH, inW: inW, padTop: padTop, padLeft: padLeft, height: hp, width: wp, zero: Float(0),
            into: padded) { $0 }
        for o in 0..<outC {
            let (start, count) = offsets(row: o, rowPointers: rowPointers, columnIndices: columnIndices, kernelH: kernelH,
                                         kernelW: kernelW, planeStride: hp &* wp, rowStride: wp, into: offs)
            let b = bias?[o] ?? 0
            for oh in 0..<outH {
                // Stride 1 element ("pixels" 1): offsets are in floats from this output row's window start.
                SparseGEMMTiled.rowF32(count: count, cols: UnsafePointer(offs), vals: values + start,
                                       x: UnsafePointer(padded) + oh &* wp, pixels: 1, from: 0, to: outW,
                                       y: output + (o &* outH &+ oh) &* outW, bias: b, lo: outputMin, hi: outputMax)
            }
        }
    }

    public static func runInt8(inC: Int, inH: Int, inW: Int, outC: Int, outH: Int, outW: Int, kernelH: Int, kernelW: Int,
                               padTop: Int, padLeft: Int, rowPointers: UnsafePointer<Int32>, columnIndices: UnsafePointer<Int32>,
                               values: UnsafePointer<Int8>, input: UnsafePointer<Float>, inputScale: Float, inputZeroPoint: Int32,
                               weightScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                               scratch: UnsafeMutableRawPointer, outputMin: Float, outputMax: Float) {
        let hp = outH &+ kernelH &- 1, wp = outW &+ kernelW &- 1
        let padded = scratch.assumingMemoryBound(to: Int32.self)
        let offs = (scratch + ((inC &* hp &* wp &* 4 &+ 63) & ~63)).assumingMemoryBound(to: Int32.self)
        // Padding is the real value 0.0, whose q − zp is exactly 0 (the zero point represents 0).
        pad(input, inC: inC, inH: inH, inW: inW, padTop: padTop, padLeft: padLeft, height: hp, width: wp, zero: Int32(0),
            into: padded) { Int32(Int8Quantization.quantize($0, scale: inputScale, zeroPoint: inputZeroPoint)) &- inputZeroPoint }
        for o in 0..<outC {
            let (start, count) = offsets(row: o, rowPointers: rowPointers, columnIndices: columnIndices, kernelH: kernelH,
                                         kernelW: kernelW, planeStride: hp &* wp, rowStride: wp, into: offs)
            for oh in 0..<outH {
                SparseGEMMTiled.rowInt8(count: count, cols: UnsafePointer(offs), vals: values + start,
                                        x: UnsafePointer(padded) + oh &* wp, pixels: 1, from: 0, to: outW,
                                        y: output + (o &* outH &+ oh) &* outW, scale: inputScale * weightScales[o],
                                        bias: bias?[o] ?? 0, lo: outputMin, hi: outputMax)
            }
        }
    }
}
