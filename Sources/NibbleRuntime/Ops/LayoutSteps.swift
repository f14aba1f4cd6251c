import NibbleFormat
import NibbleKernels

/// Reshape (also Flatten, Squeeze, Unsqueeze): same elements, new shape; a copy into the output.
struct ReshapeStep {
    let input: Int, output: Int, bytes: Int

    static func make(_ c: NodeChecker) throws(NibbleError) -> ReshapeStep {
        if c.node.inputs.isEmpty || c.node.outputs.count != 1 { throw c.fail("expects 1 data input and 1 output") }
        let x = try c.input(0)
        let xt = c.tensor(x), ot = c.tensor(c.output)
        if xt.elementCount != ot.elementCount || xt.dtype != ot.dtype {
            throw c.fail("cannot reshape \(xt.shape) \(xt.dtype.name) to \(ot.shape) \(ot.dtype.name)")
        }
        return ReshapeStep(input: x, output: c.output, bytes: xt.byteCount)
    }

    func run(_ b: Bindings) { b.raw(output).copyMemory(from: b.raw(input), byteCount: bytes) }
}

/// Concat along `axis`: outer × (Σ per-input axis extent × inner) blocks.
struct ConcatStep {
    let inputs: [Int], output: Int
    /// Per input: contiguous floats per outer index.
    let chunk: [Int]
    let outer: Int, elementSize: Int

    static func make(_ c: NodeChecker) throws(NibbleError) -> ConcatStep {
        if c.node.inputs.isEmpty || c.node.outputs.count != 1 { throw c.fail("expects inputs and 1 output") }
        let first = try c.input(0)
        let rank = c.tensor(first).shape.count
        let axis = try c.ints(.axis, count: 1)[0]
        if axis < 0 || axis >= rank { throw c.fail("axis \(axis) outside 0..<\(rank)") }
        var outShape = c.tensor(first).shape
        outShape[axis] = 0
        var chunk: [Int] = []
        for k in c.node.inputs.indices {
            let t = try c.input(k)
            let s = c.tensor(t).shape
            if s.count != rank || c.tensor(t).dtype != c.tensor(first).dtype {
                throw c.fail("input \(k) has shape \(s) \(c.tensor(t).dtype.name), expected rank \(rank) \(c.tensor(first).dtype.name)")
            }
            for d in 0..<rank where d != axis && s[d] != c.tensor(first).shape[d] {
                throw c.fail("input \(k) shape \(s) differs from \(c.tensor(first).shape) off the axis \(axis)")
            }
            outShape[axis] += s[axis]
            chunk.append(s[axis...].reduce(1, *))
        }
        try c.requireShape(c.output, outShape, "output")
        return ConcatStep(inputs: c.node.inputs, output: c.output, chunk: chunk,
                          outer: outShape[..<axis].reduce(1, *), elementSize: c.tensor(first).dtype.byteSize)
    }

    func run(_ b: Bindings) {
        var dst = b.raw(output)
        for o in 0..<outer {
            for (k, t) in inputs.enumerated() {
                let n = chunk[k] * elementSize
                dst.copyMemory(from: b.raw(t) + o * n, byteCount: n)
                dst += n
            }
        }
    }
}

/// A strided view of the input copied out (float32): output coordinate i reads input element
/// `offset` + Σ_d i[d]·strides[d]. Transpose (the input's strides permuted) and Slice (an offset, and each stride
/// times its step) are both such views.
struct StridedCopyStep {
    let input: Int, output: Int
    let outShape: [Int]
    /// Input stride of each output dimension (negative for a Slice's negative step).
    let strides: [Int]
    let offset: Int
    let count: Int
    let isSlice: Bool

    /// Element strides of a row-major `shape`.
    static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
        return strides
    }

    /// Transpose by `perm`: output dimension d is input dimension perm[d].
    static func transpose(_ c: NodeChecker) throws(NibbleError) -> StridedCopyStep {
        try c.requireInputs(1...1)
        let x = try c.input(0)
        try c.require(x, dtype: .float32, "input")
        let s = c.tensor(x).shape
        let perm = try c.ints(.perm, count: s.count, default: Array((0..<s.count).reversed()))
        if perm.sorted() != Array(0..<s.count) { throw c.fail("perm \(perm) is not a permutation of 0..<\(s.count)") }
        let inStrides = rowMajorStrides(s)
        let outShape = perm.map { s[$0] }
        try c.requireShape(c.output, outShape, "output")
        return StridedCopyStep(input: x, output: c.output, outShape: outShape, strides: perm.map { inStrides[$0] }, offset: 0,
                               count: c.tensor(x).elementCount, isSlice: false)
    }

    /// Slice: output index i of dimension d reads input index starts[d] + i·steps[d]; the output tensor's shape gives
    /// the counts. Every index read must lie inside the input (checked here, with overflow-safe arithmetic).
    static func slice(_ c: NodeChecker) throws(NibbleError) -> StridedCopyStep {
        try c.requireInputs(1...1)
        let x = try c.input(0)
        try c.require(x, dtype: .float32, "input")
        try c.require(c.output, dtype: .float32, "output")
        let s = c.tensor(x).shape, outShape = c.tensor(c.output).shape
        if outShape.count != s.count { throw c.fail("output rank \(outShape.count) differs from the input's \(s.count)") }
        let starts = try c.ints(.starts, count: s.count, default: nil)
        let steps = try c.ints(.steps, count: s.count, default: nil)
        for d in 0..<s.count {
            let (span, overflow) = (outShape[d] - 1).multipliedReportingOverflow(by: steps[d])
            let last = starts[d].addingReportingOverflow(span)
            if steps[d] == 0 || starts[d] < 0 || starts[d] >= s[d] || overflow || last.overflow || last.partialValue < 0 || last.partialValue >= s[d] {
                throw c.fail("dimension \(d): \(outShape[d]) values from index \(starts[d]) by step \(steps[d]) do not fit the input's \(s[d])")
            }
        }
        let inStrides = rowMajorStrides(s)
        let offset = (0..<s.count).reduce(0) { $0 + starts[$1] * inStrides[$1] }
        return StridedCopyStep(input: x, output: c.output, outShape: outShape, strides: (0..<s.count).map { inStrides[$0] * steps[$0] },
                               offset: offset, count: c.tensor(c.output).elementCount, isSlice: true)
    }

    func run(_ b: Bindings) {
        let x = b.f32(input) + offset, y = b.f32(output)
        let rank = outShape.count
        if rank == 0 { y[0] = x[0]; return }
        let inner = outShape[rank - 1], innerStride = strides[rank - 1]
        outShape.withUnsafeBufferPointer { shape in
        strides.withUnsafeBufferPointer { strides in
            for o in 0..<(count / inner) {
                var rem = o, off = 0, d = rank - 2
                while d >= 0 { off += (rem % shape[d]) * strides[d]; rem /= shape[d]; d -= 1 }
                let dst = y + o * inner
                for i in 0..<inner { dst[i] = x[off + i * innerStride] }
            }
        }}
    }
}

/// Softmax along `axis` (numerically stable: subtract the max).
struct SoftmaxStep {
    let input: Int, output: Int, outer: Int, extent: Int, inner: Int

    static func make(_ c: NodeChecker) throws(NibbleError) -> SoftmaxStep {
        try c.requireInputs(1...1)
        let x = try c.input(0)
        try c.require(x, dtype: .float32, "input")
        let s = c.tensor(x).shape
        let axis = try c.ints(.axis, count: 1, default: [s.count - 1])[0]
        if axis < 0 || axis >= s.count { throw c.fail("axis \(axis) outside 0..<\(s.count)") }
        try c.requireShape(c.output, s, "output")
        return SoftmaxStep(input: x, output: c.output, outer: s[..<axis].reduce(1, *), extent: s[axis],
                           inner: s[(axis + 1)...].reduce(1, *))
    }

    func run(_ b: Bindings) {
        let x = b.f32(input), y = b.f32(output)
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * extent * inner + i
                var m = -Float.infinity
                for k in 0..<extent { m = max(m, x[base + k * inner]) }
                var sum: Float = 0
                for k in 0..<extent { let e = Exponential.exp(x[base + k * inner] - m); y[base + k * inner] = e; sum += e }
                let inv = 1 / sum
                for k in 0..<extent { y[base + k * inner] *= inv }
            }
        }
    }
}

/// MatMul of two float tensors [..., M, K] × [..., K, N] with equal leading dimensions (or a rank-2 B).
struct MatMulStep {
    let a: Int, b: Int, output: Int
    let batches: Int, m: Int, k: Int, n: Int, bBatchStride: Int

    static func make(_ c: NodeChecker) throws(NibbleError) -> MatMulStep {
        try c.requireInputs(2...2)
        let a = try c.input(0), b = try c.input(1)
        try c.require(a, dtype: .float32, "input A"); try c.require(b, dtype: .float32, "input B")
        let sa = c.tensor(a).shape, sb = c.tensor(b).shape
        if sa.count < 2 || sb.count < 2 || sa[sa.count - 1] != sb[sb.count - 2] {
            throw c.fail("shapes \(sa) × \(sb) do not multiply")
        }
        let lead = Array(sa[..<(sa.count - 2)])
        if sb.count > 2 && Array(sb[..<(sb.count - 2)]) != lead {
            throw c.fail("leading dimensions of \(sa) and \(sb) differ (broadcasting is supported only for a rank-2 B)")
        }
        let m = sa[sa.count - 2], k = sa[sa.count - 1], n = sb[sb.count - 1]
        try c.requireShape(c.output, lead + [m, n], "output")
        return MatMulStep(a: a, b: b, output: c.output, batches: lead.reduce(1, *), m: m, k: k, n: n,
                          bBatchStride: sb.count > 2 ? k * n : 0)
    }

    func run(_ bind: Bindings) {
        let x = bind.f32(a), w = bind.f32(b), y = bind.f32(output)
        for t in 0..<batches {
            let xa = x + t * m * k, wb = w + t * bBatchStride, yo = y + t * m * n
            for i in 0..<m {
                let row = yo + i * n
                for j in 0..<n { row[j] = 0 }
                for p in 0..<k {
                    let av = xa[i * k + p], wr = wb + p * n
                    for j in 0..<n { row[j] += av * wr[j] }
                }
            }
        }
    }
}
