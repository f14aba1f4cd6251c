import CNibble
import CNibbleSupport
import NibbleFormat

/// Maps the core's error to a C status and records its detail for `nibble_last_error`.
func report(_ error: NibbleError) -> nibble_status {
    error.message.withCString { nibble_support_set_error($0) }
    return status(of: error)
}

func status(of error: NibbleError) -> nibble_status {
    switch error {
    case .malformedModel: return NIBBLE_MALFORMED_MODEL
    case .unsupported: return NIBBLE_UNSUPPORTED
    case .versionMismatch: return NIBBLE_VERSION_MISMATCH
    case .invalidArgument: return NIBBLE_INVALID_ARGUMENT
    case .insufficientMemory: return NIBBLE_OUT_OF_MEMORY
    }
}

/// A NULL-argument failure: names the function and the parameter.
func nullArgument(_ function: String, _ parameter: String) -> nibble_status {
    report(.invalidArgument("\(function): \(parameter) is NULL"))
}

@implementation @_cdecl("nibble_abi_version")
public func nibble_abi_version() -> Int32 { NIBBLE_ABI_VERSION }

@implementation @_cdecl("nibble_format_version")
public func nibble_format_version() -> Int32 { Int32(Layout.formatVersion) }

@implementation @_cdecl("nibble_version_string")
public func nibble_version_string() -> UnsafePointer<CChar>? {
    let version: StaticString = "0.1.0"
    return UnsafeRawPointer(version.utf8Start).assumingMemoryBound(to: CChar.self)
}

@implementation @_cdecl("nibble_status_string")
public func nibble_status_string(_ status: nibble_status) -> UnsafePointer<CChar>? {
    let text: StaticString
    switch status {
    case NIBBLE_OK: text = "NIBBLE_OK: success"
    case NIBBLE_INVALID_ARGUMENT: text = "NIBBLE_INVALID_ARGUMENT: a NULL pointer, an index out of range or a wrong size"
    case NIBBLE_MALFORMED_MODEL: text = "NIBBLE_MALFORMED_MODEL: the model bytes are damaged or inconsistent"
    case NIBBLE_UNSUPPORTED: text = "NIBBLE_UNSUPPORTED: not supported by this library or this model"
    case NIBBLE_OUT_OF_MEMORY: text = "NIBBLE_OUT_OF_MEMORY: allocation failed or the arena is too small"
    case NIBBLE_IO_ERROR: text = "NIBBLE_IO_ERROR: a file could not be opened or read"
    case NIBBLE_VERSION_MISMATCH: text = "NIBBLE_VERSION_MISMATCH: the file is newer than this library"
    case NIBBLE_INTERNAL_ERROR: text = "NIBBLE_INTERNAL_ERROR: a bug in Nibble"
    default: text = "NIBBLE_UNKNOWN_STATUS: not a status of this library"
    }
    return UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}

@implementation @_cdecl("nibble_last_error")
public func nibble_last_error() -> UnsafePointer<CChar>? { nibble_support_last_error() }
