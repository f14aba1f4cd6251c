/// A tensor whose values are known at convert time: weights, biases and folded shape computations.
/// Float data is what the `.nib` stores; integer data (int64/int32 sources) only feeds shape computations.
struct HostTensor: Equatable {
    enum Storage: Equatable {
        case float([Float])
        case int([Int64])
    }

    var shape: [Int]
    var storage: Storage
    /// The ONNX `TensorProto.DataType` the values were decoded from (nil when computed here); QDQ import reads
    /// it to know a quantized tensor's integer type (uint8, int8, int4, …).
    var sourceType: Int32? = nil

    /// Upper bound on the elements of any tensor the converter builds (keeps hostile files from
    /// asking for absurd allocations).
    static let maxElements = 1 << 31

    init(shape: [Int], floats: [Float]) { self.shape = shape; self.storage = .float(floats) }
    init(shape: [Int], ints: [Int64]) { self.shape = shape; self.storage = .int(ints) }

    var count: Int {
        switch storage {
        case .float(let v): return v.count
        case .int(let v): return v.count
        }
    }

    var isFloat: Bool { if case .float = storage { return true } else { return false } }

    var dtypeName: String { isFloat ? "float32" : "int64" }

    /// Values as floats (integers converted).
    var floats: [Float] {
        switch storage {
        case .float(let v): return v
        case .int(let v): return v.map { Float($0) }
        }
    }

    /// Values as integers; nil for float data (shape computations must be integer).
    var ints: [Int64]? {
        if case .int(let v) = storage { return v }
        return nil
    }

    /// Element count of `shape`, overflow- and bound-checked; `context` names the tensor for the message.
    static func elementCount(_ shape: [Int], _ context: String) throws -> Int {
        var n = 1
        for d in shape {
            if d < 0 { throw ConvertError.malformed("\(context): negative dimension in shape \(shape)") }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            if o || p > maxElements { throw ConvertError.unsupported("\(context): shape \(shape) has more than \(maxElements) elements") }
            n = p
        }
        return n
    }

    /// Row-major strides of `shape`.
    static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) { s[d] = acc; acc *= shape[d] }
        return s
    }

    /// Little-endian float32 bytes, as the `.nib` weights section stores them.
    var float32Bytes: [UInt8] {
        let v = floats
        var out = [UInt8](repeating: 0, count: v.count * 4)
        out.withUnsafeMutableBytes { raw in
            for (i, f) in v.enumerated() { raw.storeBytes(of: f.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self) }
        }
        return out
    }

    /// Same values, new element type (Cast).
    func converted(toFloat: Bool) -> HostTensor {
        if toFloat { return HostTensor(shape: shape, floats: floats) }
        switch storage {
        case .int: return self
        case .float(let v):
            return HostTensor(shape: shape, ints: v.map { f in
                f.isNaN ? 0 : (f >= 9.2e18 ? Int64.max : (f <= -9.2e18 ? Int64.min : Int64(f.rounded(.towardZero))))
            })
        }
    }

    /// Gathers elements at `indices` (flat, row-major) into a tensor of `shape`, keeping the storage kind.
    func picking(_ indices: [Int], shape: [Int]) -> HostTensor {
        switch storage {
        case .float(let v): return HostTensor(shape: shape, floats: indices.map { v[$0] })
        case .int(let v): return HostTensor(shape: shape, ints: indices.map { v[$0] })
        }
    }

    /// Permutes dimensions (`perm` already validated).
    func transposed(_ perm: [Int]) -> HostTensor {
        let outShape = perm.map { shape[$0] }
        let inStrides = HostTensor.strides(shape)
        let n = count
        var idx = [Int](repeating: 0, count: n)
        let rank = outShape.count
        var coord = [Int](repeating: 0, count: rank)
        for o in 0..<n {
            var off = 0
            for d in 0..<rank { off += coord[d] * inStrides[perm[d]] }
            idx[o] = off
            var d = rank - 1
            while d >= 0 {
                coord[d] += 1
                if coord[d] < outShape[d] { break }
                coord[d] = 0
                d -= 1
            }
        }
        return picking(idx, shape: outShape)
    }
}
