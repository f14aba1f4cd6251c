@testable import NibbleCodec
import XCTest

/// The multi-symbol decode path (`MultiSymbolTable`) against token-by-token decoding of the same bytes
/// (`decode(_:into:fast: false)`): the same verdict on every stream and, when both accept, the same symbols.
final class MultiSymbolDecodeTests: XCTestCase {
    /// Decodes `bytes` as `count` symbols both ways from exact-size heap blocks and checks they agree.
    /// Returns the fast path's symbols, nil when both reject.
    @discardableResult
    func agree(_ codec: TileCodec, _ bytes: [UInt8], count: Int, _ what: @autoclosure () -> String,
               file: StaticString = #filePath, line: UInt = #line) -> [UInt8]? {
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { input.deallocate() }
        bytes.withUnsafeBytes { input.copyMemory(from: $0) }
        var results: [[UInt8]?] = []
        for fast in [true, false] {
            let output = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: count)
            defer { output.deallocate() }
            output.initialize(repeating: 0xEE)
            results.append(codec.decode(UnsafeRawBufferPointer(input), into: output, fast: fast) ? Array(output) : nil)
        }
        XCTAssertEqual(results[0], results[1], what(), file: file, line: line)
        return results[0]
    }

    /// Tables with code lengths up to 15 (random dyadic-ish counts), escapes, runs or direct, any zero symbol.
    static func randomTable(_ rng: inout SplitMix64) -> HuffmanTable {
        let bits = 2 + rng.below(7)
        let zero = rng.unit() < 0.5 ? 0 : rng.below(1 << bits)
        var stats = CodeStatistics(bits: bits, zeroSymbol: zero, longRun: [2, 5, 9, 64, 255][rng.below(5)])!
        let skew = 0.3 + 0.65 * rng.unit(), zeros = 0.9 * rng.unit()
        for _ in 0..<4 {
            // Geometric magnitudes with a few seen symbols left out (escaped).
            let tile = (0..<600).map { _ -> UInt8 in
                if rng.unit() < zeros { return UInt8(zero) }
                var s = 0
                while s < (1 << bits) - 1 && rng.unit() < skew { s += 1 }
                return UInt8(s)
            }
            stats.add(tile: tile)
        }
        return rng.unit() < 0.5 ? HuffmanTable(statistics: stats) : HuffmanTable.runTable(stats)
    }

    /// Tiles shaped like the table's data plus rare symbols (escapes), long zero runs and uniform noise.
    static func randomTile(_ table: HuffmanTable, count: Int, _ rng: inout SplitMix64) -> [UInt8] {
        let top = 1 << table.bits, zero = UInt8(table.zeroSymbol)
        var tile = [UInt8](repeating: zero, count: count)
        let density = rng.unit()
        var i = 0
        while i < count {
            if rng.unit() < 0.03 { i += rng.below(300); continue }  // a long run (LONG tokens)
            if rng.unit() < density { tile[i] = UInt8(rng.below(top)) }
            else if rng.unit() < 0.5 { tile[i] = UInt8(min(top - 1, table.zeroSymbol + 1)) }
            i += 1
        }
        return tile
    }

    func testFastPathMatchesTokenByTokenOnRandomTablesAndTiles() {
        var rng = SplitMix64(seed: 61)
        var huffmanTiles = 0, fastGroups = 0
        for t in 0..<120 {
            let table = MultiSymbolDecodeTests.randomTable(&rng)
            fastGroups += table.multi.filter { $0 != 0 }.count
            let codec = TileCodec(table: table)
            for count in [0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 63, 64, 65, 300, 512, 4096] where count <= 512 || t % 8 == 0 {
                let tile = MultiSymbolDecodeTests.randomTile(table, count: count, &rng)
                guard let r = codec.roundTrip(tile) else { return }
                if TileCodec.mode(of: r.bytes.withUnsafeBytes { $0 }) == .huffman { huffmanTiles += 1 }
                XCTAssertEqual(agree(codec, r.bytes, count: count, "table \(t) count \(count)"), tile)
                // Wrong counts around the true one (the count is not in the stream).
                for wrong in [count - 1, count + 1, count + 8] where wrong >= 0 {
                    agree(codec, r.bytes, count: wrong, "table \(t) count \(count) read as \(wrong)")
                }
            }
        }
        XCTAssertGreaterThan(huffmanTiles, 500)
        XCTAssertGreaterThan(fastGroups, 0)
    }

    func testEveryTableEntryDecodesLikeItsTokens() {
        // Each nonzero entry, fed alone as a payload (its bits, then zero padding), decodes to the symbols the entry
        // claims — checked through the reference on the same bytes.
        var rng = SplitMix64(seed: 62)
        for _ in 0..<20 {
            let table = MultiSymbolDecodeTests.randomTable(&rng)
            let codec = TileCodec(table: table)
            for x in stride(from: 0, to: 1 << MultiSymbolTable.bits, by: 7) {
                let bits = UInt16(x << 5)  // 11 bits left-aligned in 16
                let payload = [UInt8(bits >> 8), UInt8(bits & 0xFF), 0, 0, 0, 0]
                for count in [1, 4, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 40, 60] {
                    let bytes = [UInt8(table.bits << 4) | TileCodec.Mode.huffman.rawValue] + payload
                    agree(codec, bytes, count: count, "entry \(x) count \(count)")
                }
            }
        }
    }

    func testCorruptedAndTruncatedStreamsGetTheSameVerdict() {
        var rng = SplitMix64(seed: 63)
        var rejected = 0, trials = 0
        for t in 0..<24 {
            let table = MultiSymbolDecodeTests.randomTable(&rng)
            let codec = TileCodec(table: table)
            let count = [40, 100, 257][t % 3]
            guard let r = codec.roundTrip(MultiSymbolDecodeTests.randomTile(table, count: count, &rng)) else { return }
            for length in 0..<r.bytes.count {
                trials += 1
                if agree(codec, Array(r.bytes[0..<length]), count: count, "truncated to \(length)") == nil { rejected += 1 }
            }
            for bit in 0..<(r.bytes.count * 8) {
                var flipped = r.bytes
                flipped[bit / 8] ^= UInt8(1 << (bit % 8))
                trials += 1
                if agree(codec, flipped, count: count, "table \(t) bit \(bit)") == nil { rejected += 1 }
            }
            for _ in 0..<100 {
                var garbage = (0..<rng.below(60)).map { _ in UInt8(rng.below(256)) }
                if !garbage.isEmpty { garbage[0] = UInt8(table.bits << 4) | TileCodec.Mode.huffman.rawValue }
                agree(codec, garbage, count: rng.below(200), "garbage")
            }
        }
        XCTAssertGreaterThan(rejected, trials / 10)
    }
}
