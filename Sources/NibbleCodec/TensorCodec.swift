/// Which values form each tile of a coded map (issue 6, "placement"): tile k holds, in each of `planes`
/// planes of `planeValues` consecutive values, the segment [k·segment, (k+1)·segment) of that plane, plane by
/// plane. A 4-D [1, C, H, W] map uses row bands — planes = C, segment = R·W with R = `rows(…)` — so tile k
/// is rows [k·R, (k+1)·R) of every channel in [c][r][w] order and a consumer decodes a few rows at a time; other
/// shapes are flat (one plane, segments of `TensorCodec.tileValues`). The stored tables do not depend on the order.
public struct TileLayout: Sendable, Equatable {
    public let planes: Int
    public let planeValues: Int
    public let segment: Int

    /// Flat tiles of `TensorCodec.tileValues` consecutive values.
    public init(count: Int) { self.init(planes: 1, planeValues: count, segment: TensorCodec.tileValues) }

    /// Row bands for [1, C, H, W] (`rows(channels:height:width:)` rows per tile), flat tiles otherwise.
    public init(shape: [Int]) {
        let count = shape.reduce(1, *)
        guard shape.count == 4, shape[0] == 1, count >= 1 else { self.init(count: count); return }
        self.init(planes: shape[1], planeValues: shape[2] * shape[3],
                  segment: TileLayout.rows(channels: shape[1], height: shape[2], width: shape[3]) * shape[3])
    }

    init(planes: Int, planeValues: Int, segment: Int) {
        self.planes = planes
        self.planeValues = planeValues
        self.segment = segment
    }

    /// Target values per row-band tile: small enough that a band of a few rows is a fraction of an 8×8 or
    /// 14×14 map, large enough that the tile's header byte and directory entry stay near 0.05 bit/value.
    public static let bandValues = 512

    /// Rows per tile of a [1, C, H, W] map: max(1, bandValues / (C·W)), at most H.
    public static func rows(channels: Int, height: Int, width: Int) -> Int {
        max(1, min(height, bandValues / max(1, channels * width)))
    }

    public var count: Int { planes * planeValues }
    public var tileCount: Int { (planeValues + segment - 1) / segment }
    /// Values of tile `k` in each plane.
    @inline(__always)
    public func segmentRange(_ k: Int) -> Range<Int> {
        let start = k * segment
        return start..<Swift.min(start + segment, planeValues)
    }
    /// Values in tile `k`.
    @inline(__always)
    public func tileValues(_ k: Int) -> Int { planes * segmentRange(k).count }
    /// The most values one tile holds (the symbol buffer `encode` and `decode` need).
    public var maxTileValues: Int { planes * Swift.min(segment, planeValues) }
}

/// One whole float feature map held compressed (issue 6, CAT placement): the values are quantized
/// (`ActivationQuantizer`) and entropy-coded (`TileCodec`) in tiles (`TileLayout`: row bands of a 4-D map, else
/// `tileValues` consecutive values), the tiles stored back to back after a directory:
///
///     uN end[tileCount]      little-endian: where tile k ends, counted from the first byte after the directory;
///                            N = 8, 16 or 32 bits, the narrowest that holds the tiles' worst case (`entryBytes`)
///     tile 0, tile 1, …      each exactly as `TileCodec.encode` wrote it (header byte + payload)
///
/// The entry width follows from the layout and bits alone, so both ends agree on it without storing it. Narrow
/// entries matter at low entropy: a 512-value band coded at 1 bit/value is 65 bytes, and a 4-byte entry beside it
/// would cost 6 % (a pooled 32-value vector's single tile, 25 %).
/// Every tile is bounded by `TileCodec.worstCaseBytes` (raw fallback), so `worstCaseBytes` is a hard bound
/// on the whole slot: the arena planner reserves it and no input can overflow it. The directory lets the
/// decoder hand `TileCodec.decode` each tile's exact bytes, and a consumer decode one band (`decodeTile`).
/// Neither direction allocates: both work through a caller symbol buffer of `layout.maxTileValues` bytes (the
/// session's kernel scratch).
public struct TensorCodec: Sendable, Equatable {
    /// Values per flat tile. Small enough that the symbol buffer is tiny, large enough that the 1-byte tile header
    /// and the directory entry cost under 0.01 bit/value.
    public static let tileValues = 4096

    public let quantizer: ActivationQuantizer
    public private(set) var tiles: TileCodec
    public let layout: TileLayout
    /// Every tile at its raw-fallback bound: the most bytes after the directory.
    let tilesBound: Int
    /// Bytes per directory entry: 1, 2 or 4, the fewest that hold `tilesBound`.
    public let entryBytes: Int

    /// Nil unless the table matches the quantizer (same bits; its zero-run symbol is the quantizer's zero
    /// point) and count ≥ 1 with a worst case that fits in an Int. Flat tiles.
    public init?(quantizer: ActivationQuantizer, table: HuffmanTable, count: Int) {
        self.init(quantizer: quantizer, table: table, layout: TileLayout(count: count))
    }

    /// The same for a map of `shape`: row-band tiles when it is [1, C, H, W].
    public init?(quantizer: ActivationQuantizer, table: HuffmanTable, shape: [Int]) {
        self.init(quantizer: quantizer, table: table, layout: TileLayout(shape: shape))
    }

    public init?(quantizer: ActivationQuantizer, table: HuffmanTable, layout: TileLayout) {
        guard table.bits == quantizer.bits, table.zeroSymbol == quantizer.zeroPoint, layout.count >= 1,
              layout.count <= Int(UInt32.max) / 2 else { return nil }
        self.quantizer = quantizer
        self.tiles = TileCodec(table: table)
        self.layout = layout
        let full = layout.planeValues / layout.segment, rest = layout.planeValues % layout.segment
        var bound = full * (TileCodec.worstCaseBytes(count: layout.planes * layout.segment, bits: quantizer.bits) ?? 0)
        if rest > 0 { bound += TileCodec.worstCaseBytes(count: layout.planes * rest, bits: quantizer.bits) ?? 0 }
        self.tilesBound = bound
        self.entryBytes = bound <= Int(UInt8.max) ? 1 : bound <= Int(UInt16.max) ? 2 : 4
    }

    /// The same codec writing RAW tiles only (`TileCodec.storesRaw`), or entropy-coding them: the same slot bound
    /// and decoded symbols either way.
    public func storing(rawTiles: Bool) -> TensorCodec {
        var c = self
        c.tiles = TileCodec(table: tiles.table, storesRaw: rawTiles)
        return c
    }

    public var bits: Int { quantizer.bits }
    /// Values in the tensor.
    public var count: Int { layout.count }
    public var tileCount: Int { layout.tileCount }
    public var directoryBytes: Int { entryBytes * tileCount }
    /// Bytes of symbol buffer `encode`, `decode` and the tile calls need.
    public var symbolBytes: Int { layout.maxTileValues }

    /// Directory + every tile at its raw-fallback bound: the most bytes `encode` can ever write.
    public var worstCaseBytes: Int { directoryBytes + tilesBound }

    /// Where tile `k` ends, counted from after the directory (entry k of `slot`, which holds the directory).
    @inline(__always)
    func tileEnd(_ k: Int, in slot: UnsafeRawPointer) -> Int {
        switch entryBytes {
        case 1: return Int(slot.load(fromByteOffset: k, as: UInt8.self))
        case 2: return Int(UInt16(littleEndian: slot.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)))
        default: return Int(UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)))
        }
    }

    /// Records where tile `k` ends (≤ `tilesBound`, so it fits the entry).
    @inline(__always)
    func setTileEnd(_ k: Int, _ end: Int, in slot: UnsafeMutableRawPointer) {
        switch entryBytes {
        case 1: slot.storeBytes(of: UInt8(end), toByteOffset: k, as: UInt8.self)
        case 2: slot.storeBytes(of: UInt16(end).littleEndian, toByteOffset: 2 * k, as: UInt16.self)
        default: slot.storeBytes(of: UInt32(end).littleEndian, toByteOffset: 4 * k, as: UInt32.self)
        }
    }

    /// Quantizes and encodes `count` values into `slot` (at least `worstCaseBytes`), using `symbols`
    /// (`symbolBytes`) as the tile buffer. Returns the bytes written, or nil if the slot is too small.
    public func encode(_ values: UnsafePointer<Float>, into slot: UnsafeMutableRawBufferPointer,
                       symbols: UnsafeMutablePointer<UInt8>) -> Int? {
        guard slot.count >= worstCaseBytes else { return nil }
        var written = 0
        for k in 0..<tileCount {
            let r = layout.segmentRange(k)
            for p in 0..<layout.planes {
                quantizer.quantize(UnsafeBufferPointer(start: values + p * layout.planeValues + r.lowerBound, count: r.count),
                                   into: UnsafeMutableBufferPointer(start: symbols + p * r.count, count: r.count))
            }
            guard let w = encodeTile(k, symbols: symbols, into: slot) else { return nil }
            written = w
        }
        return written
    }

    /// Quantizes one band (tile `k`'s values in tile order, [plane][segment]) and encodes it as tile `k`; tiles
    /// 0..<k must have been written already (the directory entry of k − 1 says where k starts). Returns the slot
    /// bytes used so far (directory included), or nil if the slot is too small or k's predecessor is corrupt.
    public func encodeTile(_ k: Int, band: UnsafePointer<Float>, into slot: UnsafeMutableRawBufferPointer,
                           symbols: UnsafeMutablePointer<UInt8>) -> Int? {
        let n = layout.tileValues(k)
        quantizer.quantize(UnsafeBufferPointer(start: band, count: n), into: UnsafeMutableBufferPointer(start: symbols, count: n))
        return encodeTile(k, symbols: symbols, into: slot)
    }

    /// Symbol bytes `encodeTiles` needs for a band of `tiles` tiles: one tile's symbols, plus the whole band's when
    /// it spans more than one tile.
    public func bandSymbolBytes(tiles: Int) -> Int {
        tiles <= 1 ? symbolBytes : symbolBytes + layout.planes * Swift.min(tiles * layout.segment, layout.planeValues)
    }

    /// Quantizes a band of whole tiles `tiles` ([plane][the tiles' segments], so a plane spans all of them) and
    /// encodes each tile in order, tiles 0..<tiles.lowerBound written already. The band is quantized in one pass
    /// after the first tile's symbol buffer (a short segment per plane would take the scalar tail of `quantize`),
    /// then each tile's segments are gathered in tile order: the bytes of one-tile bands. `symbols`:
    /// `bandSymbolBytes(tiles: tiles.count)`. Returns the slot bytes used so far, or nil as `encodeTile`.
    public func encodeTiles(_ tiles: Range<Int>, band: UnsafePointer<Float>, into slot: UnsafeMutableRawBufferPointer,
                            symbols: UnsafeMutablePointer<UInt8>) -> Int? {
        if tiles.count == 1 { return encodeTile(tiles.lowerBound, band: band, into: slot, symbols: symbols) }
        guard !tiles.isEmpty, tiles.lowerBound >= 0, tiles.upperBound <= tileCount else { return nil }
        let first = layout.segmentRange(tiles.lowerBound).lowerBound
        let span = layout.segmentRange(tiles.upperBound - 1).upperBound - first
        let quantized = symbols + symbolBytes
        quantizer.quantize(UnsafeBufferPointer(start: band, count: layout.planes * span),
                           into: UnsafeMutableBufferPointer(start: quantized, count: layout.planes * span))
        var written: Int? = nil
        for k in tiles {
            let r = layout.segmentRange(k)
            for p in 0..<layout.planes {
                (symbols + p * r.count).update(from: quantized + p * span + r.lowerBound - first, count: r.count)
            }
            written = encodeTile(k, symbols: symbols, into: slot)
            if written == nil { return nil }
        }
        return written
    }

    private func encodeTile(_ k: Int, symbols: UnsafeMutablePointer<UInt8>, into slot: UnsafeMutableRawBufferPointer) -> Int? {
        let tilesStart = directoryBytes
        guard k >= 0, k < tileCount, slot.count >= worstCaseBytes, let base = slot.baseAddress else { return nil }
        let start = k == 0 ? 0 : tileEnd(k - 1, in: base)
        guard start <= slot.count - tilesStart else { return nil }
        let out = UnsafeMutableRawBufferPointer(start: base + tilesStart + start, count: slot.count - tilesStart - start)
        // Cannot fail when tiles 0..<k were written by this codec: the slot holds the worst case.
        guard let written = tiles.encode(UnsafeBufferPointer(start: symbols, count: layout.tileValues(k)), into: out) else { return nil }
        setTileEnd(k, start + written, in: base)
        return tilesStart + start + written
    }

    /// Decodes tile `k` of a slot written by `encode` (or `encodeTile`) into `symbols` (`layout.tileValues(k)`
    /// quantized symbols in tile order). False when the directory or the tile is corrupt. Never reads outside `slot`.
    public func decodeTile(_ k: Int, _ slot: UnsafeRawBufferPointer, symbols: UnsafeMutablePointer<UInt8>) -> Bool {
        let tilesStart = directoryBytes
        guard k >= 0, k < tileCount, slot.count >= tilesStart, let base = slot.baseAddress else { return false }
        let start = k == 0 ? 0 : tileEnd(k - 1, in: base)
        let end = tileEnd(k, in: base)
        guard end > start, end <= slot.count - tilesStart else { return false }
        let tile = UnsafeRawBufferPointer(start: base + tilesStart + start, count: end - start)
        return tiles.decode(tile, into: UnsafeMutableBufferPointer(start: symbols, count: layout.tileValues(k)))
    }

    /// Decodes a slot written by `encode` into `count` floats. False (with `values` unspecified) when the
    /// directory or a tile is corrupt: ends out of order or past the slot, or a tile `TileCodec` refuses.
    /// Never reads outside `slot` nor writes outside `values[0..<count]` and `symbols[0..<symbolBytes]`.
    public func decode(_ slot: UnsafeRawBufferPointer, into values: UnsafeMutablePointer<Float>,
                       symbols: UnsafeMutablePointer<UInt8>) -> Bool {
        for k in 0..<tileCount {
            guard decodeTile(k, slot, symbols: symbols) else { return false }
            let r = layout.segmentRange(k)
            for p in 0..<layout.planes {
                quantizer.dequantize(UnsafeBufferPointer(start: symbols + p * r.count, count: r.count),
                                     into: UnsafeMutableBufferPointer(start: values + p * layout.planeValues + r.lowerBound, count: r.count))
            }
        }
        return true
    }

    /// Calls `body` with the symbols of each tile of `values` (quantized), tiled by `layout` exactly as `encode`
    /// tiles: what convert-time statistics are gathered on.
    public static func forEachTile(_ values: UnsafeBufferPointer<Float>, quantizer: ActivationQuantizer, layout: TileLayout,
                                   _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        precondition(values.count == layout.count)
        guard let v = values.baseAddress else { return }
        var symbols = [UInt8](repeating: 0, count: layout.maxTileValues)
        symbols.withUnsafeMutableBufferPointer { s in
            for k in 0..<layout.tileCount {
                let r = layout.segmentRange(k)
                for p in 0..<layout.planes {
                    quantizer.quantize(UnsafeBufferPointer(start: v + p * layout.planeValues + r.lowerBound, count: r.count),
                                       into: UnsafeMutableBufferPointer(rebasing: s[p * r.count..<(p + 1) * r.count]))
                }
                body(UnsafeBufferPointer(rebasing: s[0..<layout.tileValues(k)]))
            }
        }
    }

    /// Flat tiles (the layout of `init(quantizer:table:count:)`).
    public static func forEachTile(_ values: UnsafeBufferPointer<Float>, quantizer: ActivationQuantizer,
                                   _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        forEachTile(values, quantizer: quantizer, layout: TileLayout(count: values.count), body)
    }
}
