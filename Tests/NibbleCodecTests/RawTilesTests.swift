@testable import NibbleCodec
import XCTest

/// RAW payloads (`RawSymbols`, word at a time) against a bit-by-bit twin, and codecs that store RAW tiles only.
final class RawTilesTests: XCTestCase {
    /// The RAW payload bit by bit: symbols MSB first, `bits` each, zero-padded.
    func referencePack(_ s: [UInt8], bits: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: (s.count * bits + 7) / 8)
        for (i, v) in s.enumerated() {
            for b in 0..<bits where Int(v) >> (bits - 1 - b) & 1 == 1 {
                let bit = i * bits + b
                out[bit / 8] |= 0x80 >> UInt8(bit % 8)
            }
        }
        return out
    }

    func testPackAndUnpackMatchTheBitByBitLayout() {
        var rng = SplitMix64(seed: 31)
        for bits in 2...8 {
            for count in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 511, 512, 513] {
                let s = Synthetic.uniform(count: count, bits: bits, rng: &rng)
                let expected = referencePack(s, bits: bits)
                // Exact-size buffers: the word stores must stay inside them.
                var packed = [UInt8](repeating: 0xA5, count: expected.count)
                let ok = s.withUnsafeBufferPointer { src in
                    packed.withUnsafeMutableBufferPointer { RawSymbols.pack(src.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: count, bits: bits, into: $0.baseAddress ?? UnsafeMutablePointer(bitPattern: 1)!) }
                }
                XCTAssertTrue(ok)
                XCTAssertEqual(packed, expected, "bits \(bits) count \(count)")
                var unpacked = [UInt8](repeating: 0xA5, count: count)
                let decoded = expected.withUnsafeBufferPointer { src in
                    unpacked.withUnsafeMutableBufferPointer {
                        RawSymbols.unpack(src.baseAddress ?? UnsafePointer(bitPattern: 1)!, byteCount: expected.count, bits: bits,
                                          into: $0.baseAddress ?? UnsafeMutablePointer(bitPattern: 1)!, count: count)
                    }
                }
                XCTAssertTrue(decoded)
                XCTAssertEqual(unpacked, s, "bits \(bits) count \(count)")
            }
        }
    }

    func testPackRejectsSymbolsOutOfRangeInWordsAndTail() {
        for bits in 2...7 {
            for (count, at) in [(16, 3), (16, 15), (13, 10), (5, 4)] {
                var s = [UInt8](repeating: 1, count: count)
                s[at] = UInt8(1 << bits)
                var out = [UInt8](repeating: 0, count: (count * bits + 7) / 8)
                let ok = s.withUnsafeBufferPointer { src in
                    out.withUnsafeMutableBufferPointer { RawSymbols.pack(src.baseAddress!, count: count, bits: bits, into: $0.baseAddress!) }
                }
                XCTAssertFalse(ok, "bits \(bits): symbol \(1 << bits) at \(at) of \(count)")
            }
        }
    }

    func testUnpackRejectsNonzeroPadding() {
        // 9 symbols of 3 bits: 27 bits in 4 bytes, the last 5 bits padding (after one whole 3-byte group).
        let s: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 0, 5]
        var bytes = referencePack(s, bits: 3)
        var out = [UInt8](repeating: 0, count: 9)
        func unpack() -> Bool {
            bytes.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { RawSymbols.unpack(src.baseAddress!, byteCount: src.count, bits: 3, into: $0.baseAddress!, count: 9) }
            }
        }
        XCTAssertTrue(unpack())
        XCTAssertEqual(out, s)
        bytes[3] |= 1
        XCTAssertFalse(unpack())
    }

    /// A codec that stores RAW tiles writes every tile RAW, even one Huffman would shrink, and any codec of the same
    /// table decodes it to the same symbols.
    func testStoringRawTilesWritesRawAndDecodesTheSame() {
        let n = 1000
        var rng = SplitMix64(seed: 5)
        for bits in [2, 4, 5, 8] {
            let table = Synthetic.table(bits: bits, tiles: 16, tileSize: n, make: {
                Synthetic.reluLike(count: n, bits: bits, zeroFraction: 0.8, ratio: 0.5, rng: &$0)
            }, seed: 3)
            let coded = TileCodec(table: table), raw = TileCodec(table: table, storesRaw: true)
            let tile = Synthetic.reluLike(count: n, bits: bits, zeroFraction: 0.8, ratio: 0.5, rng: &rng)
            guard let a = coded.roundTrip(tile), let b = raw.roundTrip(tile) else { return }
            XCTAssertEqual(TileCodec.mode(of: a.bytes.withUnsafeBytes { $0 }), .huffman)
            XCTAssertEqual(TileCodec.mode(of: b.bytes.withUnsafeBytes { $0 }), .raw)
            XCTAssertEqual(b.bytes.count, TileCodec.worstCaseBytes(count: n, bits: bits))
            XCTAssertEqual(coded.decodeExact(b.bytes, count: n), tile)
            XCTAssertEqual(b.decoded, tile)
        }
    }

    func testTensorAndMapCodecsKeepTheirBoundWhenStoringRaw() {
        let shape = [1, 8, 6, 10]
        let table = Synthetic.table(bits: 4, tiles: 4, tileSize: 0, make: { Synthetic.reluLike(count: 100, bits: 4, zeroFraction: 0.7, ratio: 0.5, rng: &$0) }, seed: 2)
        guard let q = ActivationQuantizer(bits: 4, step: 0.25, zeroPoint: 0),
              let codec = TensorCodec(quantizer: q, table: table, shape: shape) else { return XCTFail("codec") }
        let raw = MapCodec.cat(codec).storing(rawTiles: true)
        XCTAssertTrue(raw.storesRaw)
        XCTAssertFalse(MapCodec.cat(codec).storesRaw)
        XCTAssertEqual(raw.worstCaseBytes, codec.worstCaseBytes)
        var rng = SplitMix64(seed: 8)
        let values = (0..<480).map { _ in rng.unit() < 0.6 ? Float(0) : Float(rng.unit() * 3) }
        var slot = [UInt8](repeating: 0, count: codec.worstCaseBytes)
        var scratch = [UInt8](repeating: 0, count: raw.scratchBytes)
        var a = values, b = [Float](repeating: -1, count: 480), c = [Float](repeating: -1, count: 480)
        let written = slot.withUnsafeMutableBytes { s in scratch.withUnsafeMutableBufferPointer { raw.encode(&a, into: s, scratch: $0.baseAddress!) } }
        XCTAssertEqual(written, codec.worstCaseBytes, "every tile at its RAW bound")
        XCTAssertTrue(slot.withUnsafeBytes { s in scratch.withUnsafeMutableBufferPointer { raw.decode(s, into: &b, scratch: $0.baseAddress!) } })
        XCTAssertTrue(slot.withUnsafeBytes { s in scratch.withUnsafeMutableBufferPointer { MapCodec.cat(codec).decode(s, into: &c, scratch: $0.baseAddress!) } })
        XCTAssertEqual(b, values.map { q.dequantize(q.quantize($0)) })
        XCTAssertEqual(c, b)
    }
}
