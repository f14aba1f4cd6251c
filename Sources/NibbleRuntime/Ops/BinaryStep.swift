import NibbleFormat

/// Add, Sub, Mul, Div with numpy broadcasting (ONNX "multidirectional broadcasting"), then an optional clamp to
/// [output_min, output_max] (a Relu/Clip the converter fused, as after a ResNet block's residual add).
/// The common cases run as flat loops: equal shapes, a scalar operand, and a per-channel operand
/// ([C,1,1] against [1,C,H,W]); the rest walks the output with broadcast strides.
struct BinaryStep {
    enum Operation { case add, sub, mul, div }
    enum Pattern { case same, scalarA, scalarB, general }

    let operation: Operation
    let a: Int, b: Int, output: Int
    let count: Int
    let pattern: Pattern
    /// Output shape and per-operand element strides (0 where broadcast), right-aligned to the output rank.
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
        return BinaryStep(operation: op, a: a, b: b, output: c.output, count: count, pattern: pattern,
                          shape: shape, aStrides: strides(pa), bStrides: strides(pb), low: low, high: high)
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
                let dst = out + o * inner
                for i in 0..<inner { dst[i] = BinaryStep.apply(operation, x[offA + i * sa], y[offB + i * sb]) }
            }
        }}}
    }
}
