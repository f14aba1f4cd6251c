import NibbleFormat

/// Add, Sub, Mul, Div with numpy broadcasting (ONNX "multidirectional broadcasting"), then an optional clamp to
/// [output_min, output_max] (a Relu/Clip the converter fused, as after a ResNet block's residual add).
/// The common cases run as flat loops: equal shapes and a scalar operand; the rest walks the output with broadcast
/// strides, over dimensions coalesced where both operands allow it, so a per-channel operand ([1,C,1,1] against
/// [1,C,H,W], a squeeze-and-excitation scale) runs C rows of H·W values, each a loop over one contiguous operand and
/// one value.
struct BinaryStep {
    enum Operation { case add, sub, mul, div }
    enum Pattern { case same, scalarA, scalarB, general }

    let operation: Operation
    let a: Int, b: Int, output: Int
    let count: Int
    let pattern: Pattern
    /// Output shape and per-operand element strides (0 where broadcast), right-aligned to the output rank, with
    /// dimensions of 1 dropped and neighbours merged where both operands step through them as one
    /// (`coalesced`); the output is row-major over it all the same.
    let shape: [Int], aStrides: [Int], bStrides: [Int]
    /// The fused clamp; ±infinity (and `clamps` false) without one.
    let low: Float, high: Float
    var clamps: Bool { low > -.infinity || high < .infinity }
    /// Set by `Model.foldingResidualAdds`: the step before computes this Add in its epilogue, so running it does nothing.
    var isFolded = false
    /// Set by `BandPlan` (equal shapes only): one operand's tensor holds CAT codec symbols, not floats (a byte window,
    /// a quarter of a float one), read as (s − zeroPoint)·step — the codec's dequantize, so the same floats.
    var symbols: SymbolOperand? = nil

    struct SymbolOperand {
        let isA: Bool
        let step: Float
        let zeroPoint: Int
    }

    static func make(_ c: NodeChecker) throws(NibbleError) -> BinaryStep {
        try c.requireInputs(2...2)
        let a = try c.input(0), b = try c.input(1)
        try c.require(a, dtype: .float32, "input A"); try c.require(b, dtype: .float32, "input B")
        let sa = c.tensor(a).shape, sb = c.tensor(b).shape
        let rank = max(sa.count, sb.count)
        var shape = [Int](repeating: 1, count: rank)
        let pa = [Int](repeating: 1, count: rank - sa.count) + sa
        let pb = [Int](repeating: 1, count: rank - sb.count) + sb
        for i in 0..<rank {
            if pa[i] == pb[i] || pb[i] == 1 { shape[i] = pa[i] } else if pa[i] == 1 { shape[i] = pb[i] } else {
                throw c.fail("shapes \(sa) and \(sb) do not broadcast")
            }
        }
        try c.requireShape(c.output, rank == 0 ? c.tensor(c.output).shape : shape, "output")
        try c.require(c.output, dtype: .float32, "output")
        func strides(_ p: [Int]) -> [Int] {
            var s = [Int](repeating: 0, count: rank)
            var acc = 1
            for i in stride(from: rank - 1, through: 0, by: -1) {
                s[i] = p[i] == 1 ? 0 : acc
                acc *= p[i]
            }
            return s
        }
        let count = shape.reduce(1, *)
        let pattern: Pattern
        if pa == pb { pattern = .same }
        else if c.tensor(a).elementCount == 1 { pattern = .scalarA }
        else if c.tensor(b).elementCount == 1 { pattern = .scalarB }
        else { pattern = .general }
        let op: Operation
        switch c.node.op {
        case .add: op = .add
        case .sub: op = .sub
        case .mul: op = .mul
        default: op = .div
        }
        let low = try c.float(.outputMin, default: -.infinity), high = try c.float(.outputMax, default: .infinity)
        if low > high { throw c.fail("output_min \(low) > output_max \(high)") }
        let walk = coalesced(shape, strides(pa), strides(pb))
        return BinaryStep(operation: op, a: a, b: b, output: c.output, count: count, pattern: pattern,
                          shape: walk.shape, aStrides: walk.a, bStrides: walk.b, low: low, high: high)
    }

    /// `shape` without its dimensions of 1, and each dimension merged into the one before where both operands'
    /// strides continue across them (stride before = stride · extent, broadcast 0 = 0); at least one dimension.
    static func coalesced(_ shape: [Int], _ a: [Int], _ b: [Int]) -> (shape: [Int], a: [Int], b: [Int]) {
        var s: [Int] = [], sa: [Int] = [], sb: [Int] = []
        for d in shape.indices where shape[d] > 1 {
            if let last = s.indices.last, sa[last] == a[d] * shape[d], sb[last] == b[d] * shape[d] {
                s[last] *= shape[d]; sa[last] = a[d]; sb[last] = b[d]
            } else {
                s.append(shape[d]); sa.append(a[d]); sb.append(b[d])
            }
        }
        return s.isEmpty ? ([1], [0], [0]) : (s, sa, sb)
    }

    @inline(__always)
    static func apply(_ op: Operation, _ x: Float, _ y: Float) -> Float {
        switch op {
        case .add: return x + y
        case .sub: return x - y
        case .mul: return x * y
        case .div: return x / y
        }
    }

    func run(_ bind: Bindings) { runTask(bind, task: 0, of: 1) }

    /// Task `task` of `tasks`: a range of output elements (blocks of 16), or of output rows when broadcasting.
    func runTask(_ bind: Bindings, task: Int, of tasks: Int) {
        if isFolded { return }
        if let q = symbols {
            let r = TaskSplit.range(count, task: task, of: tasks, multiple: 16)
            let s = bind.raw(q.isA ? a : b).assumingMemoryBound(to: UInt8.self), other = bind.f32(q.isA ? b : a), out = bind.f32(output)
            if operation == .add {
                // A residual Add's skip (the common case): one loop without the operation switch, which vectorizes
                // (x + y = y + x exactly, so the operand order does not matter).
                let zp = Int32(truncatingIfNeeded: q.zeroPoint), step = q.step
                for i in r { out[i] = Float(Int32(s[i]) &- zp) * step + other[i] }
                clamp(out, r)
                return
            }
            for i in r {
                let v = Float(Int(s[i]) - q.zeroPoint) * q.step
                out[i] = q.isA ? BinaryStep.apply(operation, v, other[i]) : BinaryStep.apply(operation, other[i], v)
            }
            clamp(out, r)
            return
        }
        let x = bind.f32(a), y = bind.f32(b), out = bind.f32(output)
        if pattern == .general {
            let inner = shape[shape.count - 1], rows = TaskSplit.range(count / max(inner, 1), task: task, of: tasks)
            runGeneral(x, y, out, rows: rows)
            clamp(out, rows.lowerBound * inner..<rows.upperBound * inner)
            return
        }
        let r = TaskSplit.range(count, task: task, of: tasks, multiple: 16)
        switch (pattern, operation) {
        case (.same, .add): for i in r { out[i] = x[i] + y[i] }
        case (.same, .mul): for i in r { out[i] = x[i] * y[i] }
        case (.scalarA, _): let s = x[0]; for i in r { out[i] = BinaryStep.apply(operation, s, y[i]) }
        case (.scalarB, _): let s = y[0]; for i in r { out[i] = BinaryStep.apply(operation, x[i], s) }
        default: for i in r { out[i] = BinaryStep.apply(operation, x[i], y[i]) }
        }
        clamp(out, r)
    }

    /// The fused clamp over elements `r` of the output, a second pass so the arithmetic loops stay plain.
    @inline(__always)
    private func clamp(_ out: UnsafeMutablePointer<Float>, _ r: Range<Int>) {
        guard clamps else { return }
        for i in r { out[i] = min(max(out[i], low), high) }
    }

    /// Walks output rows `rows` in order; the innermost dimension runs as a tight loop.
    private func runGeneral(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                            rows: Range<Int>) {
        let rank = shape.count
        let inner = shape[rank - 1], sa = aStrides[rank - 1], sb = bStrides[rank - 1]
        shape.withUnsafeBufferPointer { shape in
        aStrides.withUnsafeBufferPointer { aStrides in
        bStrides.withUnsafeBufferPointer { bStrides in
            for o in rows {
                // Decompose the outer index into coordinates of all but the last dimension.
                var rem = o, offA = 0, offB = 0
                var d = rank - 2
                while d >= 0 {
                    let coord = rem % shape[d]
                    rem /= shape[d]
                    offA += coord * aStrides[d]
                    offB += coord * bStrides[d]
                    d -= 1
                }
                switch operation {
                case .add: BinaryStep.row(out + o * inner, x + offA, sa, y + offB, sb, inner) { $0 + $1 }
                case .sub: BinaryStep.row(out + o * inner, x + offA, sa, y + offB, sb, inner) { $0 - $1 }
                case .mul: BinaryStep.row(out + o * inner, x + offA, sa, y + offB, sb, inner) { $0 * $1 }
                case .div: BinaryStep.row(out + o * inner, x + offA, sa, y + offB, sb, inner) { $0 / $1 }
                }
            }
        }}}
    }

    /// d[i] = f(x[i·sa], y[i·sb]) for i < n, with the operation and the usual strides (a contiguous operand and a
    /// broadcast one, both contiguous) as loops of their own, which vectorize.
    @inline(__always)
    static func row(_ d: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ sa: Int, _ y: UnsafeMutablePointer<Float>,
                    _ sb: Int, _ n: Int, _ f: (Float, Float) -> Float) {
        if sa == 1 && sb == 0 {
            let v = y[0]
            for i in 0..<n { d[i] = f(x[i], v) }
        } else if sa == 0 && sb == 1 {
            let v = x[0]
            for i in 0..<n { d[i] = f(v, y[i]) }
        } else if sa == 1 && sb == 1 {
            for i in 0..<n { d[i] = f(x[i], y[i]) }
        } else {
            for i in 0..<n { d[i] = f(x[i &* sa], y[i &* sb]) }
        }
    }
}
