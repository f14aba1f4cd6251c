/// Output-shape rules of the ONNX operators, shared by constant folding and graph lowering.
/// All shapes are static with the batch fixed to 1 (the runtime loops over the batch).
enum ShapeRules {
    /// numpy broadcasting; nil when the shapes do not broadcast.
    static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            if pa[i] == pb[i] || pb[i] == 1 { out[i] = pa[i] } else if pa[i] == 1 { out[i] = pb[i] } else { return nil }
        }
        return out
    }

    /// Normalizes a possibly negative axis against `rank`.
    static func axis(_ a: Int, rank: Int, _ node: NodeView, _ what: String = "axis") throws -> Int {
        let v = a < 0 ? a + rank : a
        if v < 0 || v >= rank { throw node.malformed("\(what) \(a) is outside -\(rank)..<\(rank) for rank \(rank)") }
        return v
    }

    /// Reshape's target: 0 copies the input dimension (unless allowzero), -1 is inferred.
    static func reshape(_ input: [Int], to spec: [Int64], allowZero: Bool, _ node: NodeView) throws -> [Int] {
        let total = input.reduce(1, *)
        var out: [Int] = []
        var inferAt: Int? = nil
        for (i, d) in spec.enumerated() {
            if d == -1 {
                if inferAt != nil { throw node.malformed("shape \(spec) has more than one -1") }
                inferAt = i
                out.append(1)
            } else if d == 0 && !allowZero {
                if i >= input.count { throw node.malformed("shape \(spec) copies dimension \(i) (0) but the input \(input) has rank \(input.count)") }
                out.append(input[i])
            } else if d < 0 || d > Int64(HostTensor.maxElements) {
                throw node.malformed("shape \(spec) has invalid dimension \(d)")
            } else {
                out.append(Int(d))
            }
        }
        let known = try HostTensor.elementCount(out, node.where_())
        if let i = inferAt {
            if known == 0 || total % known != 0 {
                throw node.malformed("cannot infer -1 in shape \(spec): \(total) elements of \(input) do not divide by \(known)")
            }
            out[i] = total / known
        } else if known != total {
            throw node.malformed("cannot reshape \(input) (\(total) elements) to \(spec) (\(known) elements)")
        }
        return out
    }

    static func flatten(_ input: [Int], axis: Int, _ node: NodeView) throws -> [Int] {
        let a = axis < 0 ? axis + input.count : axis
        if a < 0 || a > input.count { throw node.malformed("axis \(axis) outside -\(input.count)...\(input.count)") }
        return [input[..<a].reduce(1, *), input[a...].reduce(1, *)]
    }

    static func unsqueeze(_ input: [Int], axes: [Int], _ node: NodeView) throws -> [Int] {
        let rank = input.count + axes.count
        var norm: [Int] = []
        for a in axes { norm.append(try axis(a, rank: rank, node, "axes entry")) }
        if Set(norm).count != norm.count { throw node.malformed("axes \(axes) repeat an axis") }
        var out: [Int] = []
        var it = input.makeIterator()
        for d in 0..<rank {
            if norm.contains(d) { out.append(1) } else if let v = it.next() { out.append(v) }
        }
        return out
    }

    /// `axes` nil: drop every dimension of size 1.
    static func squeeze(_ input: [Int], axes: [Int]?, _ node: NodeView) throws -> [Int] {
        guard let axes else { return input.filter { $0 != 1 } }
        var norm = Set<Int>()
        for a in axes {
            let v = try axis(a, rank: input.count, node, "axes entry")
            if input[v] != 1 { throw node.malformed("cannot squeeze axis \(a) of shape \(input): size \(input[v]) is not 1") }
            norm.insert(v)
        }
        return input.enumerated().filter { !norm.contains($0.offset) }.map { $0.element }
    }

    static func concat(_ shapes: [[Int]], axis a: Int, _ node: NodeView) throws -> (shape: [Int], axis: Int) {
        guard let first = shapes.first else { throw node.malformed("has no inputs") }
        let ax = try axis(a, rank: first.count, node)
        var out = first
        out[ax] = 0
        for (k, s) in shapes.enumerated() {
            if s.count != first.count { throw node.malformed("input \(k) has rank \(s.count) (shape \(s)), expected \(first.count)") }
            for d in 0..<s.count where d != ax && s[d] != first[d] {
                throw node.malformed("input \(k) shape \(s) differs from \(first) outside axis \(ax)")
            }
            out[ax] += s[ax]
        }
        return (out, ax)
    }

    static func permutation(_ perm: [Int]?, rank: Int, _ node: NodeView) throws -> [Int] {
        guard let perm else { return Array((0..<rank).reversed()) }
        if perm.count != rank || perm.sorted() != Array(0..<rank) {
            throw node.malformed("perm \(perm) is not a permutation of 0..<\(rank)")
        }
        return perm
    }

    /// Window output size (Conv, pools). `ceil`: ONNX ceil_mode with the PyTorch rule that the last
    /// window starts inside the input or its begin padding.
    static func windowOutput(input n: Int, kernel k: Int, stride s: Int, padBegin p0: Int, padEnd p1: Int, dilation d: Int, ceil: Bool) -> Int {
        let eff = (k - 1) * d + 1
        let span = n + p0 + p1 - eff
        if span < 0 { return 0 }
        var o = (ceil ? (span + s - 1) / s : span / s) + 1
        if ceil && (o - 1) * s >= n + p0 { o -= 1 }
        return o
    }

    /// auto_pad SAME_UPPER / SAME_LOWER → explicit (begin, end) pads for one spatial dimension.
    static func samePads(input n: Int, kernel k: Int, stride s: Int, dilation d: Int, upper: Bool) -> (Int, Int) {
        let out = (n + s - 1) / s
        let eff = (k - 1) * d + 1
        let total = max(0, (out - 1) * s + eff - n)
        let small = total / 2
        return upper ? (small, total - small) : (total - small, small)
    }

    /// ONNX Slice on `shape` (numpy-style clamping of negative and out-of-range bounds): each dimension's first index,
    /// step and count (dimensions not in `axes`: 0, 1, all).
    static func slice(_ shape: [Int], _ a: (starts: [Int64], ends: [Int64], axes: [Int64]?, steps: [Int64]?), _ node: NodeView) throws
        -> (begin: [Int], step: [Int], count: [Int]) {
        let r = shape.count
        let ax = a.axes ?? (0..<a.starts.count).map { Int64($0) }
        let st = a.steps ?? [Int64](repeating: 1, count: a.starts.count)
        if a.ends.count != a.starts.count || ax.count != a.starts.count || st.count != a.starts.count {
            throw node.malformed("starts \(a.starts), ends \(a.ends), axes \(ax), steps \(st) differ in length")
        }
        var begin = [Int](repeating: 0, count: r), step = [Int](repeating: 1, count: r), count = shape
        var seen = Set<Int>()
        for k in 0..<a.starts.count {
            let d = try axis(Int(clamping: ax[k]), rank: r, node, "axes entry")
            if !seen.insert(d).inserted { throw node.malformed("axes \(ax) repeat axis \(d)") }
            let n = Int64(shape[d]), s = st[k]
            if s == 0 { throw node.malformed("step 0 on axis \(d)") }
            if s == Int64.min { throw node.malformed("step \(s) on axis \(d) is out of range") }
            var b = a.starts[k] < 0 ? a.starts[k] &+ n : a.starts[k]
            var e = a.ends[k] < 0 ? a.ends[k] &+ n : a.ends[k]
            if s > 0 { b = min(max(b, 0), n); e = min(max(e, 0), n) } else { b = min(max(b, 0), n - 1); e = min(max(e, -1), n - 1) }
            let c = s > 0 ? (e > b ? (e - b - 1) / s + 1 : 0) : (b > e ? (b - e - 1) / (-s) + 1 : 0)
            begin[d] = Int(b); step[d] = Int(clamping: s); count[d] = Int(c)
        }
        return (begin, step, count)
    }
}
