/// Evaluates a node at convert time when all of its inputs are known: the shape subgraphs exporters
/// emit (Shape → Gather → Unsqueeze → Concat → Reshape) and small arithmetic on constants.
enum ConstantFolder {
    static let foldable: Set<String> = [
        "Shape", "Gather", "Slice", "Concat", "Unsqueeze", "Squeeze", "Cast", "Add", "Sub", "Mul", "Div",
        "ConstantOfShape", "Reshape", "Flatten", "Identity", "Transpose", "Relu", "Neg", "Sqrt", "Reciprocal",
    ]

    /// `inputs[k]`: the value of node input `k`, nil when omitted. Returns the node's first output.
    static func evaluate(_ node: NodeView, _ inputs: [HostTensor?], opset: Int) throws -> HostTensor {
        func input(_ k: Int, _ what: String) throws -> HostTensor {
            guard k < inputs.count, let t = inputs[k] else { throw node.malformed("missing input \(k) (\(what))") }
            return t
        }
        func intValues(_ t: HostTensor, _ what: String) throws -> [Int64] {
            guard let v = t.ints else { throw node.unsupported("\(what) must be an integer tensor, found float32") }
            return v
        }
        switch node.op {
        case "Identity":
            return try input(0, "input")
        case "Shape":
            return shape(of: try input(0, "data").shape, node)
        case "Cast":
            let to = try node.int("to", default: 1)
            switch to {
            case 1, 11: return try input(0, "input").converted(toFloat: true)
            case 6, 7: return try input(0, "input").converted(toFloat: false)
            default: throw node.unsupported("cast to \(HostTensor.dataTypeName(Int32(truncatingIfNeeded: to))) is not supported; supported: float32, float64, int32, int64")
            }
        case "Add", "Sub", "Mul", "Div":
            return try binary(node, try input(0, "A"), try input(1, "B"))
        case "Neg", "Sqrt", "Reciprocal", "Relu":
            let x = try input(0, "X")
            if let v = x.ints, node.op == "Neg" || node.op == "Relu" {
                return HostTensor(shape: x.shape, ints: v.map { node.op == "Neg" ? 0 &- $0 : max($0, 0) })
            }
            let f: (Float) -> Float
            switch node.op {
            case "Neg": f = { -$0 }
            case "Sqrt": f = { $0.squareRoot() }
            case "Reciprocal": f = { 1 / $0 }
            default: f = { max($0, 0) }
            }
            return HostTensor(shape: x.shape, floats: x.floats.map(f))
        case "Gather":
            return try gather(node, try input(0, "data"), try intValues(try input(1, "indices"), "indices"),
                              indicesShape: try input(1, "indices").shape)
        case "Slice":
            return try slice(node, inputs, opset: opset)
        case "Concat":
            let parts = try inputs.enumerated().map { k, t -> HostTensor in
                guard let t else { throw node.malformed("input \(k) is empty") }
                return t
            }
            return try concat(node, parts)
        case "Unsqueeze", "Squeeze", "Reshape", "Flatten":
            let x = try input(0, "data")
            let outShape: [Int]
            switch node.op {
            case "Reshape":
                outShape = try ShapeRules.reshape(x.shape, to: try intValues(try input(1, "shape"), "shape"),
                                                  allowZero: try node.int("allowzero", default: 0) != 0, node)
            case "Flatten":
                outShape = try ShapeRules.flatten(x.shape, axis: try node.int("axis", default: 1), node)
            case "Unsqueeze":
                let axes = opset >= 13 ? try intValues(try input(1, "axes"), "axes").map { Int($0) } : (try node.ints("axes") ?? [])
                outShape = try ShapeRules.unsqueeze(x.shape, axes: axes, node)
            default:
                let axes: [Int]? = opset >= 13 ? try (inputs.count > 1 ? inputs[1] : nil).map { try intValues($0, "axes").map { Int($0) } }
                                               : try node.ints("axes")
                outShape = try ShapeRules.squeeze(x.shape, axes: axes, node)
            }
            var y = x
            y.shape = outShape
            return y
        case "Transpose":
            let x = try input(0, "data")
            return x.transposed(try ShapeRules.permutation(try node.ints("perm"), rank: x.shape.count, node))
        case "ConstantOfShape":
            let dims = try intValues(try input(0, "shape"), "shape")
            let shape = dims.map { Int(clamping: $0) }
            let n = try HostTensor.elementCount(shape, node.where_())
            var fill = HostTensor(shape: [1], floats: [0])
            if let a = node.attribute("value") {
                fill = try HostTensor(proto: a.t, context: "\(node.where_()) attribute value")
                if fill.count != 1 { throw node.malformed("value must hold one element, found \(fill.count)") }
            }
            switch fill.storage {
            case .float(let v): return HostTensor(shape: shape, floats: [Float](repeating: v[0], count: n))
            case .int(let v): return HostTensor(shape: shape, ints: [Int64](repeating: v[0], count: n))
            }
        default:
            throw node.unsupported("cannot be evaluated at convert time")
        }
    }

    /// Shape's output (with opset-15 start/end) for an input of `shape`.
    static func shape(of shape: [Int], _ node: NodeView) -> HostTensor {
        let r = shape.count
        func clampIndex(_ v: Int) -> Int { min(max(v < 0 ? v + r : v, 0), r) }
        let start = clampIndex((try? node.int("start", default: 0)) ?? 0)
        let end = clampIndex((try? node.int("end", default: r)) ?? r)
        let dims = start < end ? Array(shape[start..<end]) : []
        return HostTensor(shape: [dims.count], ints: dims.map { Int64($0) })
    }

    static func binary(_ node: NodeView, _ a: HostTensor, _ b: HostTensor) throws -> HostTensor {
        guard let shape = ShapeRules.broadcast(a.shape, b.shape) else {
            throw node.malformed("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        let n = try HostTensor.elementCount(shape, node.where_())
        let rank = shape.count
        func index(_ s: [Int]) -> [Int] {
            let padded = [Int](repeating: 1, count: rank - s.count) + s
            let st = HostTensor.strides(padded)
            let outSt = HostTensor.strides(shape)
            return (0..<n).map { o in
                var off = 0
                for d in 0..<rank where padded[d] != 1 { off += ((o / outSt[d]) % shape[d]) * st[d] }
                return off
            }
        }
        let ia = index(a.shape), ib = index(b.shape)
        if let x = a.ints, let y = b.ints {
            var out = [Int64](repeating: 0, count: n)
            for i in 0..<n {
                let p = x[ia[i]], q = y[ib[i]]
                switch node.op {
                case "Add": out[i] = p &+ q
                case "Sub": out[i] = p &- q
                case "Mul": out[i] = p &* q
                default:
                    if q == 0 { throw node.malformed("integer division by zero") }
                    if p == Int64.min && q == -1 { throw node.malformed("integer division overflows") }
                    out[i] = p / q  // C semantics (truncation), as ONNX Runtime computes it
                }
            }
            return HostTensor(shape: shape, ints: out)
        }
        let x = a.floats, y = b.floats
        var out = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let p = x[ia[i]], q = y[ib[i]]
            switch node.op {
            case "Add": out[i] = p + q
            case "Sub": out[i] = p - q
            case "Mul": out[i] = p * q
            default: out[i] = p / q
            }
        }
        return HostTensor(shape: shape, floats: out)
    }

    static func gather(_ node: NodeView, _ data: HostTensor, _ indices: [Int64], indicesShape: [Int]) throws -> HostTensor {
        let r = data.shape.count
        if r == 0 { throw node.malformed("data is a scalar") }
        let axis = try ShapeRules.axis(try node.int("axis", default: 0), rank: r, node)
        let dim = data.shape[axis]
        let outShape = Array(data.shape[..<axis]) + indicesShape + Array(data.shape[(axis + 1)...])
        _ = try HostTensor.elementCount(outShape, node.where_())
        let outer = data.shape[..<axis].reduce(1, *), inner = data.shape[(axis + 1)...].reduce(1, *)
        var picks: [Int] = []
        for o in 0..<outer {
            for raw in indices {
                let i = raw < 0 ? raw + Int64(dim) : raw
                if i < 0 || i >= Int64(dim) { throw node.malformed("index \(raw) out of range for axis \(axis) of size \(dim)") }
                for k in 0..<inner { picks.append((o * dim + Int(i)) * inner + k) }
            }
        }
        return data.picking(picks, shape: outShape)
    }

    /// Slice's starts, ends, axes and steps: attributes before opset 10, inputs 1–4 (known at convert time) from it on.
    static func sliceArguments(_ node: NodeView, _ inputs: [HostTensor?], opset: Int) throws
        -> (starts: [Int64], ends: [Int64], axes: [Int64]?, steps: [Int64]?) {
        if opset < 10 {
            return ((try node.ints("starts") ?? []).map { Int64($0) }, (try node.ints("ends") ?? []).map { Int64($0) },
                    try node.ints("axes").map { $0.map { Int64($0) } }, nil)
        }
        func ints(_ k: Int, _ what: String) throws -> [Int64]? {
            guard k < inputs.count, let t = inputs[k] else { return nil }
            guard let v = t.ints else { throw node.unsupported("\(what) must be integers") }
            return v
        }
        guard let s = try ints(1, "starts"), let e = try ints(2, "ends") else { throw node.malformed("missing starts/ends") }
        return (s, e, try ints(3, "axes"), try ints(4, "steps"))
    }

    static func slice(_ node: NodeView, _ inputs: [HostTensor?], opset: Int) throws -> HostTensor {
        guard let data = inputs.first ?? nil else { throw node.malformed("missing data input") }
        let r = data.shape.count
        let (begin, step, count) = try ShapeRules.slice(data.shape, try sliceArguments(node, inputs, opset: opset), node)
        let total = try HostTensor.elementCount(count, node.where_())
        let inStrides = HostTensor.strides(data.shape)
        var picks = [Int](repeating: 0, count: total)
        var coord = [Int](repeating: 0, count: r)
        for o in 0..<total {
            var off = 0
            for d in 0..<r { off += (begin[d] + coord[d] * step[d]) * inStrides[d] }
            picks[o] = off
            var d = r - 1
            while d >= 0 {
                coord[d] += 1
                if coord[d] < count[d] { break }
                coord[d] = 0
                d -= 1
            }
        }
        return data.picking(picks, shape: count)
    }

    static func concat(_ node: NodeView, _ parts: [HostTensor]) throws -> HostTensor {
        let (shape, axis) = try ShapeRules.concat(parts.map { $0.shape }, axis: try node.int("axis", default: 0), node)
        let outer = shape[..<axis].reduce(1, *)
        let allInt = parts.allSatisfy { !$0.isFloat }
        var ints: [Int64] = [], floats: [Float] = []
        let intParts = parts.map { $0.ints ?? [] }, floatParts = allInt ? [] : parts.map { $0.floats }
        for o in 0..<outer {
            for (k, p) in parts.enumerated() {
                let chunk = p.shape[axis...].reduce(1, *)
                if allInt { ints.append(contentsOf: intParts[k][(o * chunk)..<((o + 1) * chunk)]) }
                else { floats.append(contentsOf: floatParts[k][(o * chunk)..<((o + 1) * chunk)]) }
            }
        }
        return allInt ? HostTensor(shape: shape, ints: ints) : HostTensor(shape: shape, floats: floats)
    }
}
