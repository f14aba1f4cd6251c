@testable import NibbleCodec
import XCTest

/// Direct tables (format version 2, no run tokens): chosen for maps with rare zeros, where a run token before
/// every value would cost a whole bit (HuffmanTable's header comment).
final class DirectTableTests: XCTestCase {
    /// Signed, bell-shaped symbols around `zeroPoint`: a pre-add or projection map, few exact zeros.
    static func signedLike(count: Int, bits: Int, spread: Double, rng: inout SplitMix64) -> [UInt8] {
        let zeroPoint = 1 << (bits - 1)
        return (0..<count).map { _ in
            // Sum of 4 uniforms: roughly normal, std ≈ spread.
            let g = ((0..<4).reduce(0.0) { s, _ in s + rng.unit() } - 2) * spread * 1.732
            return UInt8(max(0, min((1 << bits) - 1, zeroPoint + Int(g.rounded()))))
        }
    }

    func signedTable(bits: Int, spread: Double, seed: UInt64, n: Int = 1024) -> HuffmanTable {
        Synthetic.table(bits: bits, zeroSymbol: 1 << (bits - 1), tiles: 16, tileSize: n, make: {
            DirectTableTests.signedLike(count: n, bits: bits, spread: spread, rng: &$0)
        }, seed: seed)
    }

    func testStatisticsPickDirectForRareZerosAndRunsForReLUMaps() {
        XCTAssertFalse(signedTable(bits: 6, spread: 6, seed: 1).hasRuns)
        let relu = Synthetic.table(bits: 4, tiles: 16, tileSize: 1024, make: {
            Synthetic.reluLike(count: 1024, bits: 4, zeroFraction: 0.8, ratio: 0.6, rng: &$0)
        }, seed: 2)
        XCTAssertTrue(relu.hasRuns)
    }

    func testSerializationRoundTripsAndMalformedDirectTablesAreRejected() {
        for bits in 2...8 {
            let table = signedTable(bits: bits, spread: Double(1 << bits) / 6, seed: UInt64(bits))
            XCTAssertFalse(table.hasRuns, "bits \(bits)")
            let bytes = table.serialized()
            XCTAssertEqual(bytes.count, 4 + (1 << bits) + 1)
            XCTAssertEqual(bytes[0], HuffmanTable.directVersion)
            XCTAssertEqual(HuffmanTable(serialized: bytes), table)
        }
        let good = signedTable(bits: 4, spread: 3, seed: 9).serialized()
        func rejects(_ why: String, _ edit: (inout [UInt8]) -> Void) {
            var bytes = good
            edit(&bytes)
            XCTAssertNil(HuffmanTable(serialized: bytes), why)
        }
        rejects("version 3") { $0[0] = 3 }
        rejects("version 1 without run lengths") { $0[0] = 1 }
        rejects("nonzero long run") { $0[3] = 64 }
        rejects("trailing byte") { $0.append(0) }
        rejects("zero point out of range") { $0[2] = 16 }
        rejects("Kraft > 1") { for i in 4..<21 { $0[i] = 1 } }
        rejects("a symbol without a code and no escape") { $0[4 + 16] = 0; $0[4] = 0 }
        for length in 0..<good.count { XCTAssertNil(HuffmanTable(serialized: Array(good[0..<length])), "truncated to \(length)") }
    }

    func testRoundTripsBitExactWithEscapesZerosAndRawFallback() {
        let n = 777  // not a multiple of 8 or 64
        let table = signedTable(bits: 5, spread: 2, seed: 3, n: n)
        XCTAssertFalse(table.hasRuns)
        XCTAssertEqual(table.valueCodeLengths[0], 0, "far tail unseen in calibration: escaped")
        let codec = TileCodec(table: table)
        var rng = SplitMix64(seed: 4)
        for _ in 0..<8 {
            guard let r = codec.roundTrip(DirectTableTests.signedLike(count: n, bits: 5, spread: 2, rng: &rng)) else { return }
            XCTAssertEqual(TileCodec.mode(of: r.bytes.withUnsafeBytes { $0 }), .huffman)
        }
        _ = codec.roundTrip((0..<n).map { UInt8($0 % 32) })                     // every symbol, escapes included
        _ = codec.roundTrip([UInt8](repeating: 16, count: n))                   // all zero point
        let noise = codec.roundTrip(Synthetic.uniform(count: n, bits: 5, rng: &rng))
        XCTAssertEqual(noise.map { TileCodec.mode(of: $0.bytes.withUnsafeBytes { $0 }) }, .raw)
        for count in [1, 2, 3, 9] { _ = codec.roundTrip(DirectTableTests.signedLike(count: count, bits: 5, spread: 2, rng: &rng)) }
    }

    func testDamagedDirectStreamsNeverCrash() {
        let n = 300
        let codec = TileCodec(table: signedTable(bits: 4, spread: 2, seed: 5, n: n))
        var rng = SplitMix64(seed: 6)
        guard let r = codec.roundTrip(DirectTableTests.signedLike(count: n, bits: 4, spread: 2, rng: &rng)) else { return }
        var rejected = 0
        for length in 0..<r.bytes.count where codec.decodeExact(Array(r.bytes[0..<length]), count: n) == nil { rejected += 1 }
        XCTAssertEqual(rejected, r.bytes.count, "every truncation is refused")
        for bit in 0..<(r.bytes.count * 8) {
            var flipped = r.bytes
            flipped[bit / 8] ^= UInt8(1 << (bit % 8))
            if let out = codec.decodeExact(flipped, count: n) { XCTAssertTrue(out.allSatisfy { $0 < 16 }) }
        }
    }

    /// The case direct tables exist for: a run-token code would sit about a bit over the entropy here.
    func testSignedMapsCodeNearTheirEntropy() {
        let n = 4096
        for (bits, spread) in [(4, 1.5), (6, 6.0), (8, 20.0)] {
            let make: (inout SplitMix64) -> [UInt8] = { DirectTableTests.signedLike(count: n, bits: bits, spread: spread, rng: &$0) }
            let codec = TileCodec(table: Synthetic.table(bits: bits, zeroSymbol: 1 << (bits - 1), tiles: 32, tileSize: n, make: make, seed: 7))
            var rng = SplitMix64(seed: 8)
            var histogram = [UInt64](repeating: 0, count: 1 << bits)
            var bytes = 0
            for _ in 0..<16 {
                let tile = make(&rng)
                tile.withUnsafeBufferPointer { Entropy.accumulate($0, into: &histogram) }
                guard let r = codec.roundTrip(tile) else { return }
                bytes += r.bytes.count
            }
            let achieved = Double(bytes * 8) / Double(16 * n)
            XCTAssertLessThanOrEqual(achieved, Entropy.bitsPerValue(histogram) * 1.05, "bits \(bits) spread \(spread)")
        }
    }
}
