/// The one error type of the converter. Every message names the thing (node, tensor, file), the place
/// and what is supported or expected (DESIGN.md, "Conventions").
public enum ConvertError: Error, CustomStringConvertible, Equatable {
    /// Valid ONNX that uses an operator, attribute value or shape Nibble does not support.
    case unsupported(String)
    /// Bytes that are not a well-formed ONNX model, or a model that contradicts itself.
    case malformed(String)
    /// A bad argument: calibration data, an .npy file, a recipe option.
    case invalidInput(String)
    /// The runtime refused the converted model or failed during calibration.
    case runtime(String)

    public var message: String {
        switch self {
        case .unsupported(let m), .malformed(let m), .invalidInput(let m), .runtime(let m): return m
        }
    }

    public var description: String { message }
}
