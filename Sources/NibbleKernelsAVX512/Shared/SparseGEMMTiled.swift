// Shared source (symlinked into every kernel module). Sparse weights × dense activations, the
// "SpMM" of sparse CNN inference: out[o][p] = Σ_j W[o][col_j]·in[col_j][p]. Each output channel is one
// weight row; its nonzeros stream while a block of pixels accumulates in registers (vectorized over
// pixels, as XNNPACK's f32-spmm and Elsen et al. 2020 "Fast Sparse ConvNets" §3), so every nonzero costs
// one broadcast and one fused multiply-add per vector of pixels and no zero is ever touched.
// N:M rows are decoded to column indices once per row (their cost is ≪ the pixel work) and then run the
// same row loop as CSR.

/// Where row o's columns and values are: CSR ranges, or N:M slots decoded into `decoded` (scratch).
struct SparseRows {
    let format: Int
    let rowPointers: UnsafePointer<Int32>?, columnIndices: UnsafePointer<Int32>?, nmIndices: UnsafePointer<UInt8>?
    let n: Int, m: Int, slots: Int, indexBytes: Int
    let decoded: UnsafeMutablePointer<Int32>

    @inline(__always)
    init(format: Int, depth: Int, rowPointers: UnsafePointer<Int32>?, columnIndices: UnsafePointer<Int32>?,
         nmIndices: UnsafePointer<UInt8>?, n: Int, m: Int, scratch: UnsafeMutableRawPointer) {
        self.format = format; self.rowPointers = rowPointers; self.columnIndices = columnIndices; self.nmIndices = nmIndices
        self.n = n; self.m = m
        slots = m > 0 ? ((depth &+ m &- 1) / m) &* n : 0
        indexBytes = (slots &+ 3) >> 2
        decoded = scratch.assumingMemoryBound(to: Int32.self)
    }

    /// Columns, values and count of row o (N:M: decodes the row's slot indices first).
    @inline(__always)
    func row<T>(_ o: Int, values: UnsafePointer<T>) -> (cols: UnsafePointer<Int32>, vals: UnsafePointer<T>, count: Int) {
        if format == 0 {
            let start = Int(rowPointers![o]), end = Int(rowPointers![o &+ 1])
            return (columnIndices! + start, values + start, end &- start)
        }
        SparseGEMMTiled.decodeNM(row: o, n: n, m: m, slotsPerRow: slots, indexBytesPerRow: indexBytes, indices: nmIndices!, into: decoded)
        return (UnsafePointer(decoded), values + o &* slots, slots)
    }
}

/// Sparse GEMM over pixel-contiguous activations: input [batch][depth][pixels], output [batch][rows][pixels].
/// `format` 0 is CSR (rowPointers [rows+1], columnIndices [nnz]); 1 is N:M (2-bit slot indices, see
/// `NibbleKernels.SparseNM`). Pointers that a format does not use are ignored.

public enum SparseGEMMTiled {
    /// Bytes of scratch: the decoded columns of one N:M row, then (int8) one sample's (q − zp) values.
    public static func scratchByteCount(slotsPerRow: Int, depth: Int, pixels: Int, int8: Bool) -> Int {
        let cols = (slotsPerRow &* 4 &+ 63) & ~63
        return cols &+ (int8 ? ((depth &* pixels &* 4 &+ 63) & ~63) : 0) &+ 64
    }

    /// Decodes row `o` of an N:M matrix into absolute column indices (slot j: group j / n, index bits 2j…2j+1
    /// of the row's index bytes). Slots past a short last group decode to that group's first column and hold 0.
    @inline(__always)
    static func decodeNM(row o: Int, n: Int, m: Int, slotsPerRow: Int, indexBytesPerRow: Int,
                         indices: UnsafePointer<UInt8>, into cols: UnsafeMutablePointer<Int32>) {
        let base = indices + o &* indexBytesPerRow
        var j = 0, g = 0
        while j < slotsPerRow {
            let first = g &* m
            for s in 0..<n {
                let jj = j &+ s
                let bits = (Int(base[jj >> 2]) >> ((jj & 3) << 1)) & 3
                cols[jj] = Int32(truncatingIfNeeded: first &+ bits)
            }
            j &+= n
            g &+= 1
        }
    }

    // MARK: fp32

    public static func runF32(format: Int, rows: Int, depth: Int, pixels: Int, batch: Int,
                              rowPointers: UnsafePointer<Int32>?, columnIndices: UnsafePointer<Int32>?,
                              nmIndices: UnsafePointer<UInt8>?, n: Int, m: Int,
                              values: UnsafePointer<Float>, input: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                              output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer,
                              outputMin: Float, outputMax: Float) {
        let r = SparseRows(format: format, depth: depth, rowPointers: rowPointers, columnIndices: columnIndices,
                           nmIndices: nmIndices, n: n, m: m, scratch: scratch)
        for o in 0..<rows {
            if format != 0 && pixels == 1 {
                let b = bias?[o] ?? 0
                for bi in 0..<batch {
                    let s = dotNM(n: n, m: m, slots: r.slots, indices: nmIndices! + o &* r.indexBytes, vals: values + o &* r.slots,
                                  x: input + bi &* depth)
                    output[bi &* rows &+ o] = Swift.max(Swift.min(b + s, outputMax), outputMin)
                }
                continue
            }
            let (cols, vals, count) = r.row(o, values: values)
            let b = bias?[o] ?? 0
            for bi in 0..<batch {
                rowF32(count: count, cols: cols, vals: vals, x: input + bi &* depth &* pixels, pixels: pixels, from: 0, to: pixels,
                       y: output + (bi &* rows &+ o) &* pixels, bias: b, lo: outputMin, hi: outputMax)
            }
        }
    }

    /// Pixels p0..<p1 of one output row: blocks of 4 vectors with two nonzeros per step in separate accumulators
    /// (8 independent FMA chains cover the FMA latency; each nonzero is one broadcast + 4 loads + 4 FMAs), then 2,
    /// then 1 vector, then 4 lanes, then scalars. `pixels` is the row stride of input and output.
    @inline(__always)
    static func rowF32(count: Int, cols: UnsafePointer<Int32>, vals: UnsafePointer<Float>, x: UnsafePointer<Float>,
                       pixels: Int, from p0: Int, to p1: Int, y: UnsafeMutablePointer<Float>, bias: Float, lo: Float, hi: Float) {
        let vw = FVec.scalarCount
        let stride = pixels &* 4
        let xr = UnsafeRawPointer(x)
        let yr = UnsafeMutableRawPointer(y)
        let bv = FVec(repeating: bias), lov = FVec(repeating: lo), hiv = FVec(repeating: hi)
        let vb = vw &* 4
        var p = p0
        while p &+ 4 &* vw <= p1 {
            var a0 = bv, a1 = bv, a2 = bv, a3 = bv
            var b0 = FVec(), b1 = FVec(), b2 = FVec(), b3 = FVec()
            let off = p &* 4
            var j = 0
            while j &+ 2 <= count {
                let v = FVec(repeating: vals[j]), w = FVec(repeating: vals[j &+ 1])
                let s = xr + (Int(cols[j]) &* stride &+ off), t = xr + (Int(cols[j &+ 1]) &* stride &+ off)
                a0 = madd(a0, v, s.loadUnaligned(fromByteOffset: 0, as: FVec.self))
                a1 = madd(a1, v, s.loadUnaligned(fromByteOffset: vb, as: FVec.self))
                a2 = madd(a2, v, s.loadUnaligned(fromByteOffset: vb &* 2, as: FVec.self))
                a3 = madd(a3, v, s.loadUnaligned(fromByteOffset: vb &* 3, as: FVec.self))
                b0 = madd(b0, w, t.loadUnaligned(fromByteOffset: 0, as: FVec.self))
                b1 = madd(b1, w, t.loadUnaligned(fromByteOffset: vb, as: FVec.self))
                b2 = madd(b2, w, t.loadUnaligned(fromByteOffset: vb &* 2, as: FVec.self))
                b3 = madd(b3, w, t.loadUnaligned(fromByteOffset: vb &* 3, as: FVec.self))
                j &+= 2
            }
            if j < count {
                let v = FVec(repeating: vals[j]), s = xr + (Int(cols[j]) &* stride &+ off)
                a0 = madd(a0, v, s.loadUnaligned(fromByteOffset: 0, as: FVec.self))
                a1 = madd(a1, v, s.loadUnaligned(fromByteOffset: vb, as: FVec.self))
                a2 = madd(a2, v, s.loadUnaligned(fromByteOffset: vb &* 2, as: FVec.self))
                a3 = madd(a3, v, s.loadUnaligned(fromByteOffset: vb &* 3, as: FVec.self))
            }
            yr.storeBytes(of: clampLanes(a0 + b0, lo: lov, hi: hiv), toByteOffset: off, as: FVec.self)
            yr.storeBytes(of: clampLanes(a1 + b1, lo: lov, hi: hiv), toByteOffset: off &+ vb, as: FVec.self)
            yr.storeBytes(of: clampLanes(a2 + b2, lo: lov, hi: hiv), toByteOffset: off &+ vb &* 2, as: FVec.self)
            yr.storeBytes(of: clampLanes(a3 + b3, lo: lov, hi: hiv), toByteOffset: off &+ vb &* 3, as: FVec.self)
            p &+= 4 &* vw
        }
        while p &+ 2 &* vw <= p1 {
            // Two vectors, each with two chains (even/odd nonzeros) to halve the dependency depth.
            var a0 = bv, a1 = bv, b0 = FVec(), b1 = FVec()
            let off = p &* 4
            var j = 0
            while j &+ 2 <= count {
                let v = FVec(repeating: vals[j]), w = FVec(repeating: vals[j &+ 1])
                let s = xr + (Int(cols[j]) &* stride &+ off), t = xr + (Int(cols[j &+ 1]) &* stride &+ off)
                a0 = madd(a0, v, s.loadUnaligned(fromByteOffset: 0, as: FVec.self))
                a1 = madd(a1, v, s.loadUnaligned(fromByteOffset: vb, as: FVec.self))
                b0 = madd(b0, w, t.loadUnaligned(fromByteOffset: 0, as: FVec.self))
                b1 = madd(b1, w, t.loadUnaligned(fromByteOffset: vb, as: FVec.self))
                j &+= 2
            }
            if j < count {
                let v = FVec(repeating: vals[j]), s = xr + (Int(cols[j]) &* stride &+ off)
                a0 = madd(a0, v, s.loadUnaligned(fromByteOffset: 0, as: FVec.self))
                a1 = madd(a1, v, s.loadUnaligned(fromByteOffset: vb, as: FVec.self))
            }
            yr.storeBytes(of: clampLanes(a0 + b0, lo: lov, hi: hiv), toByteOffset: off, as: FVec.self)
            yr.storeBytes(of: clampLanes(a1 + b1, lo: lov, hi: hiv), toByteOffset: off &+ vb, as: FVec.self)
            p &+= 2 &* vw
        }
        while p &+ vw <= p1 {
            var a0 = bv
            let off = p &* 4
            for j in 0..<count {
                a0 = madd(a0, FVec(repeating: vals[j]), xr.loadUnaligned(fromByteOffset: Int(cols[j]) &* stride &+ off, as: FVec.self))
            }
            yr.storeBytes(of: clampLanes(a0, lo: lov, hi: hiv), toByteOffset: off, as: FVec.self)
            p &+= vw
        }
        while p &+ 4 <= p1 {
            // Up to 7 leftover pixels (AVX2, AVX-512) in one 4-lane vector.
            typealias V4 = SIMD4<Float>
            var a0 = V4(repeating: bias)
            let off = p &* 4
            for j in 0..<count {
                a0 = a0 + V4(repeating: vals[j]) * xr.loadUnaligned(fromByteOffset: Int(cols[j]) &* stride &+ off, as: V4.self)
            }
            yr.storeBytes(of: clampLanes(a0, lo: V4(repeating: lo), hi: V4(repeating: hi)), toByteOffset: off, as: V4.self)
            p &+= 4
        }
        if p == 0 && p1 == 1 && pixels == 1 {
            y[0] = Swift.max(Swift.min(bias + dotGathered(count: count, cols: cols, vals: vals, x: x), hi), lo)
            return
        }
        while p < p1 {
            var s = bias
            for j in 0..<count { s = madd(s, vals[j], x[Int(cols[j]) &* pixels &+ p]) }
            y[p] = Swift.max(Swift.min(s, hi), lo)
            p &+= 1
        }
    }

    /// Fully connected (one pixel): Σ vals[j]·x[cols[j]], a gathered dot product in four chains.
    @inline(__always)
    static func dotGathered(count: Int, cols: UnsafePointer<Int32>, vals: UnsafePointer<Float>, x: UnsafePointer<Float>) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var j = 0
        while j &+ 4 <= count {
            s0 = madd(s0, vals[j], x[Int(cols[j])]); s1 = madd(s1, vals[j &+ 1], x[Int(cols[j &+ 1])])
            s2 = madd(s2, vals[j &+ 2], x[Int(cols[j &+ 2])]); s3 = madd(s3, vals[j &+ 3], x[Int(cols[j &+ 3])])
            j &+= 4
        }
        while j < count { s0 = madd(s0, vals[j], x[Int(cols[j])]); j &+= 1 }
        return (s0 + s1) + (s2 + s3)
    }

    /// Fully connected N:M row without a decode pass: each index byte holds 4 slots; slot j multiplies
    /// x[(j / n)·m + index]. Four chains, one per slot of the byte.
    @inline(__always)
    static func dotNM(n: Int, m: Int, slots: Int, indices: UnsafePointer<UInt8>, vals: UnsafePointer<Float>,
                      x: UnsafePointer<Float>) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var j = 0
        if n == 2 && m == 4 {
            // 2:4: byte b covers groups 2b and 2b+1 (channels 8b … 8b+7).
            while j &+ 4 <= slots {
                let bits = Int(indices[j >> 2]), base = x + (j >> 1) &* 4
                s0 = madd(s0, vals[j], base[bits & 3]); s1 = madd(s1, vals[j &+ 1], base[(bits >> 2) & 3])
                s2 = madd(s2, vals[j &+ 2], base[4 &+ ((bits >> 4) & 3)]); s3 = madd(s3, vals[j &+ 3], base[4 &+ (bits >> 6)])
                j &+= 4
            }
        }
        while j < slots {
            let idx = (Int(indices[j >> 2]) >> ((j & 3) << 1)) & 3
            s0 = madd(s0, vals[j], x[(j / n) &* m &+ idx])
            j &+= 1
        }
        return (s0 + s1) + (s2 + s3)
    }

    // MARK: int8

    /// int8 values × uint8-quantized activations, exact int32 sums, the int8 kernels' epilogue
    /// (`Int8Quantization.dequantize` with inputScale·weightScales[o]).
    public static func runInt8(format: Int, rows: Int, depth: Int, pixels: Int, batch: Int,
                               rowPointers: UnsafePointer<Int32>?, columnIndices: UnsafePointer<Int32>?,
                               nmIndices: UnsafePointer<UInt8>?, n: Int, m: Int,
                               values: UnsafePointer<Int8>, input: UnsafePointer<Float>, inputScale: Float,
                               inputZeroPoint: Int32, weightScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer,
                               outputMin: Float, outputMax: Float) {
        let r = SparseRows(format: format, depth: depth, rowPointers: rowPointers, columnIndices: columnIndices,
                           nmIndices: nmIndices, n: n, m: m, scratch: scratch)
        // (q − zp) as int32 so the row loop is a plain integer multiply-add (exact: |q − zp| ≤ 255, |w| ≤ 128).
        let centered = (scratch + ((r.slots &* 4 &+ 63) & ~63)).assumingMemoryBound(to: Int32.self)
        let count = depth &* pixels
        for bi in 0..<batch {
            let x = input + bi &* count
            for i in 0..<count {
                centered[i] = Int32(Int8Quantization.quantize(x[i], scale: inputScale, zeroPoint: inputZeroPoint)) &- inputZeroPoint
            }
            for o in 0..<rows {
                if format != 0 && pixels == 1 {
                    let acc = dotNM(n: n, m: m, slots: r.slots, indices: nmIndices! + o &* r.indexBytes, vals: values + o &* r.slots,
                                    x: UnsafePointer(centered))
                    output[bi &* rows &+ o] = Int8Quantization.dequantize(acc, scale: inputScale * weightScales[o], bias: bias?[o] ?? 0,
                                                                          outputMin: outputMin, outputMax: outputMax)
                    continue
                }
                let (cols, vals, nnz) = r.row(o, values: values)
                rowInt8(count: nnz, cols: cols, vals: vals, x: UnsafePointer(centered), pixels: pixels,
                        y: output + (bi &* rows &+ o) &* pixels, scale: inputScale * weightScales[o],
                        bias: bias?[o] ?? 0, lo: outputMin, hi: outputMax)
            }
        }
    }

    /// `dotNM` for int8 values × (q − zp): exact int32 sum.
    @inline(__always)
    static func dotNM(n: Int, m: Int, slots: Int, indices: UnsafePointer<UInt8>, vals: UnsafePointer<Int8>,
                      x: UnsafePointer<Int32>) -> Int32 {
        var s0: Int32 = 0, s1: Int32 = 0
        var j = 0
        if n == 2 && m == 4 {
            while j &+ 4 <= slots {
                let bits = Int(indices[j >> 2]), base = x + (j >> 1) &* 4
                s0 &+= Int32(vals[j]) &* base[bits & 3] &+ Int32(vals[j &+ 1]) &* base[(bits >> 2) & 3]
                s1 &+= Int32(vals[j &+ 2]) &* base[4 &+ ((bits >> 4) & 3)] &+ Int32(vals[j &+ 3]) &* base[4 &+ (bits >> 6)]
                j &+= 4
            }
        }
        while j < slots {
            let idx = (Int(indices[j >> 2]) >> ((j & 3) << 1)) & 3
            s0 &+= Int32(vals[j]) &* x[(j / n) &* m &+ idx]
            j &+= 1
        }
        return s0 &+ s1
    }

    @inline(__always)
    static func rowInt8(count: Int, cols: UnsafePointer<Int32>, vals: UnsafePointer<Int8>, x: UnsafePointer<Int32>,
                        pixels: Int, from p0: Int = 0, to end: Int? = nil, y: UnsafeMutablePointer<Float>,
                        scale: Float, bias: Float, lo: Float, hi: Float) {
        typealias IVec = SIMD8<Int32>
        let stride = pixels &* 4
        let xr = UnsafeRawPointer(x)
        let p1 = end ?? pixels
        var p = p0
        // Four chains of 8 pixels: the int32 multiply (vpmulld) has a long latency.
        while p &+ 32 <= p1 {
            var a0 = IVec(), a1 = IVec(), a2 = IVec(), a3 = IVec()
            let off = p &* 4
            for j in 0..<count {
                let v = IVec(repeating: Int32(vals[j]))
                let src = xr + (Int(cols[j]) &* stride &+ off)
                a0 &+= v &* src.loadUnaligned(fromByteOffset: 0, as: IVec.self)
                a1 &+= v &* src.loadUnaligned(fromByteOffset: 32, as: IVec.self)
                a2 &+= v &* src.loadUnaligned(fromByteOffset: 64, as: IVec.self)
                a3 &+= v &* src.loadUnaligned(fromByteOffset: 96, as: IVec.self)
            }
            for l in 0..<8 {
                y[p &+ l] = Int8Quantization.dequantize(a0[l], scale: scale, bias: bias, outputMin: lo, outputMax: hi)
                y[p &+ 8 &+ l] = Int8Quantization.dequantize(a1[l], scale: scale, bias: bias, outputMin: lo, outputMax: hi)
                y[p &+ 16 &+ l] = Int8Quantization.dequantize(a2[l], scale: scale, bias: bias, outputMin: lo, outputMax: hi)
                y[p &+ 24 &+ l] = Int8Quantization.dequantize(a3[l], scale: scale, bias: bias, outputMin: lo, outputMax: hi)
            }
            p &+= 32
        }
        while p &+ 8 <= p1 {
            var a0 = IVec()
            let off = p &* 4
            for j in 0..<count {
                a0 &+= IVec(repeating: Int32(vals[j])) &* xr.loadUnaligned(fromByteOffset: Int(cols[j]) &* stride &+ off, as: IVec.self)
            }
            for l in 0..<8 { y[p &+ l] = Int8Quantization.dequantize(a0[l], scale: scale, bias: bias, outputMin: lo, outputMax: hi) }
            p &+= 8
        }
        while p < p1 {
            var s: Int32 = 0
            for j in 0..<count { s &+= Int32(vals[j]) &* x[Int(cols[j]) &* pixels &+ p] }
            y[p] = Int8Quantization.dequantize(s, scale: scale, bias: bias, outputMin: lo, outputMax: hi)
            p &+= 1
        }
    }
}
