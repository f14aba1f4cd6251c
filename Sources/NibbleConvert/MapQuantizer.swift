import NibbleCodec

/// What a codec does to one coded tensor, as far as its output is concerned (no entropy code yet): CAT
/// quantizes the values, transform quantizes the channel-transform coefficients. `QuantizedRunner` applies it
/// to emulate a session and `CodecFitter` fits tables on the symbols it stores.
enum MapQuantizer: Sendable {
    case cat(ActivationQuantizer)
    case transform(ChannelTransform, ActivationQuantizer, images: Int, pixels: Int)

    /// How a loaded model's codec quantizes (for checking a session against the emulation).
    init(_ codec: MapCodec) {
        switch codec {
        case .cat(let c): self = .cat(c.quantizer)
        case .transform(let t): self = .transform(t.transform, t.coefficients.quantizer, images: t.images, pixels: t.pixels)
        }
    }

    /// The quantizer of the stored symbols.
    var quantizer: ActivationQuantizer {
        switch self {
        case .cat(let q), .transform(_, let q, _, _): return q
        }
    }

    /// Replaces `count` values by what the session decodes: dequantize(quantize(x)) or, for a transform,
    /// forward → quantize → dequantize → inverse.
    func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .cat(let q):
            for j in 0..<count { values[j] = q.dequantize(q.quantize(values[j])) }
        case .transform(let t, let q, let images, let pixels):
            withUnsafeTemporaryAllocation(of: Float.self, capacity: t.scratchFloats) { scratch in
                t.quantized(values, images: images, pixels: pixels, quantizer: q, scratch: scratch.baseAddress!)
            }
        }
    }

    /// The values whose quantized tiles the codec stores: the values themselves, or the coefficients.
    func storedValues(_ values: UnsafeBufferPointer<Float>) -> [Float] {
        if case .transform(let t, _, let images, let pixels) = self {
            return t.coefficients(of: values, images: images, pixels: pixels)
        }
        return Array(values)
    }

    /// How the session tiles the stored symbols of a tensor of `shape`: row bands of CAT values, flat coefficients.
    func tileLayout(shape: [Int]) -> TileLayout {
        if case .cat = self { return TileLayout(shape: shape) }
        return TileLayout(count: shape.reduce(1, *))
    }

    /// The session codec with `table`, for a tensor of `shape`.
    func codec(table: HuffmanTable, shape: [Int]) -> MapCodec? {
        switch self {
        case .cat(let q):
            return TensorCodec(quantizer: q, table: table, shape: shape).map { .cat($0) }
        case .transform(let t, let q, _, _):
            return TransformCodec(transform: t, quantizer: q, table: table, shape: shape).map { .transform($0) }
        }
    }
}

extension ChannelTransform {
    /// The coefficients of `values` (NCHW blocks), as a new array.
    func coefficients(of values: UnsafeBufferPointer<Float>, images: Int, pixels: Int) -> [Float] {
        var out = Array(values)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: scratchFloats) { scratch in
            out.withUnsafeMutableBufferPointer { forward($0.baseAddress!, images: images, pixels: pixels, scratch: scratch.baseAddress!) }
        }
        return out
    }
}
