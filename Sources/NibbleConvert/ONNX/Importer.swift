import Foundation
import NibbleFormat
import SwiftProtobuf

/// An fp32 Nibble graph and the bytes of its constants (`constantData[i]` for tensor `i`), ready for
/// `Writer.serialize`.
public struct ImportedModel {
    public var graph: Graph
    public var constantData: [[UInt8]]
}

/// ONNX → Nibble graph: weights from initializers and Constant nodes, static shapes with batch 1,
/// shape subgraphs folded, BatchNorm folded into the preceding Conv/Gemm, Relu/Clip fused into
/// Conv/FullyConnected, Mul(x, Sigmoid(x)) fused into Swish, dead code removed. Every unsupported construct is a `ConvertError` naming the node.
public enum ONNXImporter {
    public static let supportedOperators = [
        "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv",
        "Div", "Dropout", "Flatten", "Gather (constant data)", "Gemm", "GlobalAveragePool", "HardSigmoid", "HardSwish",
        "Identity", "LeakyRelu", "MatMul", "MaxPool", "Mul", "Pad (zero, into Conv)", "ReduceMean (spatial axes)", "Relu", "Reshape",
        "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze", "QuantizeLinear",
        "DequantizeLinear",
    ]

    public static func importModel(onnxBytes: [UInt8]) throws -> ImportedModel {
        let result = try importGraph(try decode(onnxBytes))
        let data = result.graph.tensors.indices.map { result.constants[$0]?.float32Bytes ?? [] }
        return ImportedModel(graph: result.graph, constantData: data)
    }

    /// Parses ONNX protobuf bytes.
    static func decode(_ bytes: [UInt8]) throws -> Onnx_ModelProto {
        if bytes.isEmpty { throw ConvertError.malformed("ONNX model: the input is empty (0 bytes)") }
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: bytes)
        } catch {
            throw ConvertError.malformed("ONNX model: not a valid ONNX protobuf (\(bytes.count) bytes; the file is truncated, corrupt or not an .onnx file): \(error)")
        }
        if !model.hasGraph || model.graph.node.isEmpty {
            throw ConvertError.malformed("ONNX model: no graph or no nodes in \(bytes.count) bytes (truncated, or not an .onnx file)")
        }
        return model
    }

    struct Result {
        var graph: Graph
        /// Float data of the constant tensors, by tensor index.
        var constants: [Int: HostTensor]
        /// Conv/FullyConnected nodes (by name) the ONNX model quantized itself (QDQ); `QDQRecipe` makes them int8.
        var prequantized: [String: QDQLayer] = [:]
    }

    static func importGraph(_ model: Onnx_ModelProto) throws -> Result {
        var opset: Int? = nil
        for o in model.opsetImport where o.domain.isEmpty || o.domain == "ai.onnx" { opset = Int(o.version) }
        guard let opset else {
            throw ConvertError.unsupported("ONNX model: no opset for the default domain (ai.onnx); found \(model.opsetImport.map { "\($0.domain):\($0.version)" })")
        }
        if opset < 7 || opset > 23 {
            throw ConvertError.unsupported("ONNX model: opset \(opset) is not supported; supported: 7...23")
        }
        let g = model.graph
        var uses: [String: Int] = [:]
        for n in g.node { for i in n.input where !i.isEmpty { uses[i, default: 0] += 1 } }
        for o in g.output { uses[o.name, default: 0] += 1 }
        let b = GraphBuilder(opset: opset, uses: uses, graphOutputs: Set(g.output.map { $0.name }))

        for (k, t) in g.initializer.enumerated() {
            if t.name.isEmpty { throw ConvertError.malformed("ONNX model: initializer \(k) has no name") }
            b.bind(t.name, .constant(try HostTensor(proto: t, context: "initializer '\(t.name)'")))
        }
        var inputs: [Int] = []
        for vi in g.input where b.values[vi.name] == nil {
            let t = b.addTensor(name: vi.name, shape: try inputShape(vi), role: .input)
            b.bind(vi.name, .tensor(t))
            inputs.append(t)
        }
        if inputs.isEmpty { throw ConvertError.unsupported("ONNX model: the graph has no inputs besides initializers") }

        for (i, proto) in g.node.enumerated() {
            let node = NodeView(proto, index: i)
            if !(proto.domain.isEmpty || proto.domain == "ai.onnx") {
                throw node.unsupported("operator domain '\(proto.domain)' is not supported; supported: the default ONNX domain")
            }
            try lower(node, b)
            for o in proto.output where !o.isEmpty && b.values[o] == nil && b.uses[o] != nil {
                throw node.malformed("output '\(o)' was not produced")
            }
        }

        var outputs: [Int] = []
        for o in g.output {
            switch b.values[o.name] {
            case _ where b.pendingPads[o.name] != nil:
                throw ConvertError.unsupported("ONNX model: graph output '\(o.name)' is the output of Pad '\(b.pendingPads[o.name]!.node)'; a zero Pad is only supported when a Conv (or a MaxPool of a non-negative tensor) reads it")
            case _ where b.pendingQuantizations[o.name] != nil:
                throw ConvertError.unsupported("ONNX model: graph output '\(o.name)' is the integer output of QuantizeLinear '\(b.pendingQuantizations[o.name]!.node)'; outputs must be float32 (end the graph with a DequantizeLinear)")
            case nil:
                throw ConvertError.malformed("ONNX model: graph output '\(o.name)' is not produced by any node")
            case .constant?:
                throw ConvertError.unsupported("ONNX model: graph output '\(o.name)' does not depend on the input (it folds to a constant); such outputs are not supported")
            case .tensor(let t)?:
                outputs.append(t)
            }
        }
        if outputs.isEmpty { throw ConvertError.malformed("ONNX model: the graph has no outputs") }
        let graph = Graph(tensors: b.tensors, nodes: b.nodes, inputs: inputs, outputs: outputs,
                          metadata: [("producer", "nibble convert"),
                                     ("source", "ONNX opset \(opset), producer '\(model.producerName)' \(model.producerVersion)")])
        return DeadCodeElimination.run(Result(graph: graph, constants: b.constants, prequantized: b.prequantized))
    }

    /// A graph input's shape with dim 0 (the batch) set to 1; other symbolic dims are an error.
    static func inputShape(_ vi: Onnx_ValueInfoProto) throws -> [Int] {
        guard case .tensorType(let tt)? = vi.type.value else {
            throw ConvertError.unsupported("graph input '\(vi.name)': only tensor inputs are supported")
        }
        if tt.elemType != 1 {
            throw ConvertError.unsupported("graph input '\(vi.name)': element type \(HostTensor.dataTypeName(tt.elemType)) is not supported; supported: float32")
        }
        if !tt.hasShape { throw ConvertError.unsupported("graph input '\(vi.name)': no shape; a static shape (batch dim excepted) is required") }
        let dims = tt.shape.dim
        if dims.isEmpty { throw ConvertError.unsupported("graph input '\(vi.name)': rank 0; inputs need a batch dimension first") }
        if dims.count > Layout.maxRank { throw ConvertError.unsupported("graph input '\(vi.name)': rank \(dims.count) exceeds \(Layout.maxRank)") }
        var shape = [1]
        for (k, d) in dims.enumerated().dropFirst() {
            switch d.value {
            case .dimValue(let v)? where v >= 1 && v <= Int64(Int32.max):
                shape.append(Int(v))
            case .dimParam(let p)?:
                throw ConvertError.unsupported("graph input '\(vi.name)': dimension \(k) is symbolic ('\(p)'); only dimension 0 (the batch) may be symbolic — export with a fixed shape")
            default:
                throw ConvertError.unsupported("graph input '\(vi.name)': dimension \(k) is unknown or \(d.dimValue); only dimension 0 (the batch) may be unknown")
            }
        }
        _ = try HostTensor.elementCount(shape, "graph input '\(vi.name)'")
        return shape
    }

    /// Lowers one node: folds it when its inputs are known, otherwise emits Nibble nodes.
    static func lower(_ n: NodeView, _ b: GraphBuilder) throws {
        if n.op == "Constant" { return try lowerConstant(n, b) }
        try rejectQuantizedInputs(n, b)
        try rejectPendingPads(n, b)
        var known: [HostTensor?] = []
        var allKnown = true
        for k in n.inputs.indices {
            switch try b.value(n, k) {
            case nil: known.append(nil)
            case .constant(let h)?: known.append(h)
            case .tensor?: allKnown = false
            }
        }
        if allKnown && !n.inputs.isEmpty && ConstantFolder.foldable.contains(n.op) {
            guard let out = n.outputs.first, !out.isEmpty else { throw n.malformed("has no output") }
            b.bind(out, .constant(try ConstantFolder.evaluate(n, known, opset: b.opset)))
            return
        }
        switch n.op {
        case "Conv": try lowerConv(n, b)
        case "Pad": try lowerPad(n, b)
        case "BatchNormalization": try lowerBatchNorm(n, b)
        case "MaxPool", "AveragePool": try lowerPool(n, b)
        case "GlobalAveragePool": try lowerGlobalAveragePool(n, b)
        case "Gemm": try lowerGemm(n, b)
        case "MatMul": try lowerMatMul(n, b)
        case "Add", "Sub", "Mul", "Div": try lowerBinary(n, b)
        case "Relu", "Sigmoid", "HardSwish", "HardSigmoid", "LeakyRelu", "Tanh": try lowerActivation(n, b)
        case "Clip": try lowerClip(n, b)
        case "Softmax": try lowerSoftmax(n, b)
        case "Reshape", "Flatten", "Squeeze", "Unsqueeze": try lowerReshape(n, b)
        case "Concat": try lowerConcat(n, b)
        case "Transpose": try lowerTranspose(n, b)
        case "Slice": try lowerSlice(n, b)
        case "Split": try lowerSplit(n, b)
        case "ReduceMean": try lowerReduceMean(n, b)
        case "Identity", "Dropout", "Cast": try lowerIdentity(n, b)
        case "Shape": try lowerShape(n, b)
        case "QuantizeLinear": try lowerQuantizeLinear(n, b)
        case "DequantizeLinear": try lowerDequantizeLinear(n, b)
        case "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear":
            throw n.unsupported("integer operators (the QOperator format) are not supported; quantize in the QDQ format (QuantizeLinear/DequantizeLinear around float operators, e.g. onnxruntime quantize_static with quant_format=QuantFormat.QDQ)")
        default:
            if ConstantFolder.foldable.contains(n.op) {
                throw n.unsupported("this operator is only supported on data known at convert time (shape computations), but input '\(n.inputs.first ?? "")' is computed at run time")
            }
            throw n.unsupported("operator not supported; supported: \(supportedOperators.joined(separator: ", "))")
        }
    }
}
