import Foundation

/// One ONNX node as the importer reads it: attribute access with defaults and error messages that
/// name the node, its op type and the attribute ("node 'conv_3' (Conv): …").
struct NodeView {
    let proto: Onnx_NodeProto
    /// The node's name, or "<OpType>_<index>" when the file leaves it empty.
    let name: String
    let index: Int

    init(_ proto: Onnx_NodeProto, index: Int) {
        self.proto = proto
        self.index = index
        self.name = proto.name.isEmpty ? "\(proto.opType)_\(index)" : proto.name
    }

    var op: String { proto.opType }
    var inputs: [String] { proto.input }
    var outputs: [String] { proto.output }

    func where_() -> String { "node '\(name)' (\(op))" }

    func unsupported(_ what: String) -> ConvertError { .unsupported("\(where_()): \(what)") }
    func malformed(_ what: String) -> ConvertError { .malformed("\(where_()): \(what)") }

    func attribute(_ key: String) -> Onnx_AttributeProto? {
        for a in proto.attribute where a.name == key { return a }
        return nil
    }

    func has(_ key: String) -> Bool { attribute(key) != nil }

    func int(_ key: String, default d: Int) throws -> Int {
        guard let a = attribute(key) else { return d }
        if a.type == .ints || (!a.ints.isEmpty && a.type != .int) {
            throw malformed("attribute \(key) should be a single integer, found a list \(a.ints)")
        }
        return Int(a.i)
    }

    func ints(_ key: String) throws -> [Int]? {
        guard let a = attribute(key) else { return nil }
        if a.type == .int { return [Int(a.i)] }
        return a.ints.map { Int($0) }
    }

    func float(_ key: String, default d: Float) throws -> Float {
        guard let a = attribute(key) else { return d }
        if a.type == .int { return Float(a.i) }
        return a.f
    }

    func floats(_ key: String) -> [Float]? {
        guard let a = attribute(key) else { return nil }
        if a.type == .float { return [a.f] }
        return a.floats
    }

    func string(_ key: String, default d: String) -> String {
        guard let a = attribute(key) else { return d }
        return String(decoding: a.s, as: UTF8.self)
    }

    /// Input `k` if present and not the empty name (ONNX's marker for an omitted optional input).
    func input(_ k: Int) -> String? {
        if k >= proto.input.count || proto.input[k].isEmpty { return nil }
        return proto.input[k]
    }

    /// Fails unless the node has `range` input positions and uses no output past the first `outputs`
    /// (`consumed`: the names some node or the graph reads).
    func requireArity(inputs range: ClosedRange<Int>, outputs: Int = 1, consumed: Set<String>) throws {
        if !range.contains(proto.input.count) {
            throw malformed("has \(proto.input.count) inputs, expected \(range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound)...\(range.upperBound)")")
        }
        if proto.output.isEmpty || proto.output[0].isEmpty { throw malformed("has no output") }
        for k in outputs..<max(outputs, proto.output.count) where consumed.contains(proto.output[k]) {
            throw unsupported("output \(k) '\(proto.output[k])' is not supported; only the first \(outputs) output(s) of \(op) can be used")
        }
    }
}
