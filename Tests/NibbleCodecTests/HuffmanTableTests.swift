@testable import NibbleCodec
import XCTest

final class HuffmanTableTests: XCTestCase {
    func sampleTable(bits: Int = 4) -> HuffmanTable {
        let n = 1024
        return Synthetic.table(bits: bits, tiles: 16, tileSize: n, make: {
            Synthetic.reluLike(count: n, bits: bits, zeroFraction: 0.8, ratio: 0.6, rng: &$0)
        }, seed: 31)
    }

    func kraft(_ lengths: [UInt8]) -> Int {
        lengths.reduce(0) { $1 == 0 ? $0 : $0 + (1 << (15 - Int($1))) }
    }

    func testSerializationRoundTrips() {
        for bits in 2...8 {
            let table = sampleTable(bits: bits)
            let bytes = table.serialized()
            XCTAssertEqual(bytes.count, table.serializedByteCount)
            XCTAssertEqual(bytes.count, 4 + (1 << bits) + 1 + 65)
            XCTAssertEqual(HuffmanTable(serialized: bytes), table)
            XCTAssertLessThanOrEqual(kraft(table.valueCodeLengths), 1 << 15)
            XCTAssertLessThanOrEqual(kraft(table.runCodeLengths), 1 << 15)
        }
        var small = [UInt8](repeating: 0, count: 10)
        XCTAssertNil(small.withUnsafeMutableBytes { sampleTable().serialize(into: $0) })
    }

    func testMalformedTablesAreRejected() {
        let good = sampleTable(bits: 4).serialized()
        let valueStart = 4, runStart = 4 + 17
        func rejects(_ why: String, _ edit: (inout [UInt8]) -> Void) {
            var bytes = good
            edit(&bytes)
            XCTAssertNil(HuffmanTable(serialized: bytes), why)
        }
        rejects("version 2 (direct) with run lengths") { $0[0] = 2 }
        rejects("bits 1") { $0[1] = 1 }
        rejects("bits 9") { $0[1] = 9 }
        rejects("bits 5 with 4-bit lengths") { $0[1] = 5 }
        rejects("zero symbol out of range") { $0[2] = 16 }
        rejects("zero symbol with a code") { $0[2] = 1 }
        rejects("longRun 1") { $0[3] = 1 }
        rejects("longRun 63 with 65 run lengths") { $0[3] = 63 }
        rejects("length 16") { $0[valueStart + 1] = 16 }
        rejects("escape without a code while symbol 15 has none") { $0[valueStart + 16] = 0; $0[valueStart + 15] = 0 }
        rejects("run symbol without a code") { $0[runStart + 5] = 0 }
        rejects("LONG without a code") { $0[runStart + 64] = 0 }
        rejects("Kraft > 1") { for i in 1...16 { $0[valueStart + i] = 1 } }
        rejects("Kraft > 1 in the run code") { $0[runStart] = 1; $0[runStart + 1] = 1 }
        rejects("trailing byte") { $0.append(0) }
        for length in 0..<good.count {
            XCTAssertNil(HuffmanTable(serialized: Array(good[0..<length])), "truncated to \(length)")
        }
    }

    /// Random damage: a table is either rejected or, if accepted, still codes tiles exactly.
    func testDamagedTablesAreRejectedOrUsable() {
        let good = sampleTable(bits: 3).serialized()
        var rng = SplitMix64(seed: 33)
        var rejected = 0
        for _ in 0..<2000 {
            var bytes = good
            for _ in 0..<(1 + rng.below(3)) { bytes[rng.below(bytes.count)] = UInt8(rng.below(256)) }
            guard let table = HuffmanTable(serialized: bytes) else { rejected += 1; continue }
            let codec = TileCodec(table: table)
            let tile = Synthetic.reluLike(count: 200, bits: table.bits, zeroFraction: 0.8, ratio: 0.5, rng: &rng)
                .map { $0 == UInt8(table.zeroSymbol) ? 0 : ($0 == 0 ? UInt8(table.zeroSymbol) : $0) }
            _ = codec.roundTrip(tile)
        }
        XCTAssertGreaterThan(rejected, 0)
    }

    func testLengthsAreLimitedTo15Bits() {
        // Fibonacci counts make a maximally skewed Huffman tree (depth ≈ alphabet size).
        var counts = [UInt64](repeating: 0, count: 40)
        var a: UInt64 = 1, b: UInt64 = 1
        for i in 0..<40 { counts[i] = a; (a, b) = (b, a + b) }
        let lengths = CanonicalCode.lengths(for: counts)
        XCTAssertEqual(lengths.max(), 15)
        XCTAssertTrue(lengths.allSatisfy { $0 >= 1 })
        XCTAssertLessThanOrEqual(kraft(lengths), 1 << 15)
        XCTAssertNotNil(CanonicalCode(lengths: lengths))
        // More frequent never gets a longer code.
        for i in 1..<40 { XCTAssertLessThanOrEqual(lengths[i], lengths[i - 1]) }

        // A table built from such statistics codes tiles exactly, including 15-bit (slow path) codes.
        var stats = CodeStatistics(bits: 6)!
        var tile: [UInt8] = []
        for s in 1..<40 { tile += [UInt8](repeating: UInt8(s), count: Int(min(counts[s], 5000))) + [0] }
        stats.add(tile: tile)
        let table = HuffmanTable(statistics: stats)
        XCTAssertLessThanOrEqual(table.valueCodeLengths.max()!, 15)
        XCTAssertGreaterThan(table.valueCodeLengths.max()!, UInt8(CanonicalCode.lookupBits))
        let codec = TileCodec(table: table)
        _ = codec.roundTrip((1..<64).map { UInt8($0) } + [0, 0, 0] + (1..<40).map { UInt8($0) })
    }

    func testEscapeIsOmittedOnlyWhenEverySymbolHasACode() {
        var all = CodeStatistics(bits: 2)!
        all.add(tile: [0, 0, 1, 0, 2, 0, 0, 3, 1, 1])
        let complete = HuffmanTable.runTable(all)
        XCTAssertEqual(complete.valueCodeLengths, [0, 1, 2, 2, 0])
        let direct = HuffmanTable(statistics: all)  // cheaper on these 10 symbols than run tokens
        XCTAssertFalse(direct.hasRuns)
        XCTAssertEqual(direct.valueCodeLengths[4], 0, "every symbol seen: no ESCAPE")
        var partial = CodeStatistics(bits: 2)!
        partial.add(tile: [0, 0, 1, 0, 2, 0, 0, 1, 1])
        for escaped in [HuffmanTable.runTable(partial), HuffmanTable(statistics: partial)] {
            XCTAssertEqual(escaped.valueCodeLengths[3], 0)
            XCTAssertNotEqual(escaped.valueCodeLengths[4], 0)
            _ = TileCodec(table: escaped).roundTrip([3, 0, 3, 3, 0, 0, 1, 2, 3])
        }
        _ = TileCodec(table: complete).roundTrip([3, 0, 3, 3, 0, 0, 1, 2, 3])
        _ = TileCodec(table: direct).roundTrip([3, 0, 3, 3, 0, 0, 1, 2, 3])
    }

    func testUnlimitedHuffmanIsOptimalForDyadicCounts() {
        XCTAssertEqual(CanonicalCode.lengths(for: [8, 4, 2, 1, 1]), [1, 2, 3, 4, 4])
        XCTAssertEqual(CanonicalCode.lengths(for: [0, 5, 0]), [0, 1, 0])
        XCTAssertEqual(CanonicalCode.lengths(for: [0, 0]), [0, 0])
    }

    func testStatisticsTokenizeLikeTheEncoder() {
        var stats = CodeStatistics(bits: 4, longRun: 4)!
        // runs: 0 then 3; 2 zeros then 5; 9 zeros = LONG LONG RUN_1 then 1; trailing 4 zeros = LONG.
        XCTAssertTrue(stats.add(tile: [3, 0, 0, 5] + [UInt8](repeating: 0, count: 9) + [1, 0, 0, 0, 0]))
        XCTAssertEqual(stats.runTokenCounts, [1, 1, 1, 0, 3])
        XCTAssertEqual(stats.valueTokenCounts[3], 1)
        XCTAssertEqual(stats.valueTokenCounts[5], 1)
        XCTAssertEqual(stats.valueTokenCounts[1], 1)
        XCTAssertEqual(stats.symbolHistogram[0], 15)
        XCTAssertFalse(stats.add(tile: [16]))
        XCTAssertNil(CodeStatistics(bits: 9))
        XCTAssertNil(CodeStatistics(bits: 4, zeroSymbol: 16))
    }
}
