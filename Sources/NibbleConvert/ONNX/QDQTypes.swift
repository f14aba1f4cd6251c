/// What the importer learns from a model quantized elsewhere in the ONNX QDQ format
/// (QuantizeLinear → DequantizeLinear pairs around activations, DequantizeLinear of integer weights; ONNX
/// operator spec, QuantizeLinear/DequantizeLinear, opsets 10–21). Nibble keeps the model's own scales.

/// An integer type of a quantized tensor and its range (QuantizeLinear saturates to it).
struct QuantizedType: Equatable {
    let code: Int32
    let name: String
    let min: Int64
    let max: Int64

    /// The types QuantizeLinear/DequantizeLinear may carry here: 4-, 8- and 16-bit integers, and int32 (DequantizeLinear
    /// of biases only). Float8 types are not supported.
    static func from(code: Int32) -> QuantizedType? {
        switch code {
        case 2: return QuantizedType(code: 2, name: "uint8", min: 0, max: 255)
        case 3: return QuantizedType(code: 3, name: "int8", min: -128, max: 127)
        case 4: return QuantizedType(code: 4, name: "uint16", min: 0, max: 65535)
        case 5: return QuantizedType(code: 5, name: "int16", min: -32768, max: 32767)
        case 6: return QuantizedType(code: 6, name: "int32", min: Int64(Int32.min), max: Int64(Int32.max))
        case 21: return QuantizedType(code: 21, name: "uint4", min: 0, max: 15)
        case 22: return QuantizedType(code: 22, name: "int4", min: -8, max: 7)
        default: return nil
        }
    }

    static let supportedNames = "uint8, int8, uint4, int4, uint16, int16 (int32: DequantizeLinear of constants only)"
}

/// The scale and zero point of one QuantizeLinear or DequantizeLinear node: one value (per tensor, `axis` nil) or one
/// per slice along `axis` (per axis), already checked against the data shape.
struct QuantizationParameters: Equatable {
    var scales: [Float]
    var zeroPoints: [Int64]
    var axis: Int?
    var type: QuantizedType

    /// Scale and zero point of element `i` of a tensor with `shape`.
    func parameters(at i: Int, shape: [Int]) -> (scale: Float, zeroPoint: Int64) {
        guard let axis else { return (scales[0], zeroPoints[0]) }
        let inner = shape[(axis + 1)...].reduce(1, *)
        let c = (i / inner) % shape[axis]
        return (scales[c], zeroPoints[c])
    }
}

/// The integer output of a QuantizeLinear on a run-time tensor, waiting for its DequantizeLinear.
struct PendingQuantization {
    /// The QuantizeLinear node's name.
    var node: String
    var parameters: QuantizationParameters
}

/// A constant the model dequantized from integers (DequantizeLinear of an initializer): its float value is bound to
/// the output name, this records the grid it lies on.
struct DequantizedWeight {
    /// The DequantizeLinear node's name.
    var node: String
    var parameters: QuantizationParameters
}

/// A per-tensor activation quantization expressed as Nibble's uint8 input quantization (FORMAT.md §4.2, int8):
/// a QDQ type with range [qmin, qmax] maps to q − qmin, so zero point zp becomes zp − qmin (int8: zp + 128).
struct ActivationQuantization {
    var scale: Float
    var zeroPoint: Int
    /// "QuantizeLinear 'a' → DequantizeLinear 'b'", for the report and error messages.
    var source: String
}

/// A Conv/FullyConnected node whose weights the ONNX model quantized itself: it becomes int8 with these weight
/// scales (one per output channel) and, when its input went through a Q/DQ pair, that pair's scale and zero point.
struct QDQLayer {
    var weightScales: [Float]
    /// The DequantizeLinear node of the weights.
    var weightSource: String
    var input: ActivationQuantization?
}
