/// The one error type of the runtime core (DESIGN.md: typed throws with one error enum).
/// Every message names the thing, the place and the expected value.
public enum NibbleError: Error, Equatable {
    /// A `.nib` file (or buffer) that is not well formed: bad magic, offsets, sizes, checksums, shapes.
    case malformedModel(Message)
    /// A well formed file that asks for something this runtime does not have (newer version, unknown op).
    case unsupported(Message)
    /// The file's format version is newer than this runtime reads.
    case versionMismatch(Message)
    /// A caller passed a wrong argument: index out of range, wrong size, bad option.
    case invalidArgument(Message)
    /// Memory the caller handed in is too small or misaligned.
    case insufficientMemory(Message)

    public var message: String {
        switch self {
        case .malformedModel(let m), .unsupported(let m), .versionMismatch(let m), .invalidArgument(let m), .insufficientMemory(let m):
            return m.text
        }
    }
}
