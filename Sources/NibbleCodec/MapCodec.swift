/// How one coded tensor is held in a session arena (docs/FORMAT.md §6): CAT (quantized values) or transform
/// (quantized channel-transform coefficients). An enum rather than a protocol so the per-step encode and
/// decode calls stay concrete (no existentials in the runtime core, DESIGN.md).
public enum MapCodec: Sendable, Equatable {
    case cat(TensorCodec)
    case transform(TransformCodec)

    /// The codec of the symbols actually stored: the values (CAT) or the coefficients (transform).
    public var symbols: TensorCodec {
        switch self {
        case .cat(let c): return c
        case .transform(let t): return t.coefficients
        }
    }

    public var quantizer: ActivationQuantizer { symbols.quantizer }
    public var bits: Int { symbols.bits }
    /// Values in the tensor.
    public var count: Int { symbols.count }
    public var directoryBytes: Int { symbols.directoryBytes }
    /// The most bytes a slot can ever hold (`TensorCodec.worstCaseBytes`).
    public var worstCaseBytes: Int { symbols.worstCaseBytes }

    /// Whether its tiles are written RAW only (`TileCodec.storesRaw`).
    public var storesRaw: Bool { symbols.tiles.storesRaw }

    /// The same codec writing RAW tiles only (no entropy coding), or entropy-coding them: the same slot and decoded
    /// values either way.
    public func storing(rawTiles: Bool) -> MapCodec {
        switch self {
        case .cat(let c): return .cat(c.storing(rawTiles: rawTiles))
        case .transform(let t): return .transform(t.storing(rawTiles: rawTiles))
        }
    }

    /// Bytes of scratch `encode` and `decode` need.
    public var scratchBytes: Int {
        switch self {
        case .cat(let c): return c.symbolBytes
        case .transform(let t): return t.scratchBytes
        }
    }

    /// Encodes `count` values into `slot`; a transform overwrites `values` with its coefficients on the way.
    /// `scratch`: `scratchBytes`, 4-byte aligned. Returns the bytes written, nil if the slot is too small.
    @inline(__always)
    public func encode(_ values: UnsafeMutablePointer<Float>, into slot: UnsafeMutableRawBufferPointer,
                       scratch: UnsafeMutablePointer<UInt8>) -> Int? {
        switch self {
        case .cat(let c): return c.encode(UnsafePointer(values), into: slot, symbols: scratch)
        case .transform(let t): return t.encode(values, into: slot, scratch: scratch)
        }
    }

    /// Decodes a slot written by `encode` into `count` floats; false when the slot is corrupt.
    @inline(__always)
    public func decode(_ slot: UnsafeRawBufferPointer, into values: UnsafeMutablePointer<Float>,
                       scratch: UnsafeMutablePointer<UInt8>) -> Bool {
        switch self {
        case .cat(let c): return c.decode(slot, into: values, symbols: scratch)
        case .transform(let t): return t.decode(slot, into: values, scratch: scratch)
        }
    }
}
