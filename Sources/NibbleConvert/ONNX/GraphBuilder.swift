import NibbleFormat

/// What an ONNX value name stands for while importing: data known at convert time, or a graph tensor.
enum ImportedValue {
    case constant(HostTensor)
    case tensor(Int)
}

/// The Nibble graph under construction plus the bookkeeping the importer's fusions need:
/// who produces each tensor, how many readers each ONNX name has, which names alias a tensor.
final class GraphBuilder {
    let opset: Int
    var tensors: [TensorDesc] = []
    var nodes: [Node] = []
    /// Float data of every constant tensor, by tensor index (serialized at the end).
    var constants: [Int: HostTensor] = [:]
    var values: [String: ImportedValue] = [:]
    /// Tensor index → index of the node that writes it.
    var producer: [Int: Int] = [:]
    /// ONNX name → number of node inputs (and graph outputs) that read it and are not yet absorbed by a fusion.
    var uses: [String: Int] = [:]
    /// Tensor index → every ONNX name bound to it.
    var aliases: [Int: [String]] = [:]
    /// ONNX constant name → its materialized constant tensor (shared by all readers).
    var materialized: [String: Int] = [:]
    var usedNames: Set<String> = []
    let graphOutputs: Set<String>
    /// QDQ import (Importer+QDQ.swift), by ONNX name: integer outputs of QuantizeLinear on run-time tensors,
    /// dequantized constants, activation quantizations of DequantizeLinear outputs; and by node name the
    /// Conv/FullyConnected nodes whose weights the model quantized.
    var pendingQuantizations: [String: PendingQuantization] = [:]
    var dequantizedWeights: [String: DequantizedWeight] = [:]
    var activationQuantizations: [String: ActivationQuantization] = [:]
    var prequantized: [String: QDQLayer] = [:]
    /// Zero Pads not emitted, by ONNX output name; Conv/MaxPool readers fold them into their pads (Importer+Pad.swift).
    var pendingPads: [String: PendingPad] = [:]

    init(opset: Int, uses: [String: Int], graphOutputs: Set<String>) {
        self.opset = opset; self.uses = uses; self.graphOutputs = graphOutputs
    }

    /// Names read by some node or the graph outputs (outputs not in here may be dropped).
    var consumed: Set<String> { Set(uses.keys) }

    func uniqueName(_ base: String) -> String {
        if !usedNames.contains(base) { return base }
        var i = 1
        while usedNames.contains("\(base)_\(i)") { i += 1 }
        return "\(base)_\(i)"
    }

    func addTensor(name: String, shape: [Int], role: TensorRole, dtype: DType = .float32) -> Int {
        let n = uniqueName(name)
        usedNames.insert(n)
        tensors.append(TensorDesc(name: n, dtype: dtype, shape: shape, role: role))
        return tensors.count - 1
    }

    /// A float32 constant tensor holding `value`; `context` names its user for error messages.
    func addConstant(name: String, _ value: HostTensor, context: String) throws -> Int {
        if !value.isFloat {
            throw ConvertError.unsupported("\(context): integer constant '\(name)' \(value.shape) is read by a runtime operator; only float32 data is supported at run time (integer tensors may only feed shape computations)")
        }
        if value.shape.contains(0) {
            throw ConvertError.unsupported("\(context): constant '\(name)' has an empty shape \(value.shape); zero-size tensors are not supported")
        }
        if value.shape.count > Layout.maxRank {
            throw ConvertError.unsupported("\(context): constant '\(name)' has rank \(value.shape.count); at most \(Layout.maxRank) is supported")
        }
        let t = addTensor(name: name, shape: value.shape, role: .constant)
        constants[t] = value
        return t
    }

    /// Appends a node writing a new intermediate tensor named `output`; returns that tensor.
    @discardableResult
    func addNode(_ view: NodeView, name: String? = nil, op: OpType, inputs: [Int], output: String, shape: [Int],
                 attributes: [Attribute] = []) throws -> Int {
        if shape.contains(where: { $0 < 1 }) {
            throw view.unsupported("output shape \(shape) has an empty dimension; zero-size tensors are not supported")
        }
        if shape.count > Layout.maxRank {
            throw view.unsupported("output shape \(shape) has rank \(shape.count); at most \(Layout.maxRank) is supported")
        }
        _ = try HostTensor.elementCount(shape, view.where_())
        let t = addTensor(name: output, shape: shape, role: .intermediate)
        nodes.append(Node(name: name ?? view.name, op: op, precision: .float32, inputs: inputs, outputs: [t], attributes: attributes))
        producer[t] = nodes.count - 1
        return t
    }

    func bind(_ name: String, _ v: ImportedValue) {
        values[name] = v
        if case .tensor(let t) = v { aliases[t, default: []].append(name) }
    }

    /// Binds `name` to the existing tensor `t` (Identity, a fused BatchNorm/activation/bias). The reader
    /// that did the fusing no longer reads `absorbing`. The tensor takes the newer name, so graph
    /// outputs keep their ONNX names.
    func alias(_ name: String, to t: Int, absorbing: String?) {
        if let a = absorbing, let u = uses[a] { uses[a] = u - 1 }
        bind(name, .tensor(t))
        if tensors[t].role == .intermediate && !usedNames.contains(name)
            && !(aliases[t] ?? []).contains(where: { $0 != name && graphOutputs.contains($0) }) {
            tensors[t].name = name
            usedNames.insert(name)
        }
    }

    func value(_ node: NodeView, _ k: Int) throws -> ImportedValue? {
        guard let name = node.input(k) else { return nil }
        guard let v = values[name] else {
            throw node.malformed("input \(k) '\(name)' is not produced by any earlier node, initializer or graph input (nodes must be topologically sorted)")
        }
        return v
    }

    func shape(_ v: ImportedValue) -> [Int] {
        switch v {
        case .constant(let h): return h.shape
        case .tensor(let t): return tensors[t].shape
        }
    }

    /// Input `k` as a graph tensor (constants are materialized once per ONNX name).
    func tensorInput(_ node: NodeView, _ k: Int, _ what: String) throws -> Int {
        guard let v = try value(node, k) else { throw node.malformed("required input \(k) (\(what)) is missing") }
        switch v {
        case .tensor(let t): return t
        case .constant(let h):
            let name = node.inputs[k]
            if let t = materialized[name] { return t }
            let t = try addConstant(name: name, h, context: node.where_())
            materialized[name] = t
            return t
        }
    }

    /// Input `k` if it is known at convert time; nil when omitted; throws when it is computed at run time.
    func constantInput(_ node: NodeView, _ k: Int, _ what: String) throws -> HostTensor? {
        guard let v = try value(node, k) else { return nil }
        guard case .constant(let h) = v else {
            throw node.unsupported("\(what) (input \(k) '\(node.inputs[k])') must be known at convert time (an initializer, a Constant node or a foldable shape computation); it is computed at run time")
        }
        return h
    }

    /// The node index that writes `name`'s tensor when that tensor has no other reader and is no graph
    /// output, so the caller may rewrite the producer (fuse into it).
    func soleProducer(of name: String) -> Int? {
        guard case .tensor(let t)? = values[name], tensors[t].role == .intermediate, let p = producer[t] else { return nil }
        let names = aliases[t] ?? []
        if names.contains(where: { graphOutputs.contains($0) }) { return nil }
        let readers = names.reduce(0) { $0 + (uses[$1] ?? 0) }
        return readers == 1 ? p : nil
    }
}
