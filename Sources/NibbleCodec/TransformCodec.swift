/// One whole float feature map held with the transform codec (issue 6, "transform coding"): the channel
/// transform's coefficients (`ChannelTransform.forward`, coefficient-major) quantized with one per-layer step
/// around zero point 2^(bits−1) and coded exactly as CAT codes values (`TensorCodec`: tiles, raw fallback,
/// directory). Decode = tile decode + dequantize + `ChannelTransform.inverse`. The slot has the CAT bound
/// (`worstCaseBytes`), so the planner reserves the same and a corrupt slot is refused by `TensorCodec.decode`.
public struct TransformCodec: Sendable, Equatable {
    public let transform: ChannelTransform
    /// The coefficients' quantizer and entropy coder.
    public private(set) var coefficients: TensorCodec
    public let images: Int
    public let pixels: Int

    /// Nil unless the shape is NCHW or [N, C] with the transform's channels, the quantizer is signed
    /// (zero point 2^(bits−1)), and the table makes a `TensorCodec` with it.
    public init?(transform: ChannelTransform, quantizer: ActivationQuantizer, table: HuffmanTable, shape: [Int]) {
        guard let (images, pixels) = transform.geometry(shape: shape), quantizer.zeroPoint == 1 << (quantizer.bits - 1),
              images <= Int(UInt32.max) / transform.channels / pixels,
              let coefficients = TensorCodec(quantizer: quantizer, table: table, count: images * transform.channels * pixels)
        else { return nil }
        self.transform = transform
        self.coefficients = coefficients
        self.images = images
        self.pixels = pixels
    }

    /// The same codec writing its coefficients' tiles RAW only (`TileCodec.storesRaw`), or entropy-coding them.
    public func storing(rawTiles: Bool) -> TransformCodec {
        var c = self
        c.coefficients = coefficients.storing(rawTiles: rawTiles)
        return c
    }

    /// Bytes of scratch `encode` and `decode` need: the tile symbols, then the transform's floats.
    public var scratchBytes: Int { TensorCodec.tileValues + 4 * transform.scratchFloats }

    /// Transforms `values` in place (they hold coefficients afterwards) and encodes them into `slot` (at least
    /// `coefficients.worstCaseBytes`); `scratch` holds `scratchBytes`, 4-byte aligned. Returns the bytes
    /// written, or nil if the slot is too small.
    public func encode(_ values: UnsafeMutablePointer<Float>, into slot: UnsafeMutableRawBufferPointer,
                       scratch: UnsafeMutablePointer<UInt8>) -> Int? {
        transform.forward(values, images: images, pixels: pixels, scratch: floats(scratch))
        return coefficients.encode(UnsafePointer(values), into: slot, symbols: scratch)
    }

    /// Decodes a slot written by `encode` into `count` floats; false (values unspecified) when
    /// `TensorCodec.decode` refuses the slot. Never reads outside `slot` nor writes outside `values` and
    /// `scratch[0..<scratchBytes]`.
    public func decode(_ slot: UnsafeRawBufferPointer, into values: UnsafeMutablePointer<Float>,
                       scratch: UnsafeMutablePointer<UInt8>) -> Bool {
        guard coefficients.decode(slot, into: values, symbols: scratch) else { return false }
        transform.inverse(values, images: images, pixels: pixels, scratch: floats(scratch))
        return true
    }

    /// The float part of the scratch, after the tile symbols (`tileValues` is a multiple of 4).
    @inline(__always)
    private func floats(_ scratch: UnsafeMutablePointer<UInt8>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(scratch + TensorCodec.tileValues).assumingMemoryBound(to: Float.self)
    }
}
