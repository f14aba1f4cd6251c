/// One whole float feature map held compressed (issue 6, CAT placement): the values are quantized
/// (`ActivationQuantizer`) and entropy-coded (`TileCodec`) in tiles of `tileValues` consecutive values
/// (NCHW order), the tiles stored back to back after a directory:
///
///     u32 end[tileCount]     little-endian: where tile k ends, counted from the first byte after the directory
///     tile 0, tile 1, …      each exactly as `TileCodec.encode` wrote it (header byte + payload)
///
/// Every tile is bounded by `TileCodec.worstCaseBytes` (raw fallback), so `worstCaseBytes` is a hard bound
/// on the whole slot: the arena planner reserves it and no input can overflow it. The directory lets the
/// decoder hand `TileCodec.decode` each tile's exact bytes. Neither direction allocates: both work through a
/// caller symbol buffer of `tileValues` bytes (the session's kernel scratch).
public struct TensorCodec: Sendable, Equatable {
    /// Values per tile. Small enough that the symbol buffer is tiny, large enough that the 1-byte tile header
    /// and the 4-byte directory entry cost under 0.01 bit/value.
    public static let tileValues = 4096

    public let quantizer: ActivationQuantizer
    public let tiles: TileCodec
    /// Values in the tensor.
    public let count: Int

    /// Nil unless the table matches the quantizer (same bits; its zero-run symbol is the quantizer's zero
    /// point) and count ≥ 1 with a worst case that fits in an Int.
    public init?(quantizer: ActivationQuantizer, table: HuffmanTable, count: Int) {
        guard table.bits == quantizer.bits, table.zeroSymbol == quantizer.zeroPoint, count >= 1,
              count <= Int(UInt32.max) / 2 else { return nil }
        self.quantizer = quantizer
        self.tiles = TileCodec(table: table)
        self.count = count
    }

    public var bits: Int { quantizer.bits }
    public var tileCount: Int { (count + TensorCodec.tileValues - 1) / TensorCodec.tileValues }
    public var directoryBytes: Int { 4 * tileCount }

    /// Directory + every tile at its raw-fallback bound: the most bytes `encode` can ever write.
    public var worstCaseBytes: Int {
        let full = count / TensorCodec.tileValues
        let rest = count % TensorCodec.tileValues
        var total = directoryBytes + full * (TileCodec.worstCaseBytes(count: TensorCodec.tileValues, bits: bits) ?? 0)
        if rest > 0 { total += TileCodec.worstCaseBytes(count: rest, bits: bits) ?? 0 }
        return total
    }

    /// Values of tile `k`.
    @inline(__always)
    public func tileRange(_ k: Int) -> Range<Int> {
        let start = k * TensorCodec.tileValues
        return start..<Swift.min(start + TensorCodec.tileValues, count)
    }

    /// Quantizes and encodes `count` values into `slot` (at least `worstCaseBytes`), using `symbols`
    /// (`tileValues` bytes) as the tile buffer. Returns the bytes written, or nil if the slot is too small.
    public func encode(_ values: UnsafePointer<Float>, into slot: UnsafeMutableRawBufferPointer,
                       symbols: UnsafeMutablePointer<UInt8>) -> Int? {
        guard slot.count >= worstCaseBytes, let base = slot.baseAddress else { return nil }
        let tilesStart = directoryBytes
        var end = 0
        for k in 0..<tileCount {
            let r = tileRange(k)
            quantizer.quantize(UnsafeBufferPointer(start: values + r.lowerBound, count: r.count),
                               into: UnsafeMutableBufferPointer(start: symbols, count: r.count))
            let out = UnsafeMutableRawBufferPointer(start: base + tilesStart + end, count: slot.count - tilesStart - end)
            // Cannot fail: the slot holds the worst case and quantized symbols are < 2^bits.
            guard let written = tiles.encode(UnsafeBufferPointer(start: symbols, count: r.count), into: out) else { return nil }
            end += written
            base.storeBytes(of: UInt32(end).littleEndian, toByteOffset: 4 * k, as: UInt32.self)
        }
        return tilesStart + end
    }

    /// Decodes a slot written by `encode` into `count` floats. False (with `values` unspecified) when the
    /// directory or a tile is corrupt: ends out of order or past the slot, or a tile `TileCodec` refuses.
    /// Never reads outside `slot` nor writes outside `values[0..<count]` and `symbols[0..<tileValues]`.
    public func decode(_ slot: UnsafeRawBufferPointer, into values: UnsafeMutablePointer<Float>,
                       symbols: UnsafeMutablePointer<UInt8>) -> Bool {
        let tilesStart = directoryBytes
        guard slot.count >= tilesStart, let base = slot.baseAddress else { return false }
        var start = 0
        for k in 0..<tileCount {
            let end = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)))
            guard end > start, end <= slot.count - tilesStart else { return false }
            let r = tileRange(k)
            let tile = UnsafeRawBufferPointer(start: base + tilesStart + start, count: end - start)
            guard tiles.decode(tile, into: UnsafeMutableBufferPointer(start: symbols, count: r.count)) else { return false }
            quantizer.dequantize(UnsafeBufferPointer(start: symbols, count: r.count),
                                 into: UnsafeMutableBufferPointer(start: values + r.lowerBound, count: r.count))
            start = end
        }
        return true
    }

    /// Calls `body` with the symbols of each tile of `values` (quantized), tiled exactly as `encode` tiles:
    /// what convert-time statistics are gathered on.
    public static func forEachTile(_ values: UnsafeBufferPointer<Float>, quantizer: ActivationQuantizer,
                                   _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var symbols = [UInt8](repeating: 0, count: Swift.min(values.count, tileValues))
        var start = 0
        while start < values.count {
            let n = Swift.min(tileValues, values.count - start)
            symbols.withUnsafeMutableBufferPointer { s in
                quantizer.quantize(UnsafeBufferPointer(rebasing: values[start..<start + n]), into: s)
                body(UnsafeBufferPointer(rebasing: s[0..<n]))
            }
            start += n
        }
    }
}
