@testable import NibbleCodec
import XCTest

final class TileCodecTests: XCTestCase {
    static let tileSize = 1024

    /// A codec calibrated on ReLU-like tiles (zeros 80 %, geometric magnitudes).
    func reluCodec(bits: Int, zeroFraction: Double = 0.8, ratio: Double = 0.6, seed: UInt64 = 1) -> TileCodec {
        let n = TileCodecTests.tileSize
        return TileCodec(table: Synthetic.table(bits: bits, tiles: 64, tileSize: n, make: {
            Synthetic.reluLike(count: n, bits: bits, zeroFraction: zeroFraction, ratio: ratio, rng: &$0)
        }, seed: seed))
    }

    func testBounds() {
        XCTAssertEqual(TileCodec.rawBytes(count: 0, bits: 4), 0)
        XCTAssertEqual(TileCodec.rawBytes(count: 3, bits: 3), 2)
        XCTAssertEqual(TileCodec.worstCaseBytes(count: 1024, bits: 4), 513)
        XCTAssertEqual(TileCodec.worstCaseBytes(count: 1, bits: 8), 2)
        XCTAssertNil(TileCodec.worstCaseBytes(count: -1, bits: 4))
        XCTAssertNil(TileCodec.worstCaseBytes(count: 10, bits: 1))
        XCTAssertNil(TileCodec.worstCaseBytes(count: 10, bits: 9))
        XCTAssertNil(TileCodec.worstCaseBytes(count: Int.max, bits: 8))
    }

    func testReLULikeRoundTripsInHuffmanMode() {
        var rng = SplitMix64(seed: 42)
        for bits in 2...8 {
            for zeroFraction in [0.7, 0.8, 0.9] {
                let codec = reluCodec(bits: bits, zeroFraction: zeroFraction)
                for _ in 0..<8 {
                    let tile = Synthetic.reluLike(count: TileCodecTests.tileSize, bits: bits,
                                                  zeroFraction: zeroFraction, ratio: 0.6, rng: &rng)
                    guard let r = codec.roundTrip(tile) else { return }
                    XCTAssertEqual(TileCodec.mode(of: r.bytes.withUnsafeBytes { $0 }), .huffman, "bits \(bits)")
                }
            }
        }
    }

    func testRandomDataRoundTrips() {
        var rng = SplitMix64(seed: 7)
        for bits in 2...8 {
            let codec = reluCodec(bits: bits)
            for count in [3, 17, 100, 1000, 4097] {
                // Uniform, and a mixture that lands on either side of the RAW decision.
                _ = codec.roundTrip(Synthetic.uniform(count: count, bits: bits, rng: &rng))
                let mixed = (0..<count).map { _ in
                    rng.unit() < 0.5 ? UInt8(0) : UInt8(rng.below(1 << bits))
                }
                _ = codec.roundTrip(mixed)
            }
        }
    }

    func testIncompressibleTileIsRaw() {
        var rng = SplitMix64(seed: 9)
        let codec = reluCodec(bits: 8)
        let tile = Synthetic.uniform(count: 4096, bits: 8, rng: &rng)
        guard let r = codec.roundTrip(tile) else { return }
        XCTAssertEqual(TileCodec.mode(of: r.bytes.withUnsafeBytes { $0 }), .raw)
        XCTAssertEqual(r.bytes.count, TileCodec.worstCaseBytes(count: 4096, bits: 8))
    }

    func testAllZeroAndAllMax() {
        for bits in [2, 4, 8] {
            let codec = reluCodec(bits: bits)
            for count in [1, 2, 63, 64, 65, 127, 128, 129, 1000, 4096] {
                guard let zeros = codec.roundTrip([UInt8](repeating: 0, count: count)) else { return }
                if count >= 64 {
                    XCTAssertEqual(TileCodec.mode(of: zeros.bytes.withUnsafeBytes { $0 }), .huffman)
                }
                _ = codec.roundTrip([UInt8](repeating: UInt8((1 << bits) - 1), count: count))
            }
        }
        // 4096 zeros at 4 bits: 64 LONG tokens, a few bytes instead of 2 KiB.
        let codec = reluCodec(bits: 4)
        if let r = codec.roundTrip([UInt8](repeating: 0, count: 4096)) {
            XCTAssertLessThanOrEqual(r.bytes.count, 1 + 64 * 15 / 8 + 1)
        }
    }

    func testUnseenSymbolsAreEscaped() {
        // Calibration saw only 0, 1, 2: every other symbol goes through ESCAPE + raw bits.
        let n = 512
        let table = Synthetic.table(bits: 6, tiles: 8, tileSize: n, make: { rng in
            (0..<n).map { _ in rng.unit() < 0.8 ? 0 : UInt8(1 + rng.below(2)) }
        }, seed: 3)
        XCTAssertEqual(table.valueCodeLengths[5], 0)
        XCTAssertNotEqual(table.valueCodeLengths[table.escapeSymbol], 0)
        let codec = TileCodec(table: table)
        var rng = SplitMix64(seed: 4)
        var tile = [UInt8](repeating: 0, count: n)
        for i in stride(from: 0, to: n, by: 9) { tile[i] = UInt8(3 + rng.below(61)) }
        guard let r = codec.roundTrip(tile) else { return }
        XCTAssertEqual(TileCodec.mode(of: r.bytes.withUnsafeBytes { $0 }), .huffman)
        // Every symbol value, escaped or not.
        _ = codec.roundTrip((0..<n).map { UInt8($0 % 64) })
    }

    func testTinyTiles() {
        for bits in [2, 5, 8] {
            let codec = reluCodec(bits: bits)
            let maxSymbol = UInt8((1 << bits) - 1)
            for tile in [[], [0], [1], [maxSymbol], [0, 0], [0, 1], [1, 0], [maxSymbol, maxSymbol]] as [[UInt8]] {
                guard let r = codec.roundTrip(tile) else { return }
                XCTAssertLessThanOrEqual(r.bytes.count, TileCodec.worstCaseBytes(count: tile.count, bits: bits)!)
            }
        }
    }

    func testLongZeroRuns() {
        let codec = reluCodec(bits: 4)
        var rng = SplitMix64(seed: 11)
        for run in [0, 1, 2, 62, 63, 64, 65, 127, 128, 129, 191, 192, 1000, 5000] {
            _ = codec.roundTrip([UInt8](repeating: 0, count: run) + [3])
            _ = codec.roundTrip([5] + [UInt8](repeating: 0, count: run))
            _ = codec.roundTrip([1] + [UInt8](repeating: 0, count: run) + [2] + [UInt8](repeating: 0, count: run))
        }
        // Runs of random lengths with random values between them.
        var tile: [UInt8] = []
        while tile.count < 20000 {
            tile += [UInt8](repeating: 0, count: rng.below(300))
            tile.append(UInt8(1 + rng.below(15)))
        }
        _ = codec.roundTrip(tile)
    }

    func testSignedMapsRunOnTheZeroPoint() {
        // Signed 4-bit: zero point 8 is the run symbol.
        let n = 1024
        let make: (inout SplitMix64) -> [UInt8] = { rng in
            (0..<n).map { _ in rng.unit() < 0.75 ? 8 : UInt8(rng.below(16)) }
        }
        let codec = TileCodec(table: Synthetic.table(bits: 4, zeroSymbol: 8, tiles: 16, tileSize: n, make: make, seed: 5))
        var rng = SplitMix64(seed: 6)
        for _ in 0..<8 {
            guard let r = codec.roundTrip(make(&rng)) else { return }
            XCTAssertEqual(TileCodec.mode(of: r.bytes.withUnsafeBytes { $0 }), .huffman)
        }
    }

    func testEncodeRejectsBadInput() {
        let codec = reluCodec(bits: 4)
        var small = [UInt8](repeating: 0, count: 10)
        let tile = [UInt8](repeating: 1, count: 100)
        XCTAssertNil(tile.withUnsafeBufferPointer { s in small.withUnsafeMutableBytes { codec.encode(s, into: $0) } })
        var big = [UInt8](repeating: 0, count: 200)
        for bad in [[16], [0, 0, 200], [UInt8](repeating: 0, count: 50) + [17], (0..<100).map { UInt8($0 % 16) } + [16]] as [[UInt8]] {
            XCTAssertNil(bad.withUnsafeBufferPointer { s in big.withUnsafeMutableBytes { codec.encode(s, into: $0) } })
        }
    }

    func testDecodeRejectsWrongHeaderAndLength() {
        let codec = reluCodec(bits: 4)
        var rng = SplitMix64(seed: 12)
        let tile = Synthetic.reluLike(count: 256, bits: 4, zeroFraction: 0.8, ratio: 0.6, rng: &rng)
        guard let r = codec.roundTrip(tile) else { return }
        var wrongBits = r.bytes
        wrongBits[0] = (5 << 4) | (wrongBits[0] & 0x0F)
        XCTAssertNil(codec.decodeExact(wrongBits, count: 256))
        var wrongMode = r.bytes
        wrongMode[0] = (4 << 4) | 2
        XCTAssertNil(codec.decodeExact(wrongMode, count: 256))
        XCTAssertNil(codec.decodeExact([], count: 0))
        XCTAssertNil(codec.decodeExact(r.bytes + [0], count: 256), "trailing byte")
        // The count is not in the stream (the runtime knows it from the shape): a wrong count may decode.
        for count in [0, 1, 255, 257, 1000] { _ = codec.decodeExact(r.bytes, count: count) }
        // A RAW tile with nonzero padding bits.
        XCTAssertNil(codec.decodeExact([(4 << 4) | 0, 0x12, 0x31], count: 3))
        XCTAssertEqual(codec.decodeExact([(4 << 4) | 0, 0x12, 0x30], count: 3), [1, 2, 3])
    }

    /// Every truncation and every single-bit flip of sample streams (Huffman with escapes, and RAW): the decoder
    /// returns true or false without trapping, reading from an exact-size heap block.
    func testTruncationsAndBitFlipsNeverCrash() {
        let n = 300
        let table = Synthetic.table(bits: 5, tiles: 8, tileSize: n, make: { rng in
            Synthetic.reluLike(count: n, bits: 5, zeroFraction: 0.8, ratio: 0.5, rng: &rng)
        }, seed: 13)
        let codec = TileCodec(table: table)
        var rng = SplitMix64(seed: 14)
        var huffmanTile = Synthetic.reluLike(count: n, bits: 5, zeroFraction: 0.8, ratio: 0.5, rng: &rng)
        huffmanTile[17] = 31; huffmanTile[200] = 30  // likely escapes
        huffmanTile.replaceSubrange(100..<250, with: [UInt8](repeating: 0, count: 150))
        let rawTile = Synthetic.uniform(count: n, bits: 5, rng: &rng)
        var failures = 0, trials = 0
        for tile in [huffmanTile, rawTile] {
            guard let r = codec.roundTrip(tile) else { return }
            for length in 0..<r.bytes.count {
                trials += 1
                if codec.decodeExact(Array(r.bytes[0..<length]), count: n) == nil { failures += 1 }
            }
            for bit in 0..<(r.bytes.count * 8) {
                var flipped = r.bytes
                flipped[bit / 8] ^= UInt8(1 << (bit % 8))
                trials += 1
                if let out = codec.decodeExact(flipped, count: n) {
                    XCTAssertEqual(out.count, n)
                    XCTAssertTrue(out.allSatisfy { $0 < 32 })
                } else {
                    failures += 1
                }
            }
        }
        // RAW flips inside the payload decode to other symbols; most Huffman damage is caught.
        print("corruption: \(failures) of \(trials) damaged streams rejected")
        XCTAssertGreaterThan(failures, 0)
    }

    /// Random byte strings as tiles: never a crash.
    func testRandomGarbageNeverCrashes() {
        let codec = reluCodec(bits: 3)
        var rng = SplitMix64(seed: 15)
        for _ in 0..<3000 {
            let length = rng.below(40)
            var bytes = (0..<length).map { _ in UInt8(rng.below(256)) }
            if length > 0 && rng.unit() < 0.7 { bytes[0] = (3 << 4) | 1 }
            _ = codec.decodeExact(bytes, count: rng.below(120))
        }
    }

    /// Achieved bits/value (header and padding included) against the order-0 entropy of the same tiles.
    func testBitsPerValueNearEntropy() {
        let n = 4096
        var report = ""
        for (bits, zeroFraction, ratio) in [(2, 0.8, 0.5), (4, 0.7, 0.6), (4, 0.8, 0.6), (4, 0.9, 0.6),
                                            (6, 0.8, 0.8), (8, 0.8, 0.9), (8, 0.9, 0.95)] {
            let make: (inout SplitMix64) -> [UInt8] = {
                Synthetic.reluLike(count: n, bits: bits, zeroFraction: zeroFraction, ratio: ratio, rng: &$0)
            }
            let codec = TileCodec(table: Synthetic.table(bits: bits, tiles: 32, tileSize: n, make: make, seed: 21))
            var rng = SplitMix64(seed: 22)  // held-out tiles
            var histogram = [UInt64](repeating: 0, count: 1 << bits)
            var totalBytes = 0
            let tiles = 32
            for _ in 0..<tiles {
                let tile = make(&rng)
                tile.withUnsafeBufferPointer { Entropy.accumulate($0, into: &histogram) }
                guard let r = codec.roundTrip(tile) else { return }
                totalBytes += r.bytes.count
            }
            let achieved = Double(totalBytes * 8) / Double(tiles * n)
            let entropy = Entropy.bitsPerValue(histogram)
            report += "bits \(bits) zeros \(zeroFraction) ratio \(ratio): achieved \(fmt(achieved)) b/v, "
                + "entropy \(fmt(entropy)) b/v, ratio \(fmt(achieved / entropy)), raw \(bits) b/v\n"
            XCTAssertLessThanOrEqual(achieved, entropy * 1.05, "bits \(bits) zeros \(zeroFraction)")
        }
        print(report)
    }

    func fmt(_ x: Double) -> String {
        let scaled = (x * 1000).rounded() / 1000
        return "\(scaled)"
    }
}
