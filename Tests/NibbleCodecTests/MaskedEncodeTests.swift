@testable import NibbleCodec
import XCTest

/// The run-table encoder (`encodeHuffman`, which finds values through a mask of nonzero symbols 64 at a time)
/// against a token-by-token reference written from `HuffmanTable`'s grammar: the same payload bytes, the same
/// verdict when the payload does not fit or a symbol is out of range.
final class MaskedEncodeTests: XCTestCase {
    /// Tokens of `tile` as (code, length) words, MSB first, zero-padded to a byte.
    static func referencePayload(_ table: HuffmanTable, _ tile: [UInt8]) -> [UInt8] {
        let run = table.runCode!, value = table.valueCode, zero = UInt8(table.zeroSymbol), escape = 1 << table.bits
        var bits: [Bool] = []
        func put(_ code: UInt32, _ length: Int) { for k in stride(from: length - 1, through: 0, by: -1) { bits.append(code >> UInt32(k) & 1 == 1) } }
        func putRun(_ r: Int) { put(UInt32(run.codes[r]), Int(run.lengths[r])) }
        var i = 0, zeros = 0
        while i < tile.count {
            if tile[i] == zero { zeros += 1; i += 1; continue }
            while zeros >= table.longRun { putRun(table.longRun); zeros -= table.longRun }
            putRun(zeros)
            zeros = 0
            let v = Int(tile[i])
            if value.lengths[v] != 0 { put(UInt32(value.codes[v]), Int(value.lengths[v])) }
            else { put(UInt32(value.codes[escape]), Int(value.lengths[escape])); put(UInt32(v), table.bits) }
            i += 1
        }
        while zeros >= table.longRun { putRun(table.longRun); zeros -= table.longRun }
        if zeros > 0 { putRun(zeros) }
        while bits.count % 8 != 0 { bits.append(false) }
        return stride(from: 0, to: bits.count, by: 8).map { b in (0..<8).reduce(UInt8(0)) { $0 << 1 | (bits[b + $1] ? 1 : 0) } }
    }

    func testMaskedEncoderWritesTheReferenceTokens() {
        var rng = SplitMix64(seed: 71)
        var checked = 0
        for t in 0..<150 {
            let table = HuffmanTable.runTable(MaskedEncodeTests.statistics(&rng))
            let codec = TileCodec(table: table)
            for count in [1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 300, 512, 1000] {
                let tile = MultiSymbolDecodeTests.randomTile(table, count: count, &rng)
                let expected = MaskedEncodeTests.referencePayload(table, tile)
                for capacity in [expected.count + 8, expected.count, max(0, expected.count - 1)] {
                    let out = UnsafeMutablePointer<UInt8>.allocate(capacity: max(capacity, 1))
                    defer { out.deallocate() }
                    let result = tile.withUnsafeBufferPointer { codec.encodeHuffman($0.baseAddress!, count: count, into: out, capacity: capacity) }
                    switch result {
                    case .written(let bytes):
                        XCTAssertEqual(Array(UnsafeBufferPointer(start: out, count: bytes)), expected, "table \(t) count \(count)")
                        checked += 1
                    case .doesNotFit:
                        XCTAssertLessThan(capacity, expected.count, "table \(t) count \(count) capacity \(capacity)")
                    case .invalidSymbol:
                        XCTFail("table \(t) count \(count): no symbol is out of range")
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 1000)
    }

    func testOutOfRangeSymbolsAreRefused() {
        var rng = SplitMix64(seed: 72)
        var table = HuffmanTable.runTable(MaskedEncodeTests.statistics(&rng))
        while table.bits == 8 { table = HuffmanTable.runTable(MaskedEncodeTests.statistics(&rng)) }  // 8 bits: every byte is a symbol
        let codec = TileCodec(table: table)
        var tile = MultiSymbolDecodeTests.randomTile(table, count: 200, &rng)
        tile[137] = UInt8(1 << table.bits)
        let out = UnsafeMutablePointer<UInt8>.allocate(capacity: 1024)
        defer { out.deallocate() }
        guard case .invalidSymbol = tile.withUnsafeBufferPointer({ codec.encodeHuffman($0.baseAddress!, count: 200, into: out, capacity: 1024) })
        else { return XCTFail("a symbol ≥ 2^bits must be refused") }
    }

    /// Run-table statistics as `MultiSymbolDecodeTests.randomTable` draws them (any zero symbol and LONG length).
    static func statistics(_ rng: inout SplitMix64) -> CodeStatistics {
        let bits = 2 + rng.below(7)
        let zero = rng.unit() < 0.5 ? 0 : rng.below(1 << bits)
        var stats = CodeStatistics(bits: bits, zeroSymbol: zero, longRun: [2, 5, 9, 64, 255][rng.below(5)])!
        let zeros = 0.9 * rng.unit()
        for _ in 0..<3 {
            stats.add(tile: (0..<400).map { _ in rng.unit() < zeros ? UInt8(zero) : UInt8(rng.below(1 << bits)) })
        }
        return stats
    }
}
