import Foundation
@testable import NibbleConvert

/// Builds small ONNX models in memory for importer tests (the generated protobuf types are internal).
struct ONNXBuilder {
    var opset: Int64 = 13
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    var inputs: [Onnx_ValueInfoProto] = []
    var outputs: [String] = []

    /// `dims`: Int for a fixed dimension, String for a symbolic one.
    mutating func input(_ name: String, _ dims: [Any]) {
        var vi = Onnx_ValueInfoProto()
        vi.name = name
        var tt = Onnx_TypeProto.Tensor()
        tt.elemType = 1
        var shape = Onnx_TensorShapeProto()
        for d in dims {
            var dim = Onnx_TensorShapeProto.Dimension()
            if let v = d as? Int { dim.dimValue = Int64(v) } else { dim.dimParam = "\(d)" }
            shape.dim.append(dim)
        }
        tt.shape = shape
        vi.type.tensorType = tt
        inputs.append(vi)
    }

    static func tensor(_ name: String, _ shape: [Int], floats: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = shape.map { Int64($0) }
        t.dataType = 1
        t.floatData = floats
        return t
    }

    static func tensor(_ name: String, _ shape: [Int], ints: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = shape.map { Int64($0) }
        t.dataType = 7
        var raw = Data()
        for v in ints { withUnsafeBytes(of: v.littleEndian) { raw.append(contentsOf: $0) } }
        t.rawData = raw
        return t
    }

    mutating func initializer(_ name: String, _ shape: [Int], _ floats: [Float]) {
        initializers.append(ONNXBuilder.tensor(name, shape, floats: floats))
    }

    mutating func initializer(_ name: String, _ shape: [Int], ints: [Int64]) {
        initializers.append(ONNXBuilder.tensor(name, shape, ints: ints))
    }

    enum Value {
        case int(Int64), ints([Int64]), float(Float), floats([Float]), string(String), tensor(Onnx_TensorProto)
    }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String? = nil, _ attrs: [String: Value] = [:]) {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name ?? "\(op.lowercased())_\(nodes.count)"
        n.input = inputs
        n.output = outputs
        for (k, v) in attrs.sorted(by: { $0.key < $1.key }) {
            var a = Onnx_AttributeProto()
            a.name = k
            switch v {
            case .int(let i): a.type = .int; a.i = i
            case .ints(let i): a.type = .ints; a.ints = i
            case .float(let f): a.type = .float; a.f = f
            case .floats(let f): a.type = .floats; a.floats = f
            case .string(let s): a.type = .string; a.s = Data(s.utf8)
            case .tensor(let t): a.type = .tensor; a.t = t
            }
            n.attribute.append(a)
        }
        nodes.append(n)
    }

    func bytes() throws -> [UInt8] {
        var g = Onnx_GraphProto()
        g.name = "test"
        g.node = nodes
        g.initializer = initializers
        g.input = inputs
        for o in outputs {
            var vi = Onnx_ValueInfoProto()
            vi.name = o
            g.output.append(vi)
        }
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var op = Onnx_OperatorSetIdProto()
        op.version = opset
        m.opsetImport = [op]
        m.graph = g
        return try m.serializedBytes()
    }
}
