@testable import NibbleConvert
import NibbleCodec
import XCTest

/// The measurement rANS coder: exact round trips in both token grammars, and sizes near the tokens' entropy.
final class StaticRANSTests: XCTestCase {
    /// Deterministic ReLU-like (zeroFraction zeros, geometric magnitudes) or signed bell-shaped tiles.
    func tiles(bits: Int, zeroPoint: Int, zeroFraction: Double, count: Int, n: Int, seed: UInt64) -> [[UInt8]] {
        var state = seed
        func unit() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        let top = (1 << bits) - 1
        return (0..<count).map { _ in
            (0..<n).map { _ in
                if zeroPoint == 0 {
                    if unit() < zeroFraction { return 0 }
                    var m = 1
                    while m < top && unit() < 0.6 { m += 1 }
                    return UInt8(m)
                }
                let g = (unit() + unit() + unit() - 1.5) * Double(1 << bits) / 4
                return UInt8(max(0, min(top, zeroPoint + Int(g.rounded()))))
            }
        }
    }

    func check(bits: Int, zeroPoint: Int, zeroFraction: Double, expectRuns: Bool) throws {
        let n = 4096
        var stats = try XCTUnwrap(CodeStatistics(bits: bits, zeroSymbol: zeroPoint))
        for t in tiles(bits: bits, zeroPoint: zeroPoint, zeroFraction: zeroFraction, count: 8, n: n, seed: 1) { stats.add(tile: t) }
        let table = HuffmanTable(statistics: stats)
        XCTAssertEqual(table.hasRuns, expectRuns)
        let rans = StaticRANS(table: table, statistics: stats)
        let huffman = TileCodec(table: table)
        var ransBytes = 0, huffmanBytes = 0
        var out = [UInt8](repeating: 0, count: TileCodec.worstCaseBytes(count: n, bits: bits)!)
        let heldOut = tiles(bits: bits, zeroPoint: zeroPoint, zeroFraction: zeroFraction, count: 4, n: n, seed: 2)
            + [[UInt8](repeating: UInt8(zeroPoint), count: n), (0..<777).map { UInt8($0 % (1 << bits)) }]
        for tile in heldOut {
            let bytes = tile.withUnsafeBufferPointer { rans.encode(rans.tokens($0)) }
            XCTAssertEqual(rans.decode(bytes, count: tile.count), tile)
            XCTAssertNil(rans.decode(Array(bytes.dropLast()), count: tile.count).flatMap { $0 == tile ? $0 : nil })
            ransBytes += tile.withUnsafeBufferPointer { rans.tileBytes($0) }
            huffmanBytes += tile.withUnsafeBufferPointer { t in out.withUnsafeMutableBytes { huffman.encode(t, into: $0)! } }
        }
        // rANS spends fractional bits: never more than Huffman (with the same RAW fallback) but for its 4-byte flushes.
        XCTAssertLessThanOrEqual(ransBytes, huffmanBytes + 4 * heldOut.count, "bits \(bits) zero point \(zeroPoint)")
    }

    func testReLUMapsWithRunTokens() throws { try check(bits: 4, zeroPoint: 0, zeroFraction: 0.9, expectRuns: true) }
    func testSignedMapsDirect() throws { try check(bits: 6, zeroPoint: 32, zeroFraction: 0, expectRuns: false) }
    func testEightBitMaps() throws { try check(bits: 8, zeroPoint: 0, zeroFraction: 0.5, expectRuns: false) }
}
