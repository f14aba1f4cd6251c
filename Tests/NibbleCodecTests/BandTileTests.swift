@testable import NibbleCodec
import XCTest

/// Row-band tiles of [1, C, H, W] maps (`TileLayout(shape:)`): tile k is rows [k·R, (k+1)·R) of every channel in
/// [c][r][w] order; whole-map and band-by-band encode write the same slot, each tile decodes on its own.
final class BandTileTests: XCTestCase {
    func codec(bits: Int, shape: [Int], fit: [Float], signed: Bool = false) throws -> TensorCodec {
        let q = try XCTUnwrap(fit.withUnsafeBufferPointer { ActivationQuantizer.calibrated(samples: $0, bits: bits, signed: signed) })
        var stats = try XCTUnwrap(CodeStatistics(bits: bits, zeroSymbol: q.zeroPoint))
        fit.withUnsafeBufferPointer { TensorCodec.forEachTile($0, quantizer: q, layout: TileLayout(shape: shape)) { stats.add(tile: $0) } }
        return try XCTUnwrap(TensorCodec(quantizer: q, table: HuffmanTable(statistics: stats), shape: shape))
    }

    func testLayout() {
        let l = TileLayout(shape: [1, 16, 8, 8])  // 128 values a row: 4 rows a tile
        XCTAssertEqual(l.planes, 16)
        XCTAssertEqual(l.segment, 32)
        XCTAssertEqual(l.tileCount, 2)
        XCTAssertEqual(l.maxTileValues, 512)
        let wide = TileLayout(shape: [1, 64, 5, 56])  // a row exceeds bandValues: one row a tile
        XCTAssertEqual(wide.segment, 56)
        XCTAssertEqual(wide.tileCount, 5)
        XCTAssertEqual(wide.maxTileValues, 64 * 56)
        let odd = TileLayout(shape: [1, 3, 7, 13])  // 39 values a row: 13 rows ≥ H, one tile
        XCTAssertEqual(odd.tileCount, 1)
        XCTAssertEqual(odd.tileValues(0), 3 * 7 * 13)
        XCTAssertEqual(TileLayout(shape: [1, 10]), TileLayout(count: 10), "not 4-D: flat")
        XCTAssertEqual(TileLayout(shape: [2, 4, 8, 8]), TileLayout(count: 512), "batch > 1: flat")
    }

    /// Shapes with a partial last band, bits 2…8, sparse data and unfitted noise (raw-fallback tiles): whole decode
    /// gives dequantize(quantize(x)); band-by-band `encodeTile` writes exactly the slot `encode` writes; each tile
    /// decoded alone holds its rows of every channel.
    func testBandRoundTripAndTileAccess() throws {
        var rng = SplitMix64(seed: 3)
        for shape in [[1, 8, 15, 13], [1, 16, 8, 8], [1, 5, 9, 40], [1, 64, 3, 9]] {
            let count = shape.reduce(1, *)
            let (C, H, W) = (shape[1], shape[2], shape[3])
            for bits in [2, 4, 8] {
                for noise in [false, true] {
                    let fit: [Float] = (0..<count).map { _ in rng.unit() < 0.6 ? 0 : Float(rng.unit() * 4) }
                    let c = try codec(bits: bits, shape: shape, fit: fit)
                    let x: [Float] = noise ? (0..<count).map { _ in Float(rng.unit() * 4.2) } : fit
                    var symbols = [UInt8](repeating: 0, count: c.symbolBytes)
                    var slot = [UInt8](repeating: 0xAA, count: c.worstCaseBytes)
                    let n = try XCTUnwrap(slot.withUnsafeMutableBytes { s in symbols.withUnsafeMutableBufferPointer { c.encode(x, into: s, symbols: $0.baseAddress!) } })
                    XCTAssertLessThanOrEqual(n, c.worstCaseBytes)
                    if noise && bits == 8 { XCTAssertEqual(n, c.worstCaseBytes, "noise tiles are raw") }
                    var y = [Float](repeating: -1, count: count)
                    XCTAssertTrue(slot.withUnsafeBytes { s in y.withUnsafeMutableBufferPointer { yb in
                        symbols.withUnsafeMutableBufferPointer { c.decode(UnsafeRawBufferPointer(rebasing: s[0..<n]), into: yb.baseAddress!, symbols: $0.baseAddress!) } } })
                    let expected = x.map { c.quantizer.dequantize(c.quantizer.quantize($0)) }
                    XCTAssertEqual(y, expected, "\(shape) bits \(bits) noise \(noise)")

                    // Band by band from [c][r][w] band buffers.
                    let R = c.layout.segment / W
                    var banded = [UInt8](repeating: 0x55, count: c.worstCaseBytes)
                    var last = 0
                    for k in 0..<c.tileCount {
                        let rows = (k * R)..<min(H, (k + 1) * R)
                        var band: [Float] = []
                        for ch in 0..<C { for r in rows { band += x[((ch * H + r) * W)..<((ch * H + r + 1) * W)] } }
                        last = try XCTUnwrap(banded.withUnsafeMutableBytes { s in symbols.withUnsafeMutableBufferPointer { c.encodeTile(k, band: band, into: s, symbols: $0.baseAddress!) } })
                        // The tile alone decodes to the band's quantized symbols.
                        XCTAssertTrue(banded.withUnsafeBytes { s in symbols.withUnsafeMutableBufferPointer { c.decodeTile(k, s, symbols: $0.baseAddress!) } })
                        XCTAssertEqual(Array(symbols[0..<band.count]), band.map { c.quantizer.quantize($0) }, "\(shape) tile \(k)")
                    }
                    XCTAssertEqual(last, n)
                    XCTAssertEqual(Array(banded[0..<n]), Array(slot[0..<n]), "\(shape) bits \(bits): band encode = whole encode")
                    // Bands of several tiles (`encodeTiles`, a shorter last band) write the same slot.
                    for m in 2...max(2, c.tileCount) where m <= c.tileCount {
                        var multi = [UInt8](repeating: 0x33, count: c.worstCaseBytes)
                        var wide = [UInt8](repeating: 0, count: c.bandSymbolBytes(tiles: m))
                        var end = 0
                        for k0 in stride(from: 0, to: c.tileCount, by: m) {
                            let tiles = k0..<min(c.tileCount, k0 + m)
                            let rows = (k0 * R)..<min(H, tiles.upperBound * R)
                            var band: [Float] = []
                            for ch in 0..<C { for r in rows { band += x[((ch * H + r) * W)..<((ch * H + r + 1) * W)] } }
                            end = try XCTUnwrap(multi.withUnsafeMutableBytes { s in wide.withUnsafeMutableBufferPointer { c.encodeTiles(tiles, band: band, into: s, symbols: $0.baseAddress!) } })
                        }
                        XCTAssertEqual(end, n)
                        XCTAssertEqual(Array(multi[0..<n]), Array(slot[0..<n]), "\(shape) bits \(bits): \(m)-tile bands = whole encode")
                    }
                    // A damaged directory entry is refused by the tile decoder too.
                    if c.tileCount > 1 {
                        banded.withUnsafeMutableBytes { c.setTileEnd(0, 0, in: $0.baseAddress!) }
                        XCTAssertFalse(banded.withUnsafeBytes { s in symbols.withUnsafeMutableBufferPointer { c.decodeTile(0, s, symbols: $0.baseAddress!) } })
                        XCTAssertFalse(banded.withUnsafeBytes { s in symbols.withUnsafeMutableBufferPointer { c.decodeTile(c.tileCount, s, symbols: $0.baseAddress!) } })
                    }
                }
            }
        }
    }
}
