/// The model graph as stored in a `.nib` file (docs/FORMAT.md §4): tensors, nodes, attributes.
/// Pure data; the runtime checks op semantics and shapes when it builds a model from it.

/// Element type of a tensor. Raw values are the on-disk codes (append only).
public enum DType: UInt8, Sendable {
    case float32 = 1
    case int8 = 2
    case uint8 = 3
    case int32 = 4
    case int64 = 5
    /// Packed bit-planes: little-endian 64-bit words in the bit-serial kernels' `BitPlaneLayout` order
    /// (docs/FORMAT.md §4.5). Shape [planes, vectors, words per vector].
    case bits64 = 6

    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .int8, .uint8: return 1
        case .int64, .bits64: return 8
        }
    }

    public var name: String {
        switch self {
        case .float32: return "float32"
        case .int8: return "int8"
        case .uint8: return "uint8"
        case .int32: return "int32"
        case .int64: return "int64"
        case .bits64: return "bits64"
        }
    }
}

/// How a node computes: which kernel family runs it. Raw values are on-disk codes (append only);
/// code 5 is sparse (CSR, N:M); codes 6… are reserved for other low-bit families.
public enum Precision: UInt8, Sendable {
    case float32 = 1
    /// int8 weights (per-output-channel scale) × uint8 activations (per-tensor scale and zero point).
    case int8 = 2
    /// FGQ ternary residual edges W ≈ Σₑ αₑ·Tₑ (Tₑ ∈ {−1, 0, +1}, one α per group of input channels per
    /// output channel) × uint8 activations (docs/FORMAT.md §4.4).
    case ternary = 3
    /// `wKaM` bit-serial: K-bit weights packed as bit-planes (one float32 scale per output channel) ×
    /// M-bit activations quantized with one calibrated step (docs/FORMAT.md §4.5).
    case bitSerial = 4
    /// Sparse weights (CSR or N:M, fp32 or int8 values) run by the sparse GEMM kernels (docs/FORMAT.md §4.6).
    case sparse = 5

    public var name: String {
        switch self {
        case .float32: return "fp32"
        case .int8: return "int8"
        case .ternary: return "ternary"
        case .bitSerial: return "bit-serial"
        case .sparse: return "sparse"
        }
    }
}

/// What a tensor is to the graph. On-disk codes.
public enum TensorRole: UInt8, Sendable {
    /// Produced by a node, lives in the arena.
    case intermediate = 0
    /// Fed by the caller.
    case input = 1
    /// Read-only data stored in the weights section, used in place.
    case constant = 2
}

/// Operators. On-disk codes (append only). ONNX ops that only move metadata (Flatten, Squeeze,
/// Unsqueeze, Reshape) are all stored as `reshape` with the target shape resolved at convert time.
public enum OpType: UInt16, Sendable, CaseIterable {
    case conv = 1
    case fullyConnected = 2
    case add = 3
    case sub = 4
    case mul = 5
    case div = 6
    case relu = 7
    case clip = 8
    case sigmoid = 9
    case hardSigmoid = 10
    case hardSwish = 11
    case maxPool = 12
    case averagePool = 13
    case globalAveragePool = 14
    case softmax = 15
    case reshape = 16
    case concat = 17
    case transpose = 18
    case matMul = 19
    case slice = 20
    case leakyRelu = 21
    case tanh = 22
    /// x·sigmoid(x) (SiLU): the converter's fusion of ONNX Mul(x, Sigmoid(x)).
    case swish = 23

    public var name: String {
        switch self {
        case .conv: return "Conv"
        case .fullyConnected: return "FullyConnected"
        case .add: return "Add"
        case .sub: return "Sub"
        case .mul: return "Mul"
        case .div: return "Div"
        case .relu: return "Relu"
        case .clip: return "Clip"
        case .sigmoid: return "Sigmoid"
        case .hardSigmoid: return "HardSigmoid"
        case .hardSwish: return "HardSwish"
        case .maxPool: return "MaxPool"
        case .averagePool: return "AveragePool"
        case .globalAveragePool: return "GlobalAveragePool"
        case .softmax: return "Softmax"
        case .reshape: return "Reshape"
        case .concat: return "Concat"
        case .transpose: return "Transpose"
        case .matMul: return "MatMul"
        case .slice: return "Slice"
        case .leakyRelu: return "LeakyRelu"
        case .tanh: return "Tanh"
        case .swish: return "Swish"
        }
    }
}

/// Attribute keys. On-disk codes (append only); docs/FORMAT.md §4.3 lists which op reads which.
public enum AttributeKey: UInt16, Sendable {
    case kernelShape = 1      // ints [kH, kW]
    case strides = 2          // ints [sH, sW]
    case pads = 3             // ints [top, left, bottom, right]
    case dilations = 4        // ints [dH, dW]
    case group = 5            // ints [g]
    case axis = 6             // ints [a]
    case perm = 7             // ints, a permutation
    case alpha = 8            // floats [a]
    case beta = 9             // floats [b]
    case outputMin = 10       // floats [min]: fused or explicit clamp
    case outputMax = 11       // floats [max]
    case countIncludePad = 12 // ints [0|1]
    case inputScale = 13      // floats [s]: int8 activation quantization
    case inputZeroPoint = 14  // ints [zp]
    case ceilMode = 15        // ints [0|1]
    case groupSize = 16       // ints [G]: ternary, input channels per scale group (FORMAT.md §4.4)
    case edgeLevels = 17      // ints, one per residual edge: the level at which the edge turns on
    case weightBits = 18          // ints [K]: bit-serial weight bits (FORMAT.md §4.5)
    case weightEncoding = 19      // ints [e]: 0 bipolar, 1 unsigned, 2 two's complement
    case activationBits = 20      // ints [M]: bit-serial activation bits
    case activationEncoding = 21  // ints [e]: 0 bipolar, 1 unsigned
    case activationStep = 22      // floats [s]: activation quantization step
    case sparseFormat = 23        // ints [f]: 0 CSR, 1 N:M (FORMAT.md §4.6)
    case sparseNM = 24            // ints [N, M]: N:M sparsity, 1 ≤ N < M ≤ 4
    case outputGrid = 25          // floats [step, zero point, bits]: the source model's activation quantization of the output
    case starts = 26              // ints, one per dimension: Slice's first index
    case steps = 27               // ints, one per dimension: Slice's step (non-zero, may be negative)
    case outputActivation = 28    // ints [a]: an fp32/int8 Conv's fused activation after its clamp: 1 Swish, 2 HardSwish

    public var name: String {
        switch self {
        case .kernelShape: return "kernel_shape"
        case .strides: return "strides"
        case .pads: return "pads"
        case .dilations: return "dilations"
        case .group: return "group"
        case .axis: return "axis"
        case .perm: return "perm"
        case .alpha: return "alpha"
        case .beta: return "beta"
        case .outputMin: return "output_min"
        case .outputMax: return "output_max"
        case .countIncludePad: return "count_include_pad"
        case .inputScale: return "input_scale"
        case .inputZeroPoint: return "input_zero_point"
        case .ceilMode: return "ceil_mode"
        case .groupSize: return "group_size"
        case .edgeLevels: return "edge_levels"
        case .weightBits: return "weight_bits"
        case .weightEncoding: return "weight_encoding"
        case .activationBits: return "activation_bits"
        case .activationEncoding: return "activation_encoding"
        case .activationStep: return "activation_step"
        case .sparseFormat: return "sparse_format"
        case .sparseNM: return "sparse_nm"
        case .outputGrid: return "output_grid"
        case .starts: return "starts"
        case .steps: return "steps"
        case .outputActivation: return "output_activation"
        }
    }
}

/// One attribute: integers or floats (exactly one of the two is non-empty on disk, or both empty).
public struct Attribute: Sendable, Equatable {
    public var key: AttributeKey
    public var ints: [Int64]
    public var floats: [Float]

    public init(_ key: AttributeKey, ints: [Int64]) {
        self.key = key; self.ints = ints; self.floats = []
    }

    public init(_ key: AttributeKey, floats: [Float]) {
        self.key = key; self.ints = []; self.floats = floats
    }
}

/// A tensor of the graph. Shapes are concrete (batch 1); the runtime loops over larger batches.
public struct TensorDesc: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var role: TensorRole
    /// For constants: byte range inside the weights section (offset is 64-byte aligned).
    public var dataOffset: Int
    public var dataSize: Int

    public init(name: String, dtype: DType, shape: [Int], role: TensorRole, dataOffset: Int = 0, dataSize: Int = 0) {
        self.name = name; self.dtype = dtype; self.shape = shape; self.role = role
        self.dataOffset = dataOffset; self.dataSize = dataSize
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { elementCount * dtype.byteSize }
}

/// Marks an absent optional input (e.g. a conv without bias).
public let absentTensor: Int = -1

public struct Node: Sendable, Equatable {
    public var name: String
    public var op: OpType
    public var precision: Precision
    /// Tensor indices; `absentTensor` for an omitted optional input.
    public var inputs: [Int]
    public var outputs: [Int]
    public var attributes: [Attribute]

    public init(name: String, op: OpType, precision: Precision = .float32, inputs: [Int], outputs: [Int], attributes: [Attribute] = []) {
        self.name = name; self.op = op; self.precision = precision
        self.inputs = inputs; self.outputs = outputs; self.attributes = attributes
    }

    public func attribute(_ key: AttributeKey) -> Attribute? {
        for a in attributes where a.key == key { return a }
        return nil
    }

    /// The precision as reports show it: `wKaM` for bit-serial nodes (from their attributes), else its name.
    public var precisionLabel: String {
        if precision == .bitSerial, let k = attribute(.weightBits)?.ints.first, let m = attribute(.activationBits)?.ints.first {
            return "w\(k)a\(m)"
        }
        if precision == .sparse, let f = attribute(.sparseFormat)?.ints.first {
            // e.g. "csr fp32", "2:4 int8": the layout and the value type (input 1's dtype is not known here).
            let nm = attribute(.sparseNM)?.ints ?? []
            let layout = f == 0 || nm.count != 2 ? "csr" : "\(nm[0]):\(nm[1])"
            return "\(layout) \(inputs.count > 3 && inputs[3] != absentTensor ? "int8" : "fp32")"
        }
        return precision.name
    }
}

/// The whole graph. Nodes are in execution (topological) order.
public struct Graph: Sendable, Equatable {
    public var tensors: [TensorDesc]
    public var nodes: [Node]
    public var inputs: [Int]
    public var outputs: [Int]
    /// Free-form key/value metadata (producer, recipe, calibration method…).
    public var metadata: [(key: String, value: String)]
    /// Feature-map codec tables (docs/FORMAT.md §6); empty when the model has none.
    public var codecTables: [CodecTableEntry] = []

    public init(tensors: [TensorDesc] = [], nodes: [Node] = [], inputs: [Int] = [], outputs: [Int] = [], metadata: [(key: String, value: String)] = []) {
        self.tensors = tensors; self.nodes = nodes; self.inputs = inputs; self.outputs = outputs; self.metadata = metadata
    }

    public static func == (a: Graph, b: Graph) -> Bool {
        a.tensors == b.tensors && a.nodes == b.nodes && a.inputs == b.inputs && a.outputs == b.outputs
            && a.metadata.map { $0.key } == b.metadata.map { $0.key } && a.metadata.map { $0.value } == b.metadata.map { $0.value }
            && a.codecTables == b.codecTables
    }

    public func metadataValue(_ key: String) -> String? {
        for kv in metadata where kv.key == key { return kv.value }
        return nil
    }
}
