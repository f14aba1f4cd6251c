import Foundation

/// ONNX TensorProto → HostTensor (onnx.proto `TensorProto`): raw_data (little-endian) or the typed
/// fields, every length checked against the dims.
extension HostTensor {
    /// ONNX `TensorProto.DataType` codes the converter reads.
    enum ONNXType: Int32 {
        case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, bool = 9, double = 11
        /// Opset 21's 4-bit types: packed two per byte, element 2i in the low nibble (onnx.proto, TensorProto).
        case uint4 = 21, int4 = 22

        var byteSize: Int {
            switch self {
            case .uint8, .int8, .bool, .uint4, .int4: return 1
            case .int16, .uint16: return 2
            case .float, .int32: return 4
            case .int64, .double: return 8
            }
        }

        var isPacked4Bit: Bool { self == .uint4 || self == .int4 }

        /// Bytes holding `n` elements (4-bit types: ceil(n/2)).
        func storageBytes(_ n: Int) -> Int { isPacked4Bit ? (n + 1) / 2 : n * byteSize }

        /// The 4-bit element at `i` of packed bytes, sign-extended for int4.
        func nibble(_ byte: UInt8, _ i: Int) -> Int64 {
            let v = i & 1 == 0 ? byte & 0x0F : byte >> 4
            return self == .int4 ? Int64(Int8(bitPattern: v << 4) >> 4) : Int64(v)
        }
    }

    static func dataTypeName(_ code: Int32) -> String {
        let names: [Int32: String] = [0: "undefined", 1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32",
                                      7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32",
                                      13: "uint64", 14: "complex64", 15: "complex128", 16: "bfloat16", 17: "float8e4m3fn",
                                      18: "float8e4m3fnuz", 19: "float8e5m2", 20: "float8e5m2fnuz", 21: "uint4", 22: "int4"]
        return names[code] ?? "code \(code)"
    }

    /// `context` names the tensor and where it came from, e.g. "initializer 'w0'".
    init(proto t: Onnx_TensorProto, context: String) throws {
        if t.dataLocation == .external {
            throw ConvertError.unsupported("\(context): weights in external data files are not supported; save the model with all tensors inside the .onnx file")
        }
        guard let type = ONNXType(rawValue: t.dataType) else {
            throw ConvertError.unsupported("\(context): data type \(HostTensor.dataTypeName(t.dataType)) is not supported; supported: float32, float64, int64, int32, int16, uint16, int8, uint8, int4, uint4, bool")
        }
        var shape: [Int] = []
        for d in t.dims {
            if d < 0 || d > Int64(Int32.max) { throw ConvertError.malformed("\(context): dimension \(d) in dims \(t.dims) is out of range") }
            shape.append(Int(d))
        }
        let n = try HostTensor.elementCount(shape, context)
        let raw = t.rawData
        if !raw.isEmpty {
            if raw.count != type.storageBytes(n) {
                throw ConvertError.malformed("\(context): raw_data has \(raw.count) bytes but dims \(shape) of \(HostTensor.dataTypeName(t.dataType)) need \(type.storageBytes(n))\(type.isPacked4Bit ? " (two 4-bit values per byte)" : "")")
            }
            self = raw.withUnsafeBytes { (b: UnsafeRawBufferPointer) -> HostTensor in
                switch type {
                case .uint4, .int4:
                    return HostTensor(shape: shape, ints: (0..<n).map { type.nibble(b[$0 / 2], $0) })
                case .uint16:
                    return HostTensor(shape: shape, ints: (0..<n).map { Int64(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))) })
                case .float:
                    return HostTensor(shape: shape, floats: (0..<n).map { Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) })
                case .double:
                    return HostTensor(shape: shape, floats: (0..<n).map { Float(Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))) })
                case .int64:
                    return HostTensor(shape: shape, ints: (0..<n).map { Int64(littleEndian: b.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) })
                case .int32:
                    return HostTensor(shape: shape, ints: (0..<n).map { Int64(Int32(littleEndian: b.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) })
                case .int16:
                    return HostTensor(shape: shape, ints: (0..<n).map { Int64(Int16(littleEndian: b.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self))) })
                case .int8:
                    return HostTensor(shape: shape, ints: (0..<n).map { Int64(Int8(bitPattern: b[$0])) })
                case .uint8, .bool:
                    return HostTensor(shape: shape, ints: (0..<n).map { Int64(b[$0]) })
                }
            }
            self.sourceType = t.dataType
            return
        }
        func check(_ have: Int, _ field: String) throws {
            if have != n {
                throw ConvertError.malformed("\(context): \(field) has \(have) values but dims \(shape) need \(n)")
            }
        }
        switch type {
        case .float:
            try check(t.floatData.count, "float_data")
            self = HostTensor(shape: shape, floats: t.floatData)
        case .double:
            try check(t.doubleData.count, "double_data")
            self = HostTensor(shape: shape, floats: t.doubleData.map { Float($0) })
        case .int64:
            try check(t.int64Data.count, "int64_data")
            self = HostTensor(shape: shape, ints: t.int64Data)
        case .uint4, .int4:
            // int32_data holds one packed byte (two elements) per entry, like raw_data.
            if t.int32Data.count != (n + 1) / 2 {
                throw ConvertError.malformed("\(context): int32_data has \(t.int32Data.count) entries but dims \(shape) of \(HostTensor.dataTypeName(t.dataType)) need \((n + 1) / 2) (two 4-bit values per entry)")
            }
            self = HostTensor(shape: shape, ints: (0..<n).map { type.nibble(UInt8(truncatingIfNeeded: t.int32Data[$0 / 2]), $0) })
        case .int32, .int16, .uint16, .int8, .uint8, .bool:
            try check(t.int32Data.count, "int32_data")
            self = HostTensor(shape: shape, ints: t.int32Data.map { Int64($0) })
        }
        self.sourceType = t.dataType
    }
}
