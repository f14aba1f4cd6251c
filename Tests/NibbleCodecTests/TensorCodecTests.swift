@testable import NibbleCodec
import XCTest

/// Whole feature maps through `TensorCodec`: lossless on the quantized symbols, bounded by the worst case
/// whatever the data, and a damaged slot is a refusal, never an overrun.
final class TensorCodecTests: XCTestCase {
    func codec(bits: Int, count: Int, values: [Float], signed: Bool = false) throws -> TensorCodec {
        let q = try XCTUnwrap(values.withUnsafeBufferPointer { ActivationQuantizer.calibrated(samples: $0, bits: bits, signed: signed) })
        var stats = try XCTUnwrap(CodeStatistics(bits: bits, zeroSymbol: q.zeroPoint))
        values.withUnsafeBufferPointer { TensorCodec.forEachTile($0, quantizer: q) { stats.add(tile: $0) } }
        return try XCTUnwrap(TensorCodec(quantizer: q, table: HuffmanTable(statistics: stats), count: count))
    }

    /// ReLU-like maps of several sizes (one tile, a partial last tile, many tiles), bits 2…8: decode gives
    /// exactly dequantize(quantize(x)), within the worst case, smaller than raw for sparse maps.
    func testRoundTripEqualsQuantizeDequantize() throws {
        var rng = SplitMix64(seed: 7)
        for bits in [2, 3, 4, 6, 8] {
            for count in [1, 100, 4096, 4097, 3 * 4096 + 5] {
                let x: [Float] = (0..<count).map { _ in rng.unit() < 0.6 ? 0 : Float(rng.unit() * rng.unit() * 6) }
                let c = try codec(bits: bits, count: count, values: x)
                var slot = [UInt8](repeating: 0xAA, count: c.worstCaseBytes)
                var y = [Float](repeating: -1, count: count)
                var symbols = [UInt8](repeating: 0, count: TensorCodec.tileValues)
                let n = try XCTUnwrap(slot.withUnsafeMutableBytes { s in
                    symbols.withUnsafeMutableBufferPointer { c.encode(x, into: s, symbols: $0.baseAddress!) } })
                XCTAssertLessThanOrEqual(n, c.worstCaseBytes)
                XCTAssertTrue(slot.withUnsafeBytes { s in
                    y.withUnsafeMutableBufferPointer { yb in
                        symbols.withUnsafeMutableBufferPointer { c.decode(UnsafeRawBufferPointer(rebasing: s[0..<n]), into: yb.baseAddress!, symbols: $0.baseAddress!) } } })
                XCTAssertEqual(y, x.map { c.quantizer.dequantize(c.quantizer.quantize($0)) }, "bits \(bits) count \(count)")
                if count >= 4096 { XCTAssertLessThan(n, c.worstCaseBytes, "60 % zeros must compress (bits \(bits))") }
            }
        }
    }

    /// The directory's entries are as narrow as the tiles' worst case allows (1 byte up to 255, 2 up to 65,535, else
    /// 4), right at each edge: incompressible noise fills every tile to its bound, so the last entry holds the
    /// largest end there is, and sparse data must round-trip too.
    func testDirectoryEntriesAreAsNarrowAsTheBoundAllows() throws {
        var rng = SplitMix64(seed: 13)
        let fit: [Float] = (0..<5000).map { _ in rng.unit() < 0.9 ? 0 : Float(rng.unit()) }
        // 8 bits: a tile of n ≤ 4096 values is at most 1 + n bytes.
        for (count, width) in [(1, 1), (254, 1), (255, 2), (65_500, 2), (65_535, 4)] {
            let c = try codec(bits: 8, count: count, values: fit)
            XCTAssertEqual(c.entryBytes, width, "\(count) values")
            XCTAssertEqual(c.directoryBytes, width * c.tileCount)
            for sparse in [false, true] {
                let x: [Float] = (0..<count).map { _ in sparse ? (rng.unit() < 0.9 ? 0 : Float(rng.unit())) : Float(rng.unit() * 100) }
                var slot = [UInt8](repeating: 0xAA, count: c.worstCaseBytes)
                var symbols = [UInt8](repeating: 0, count: c.symbolBytes)
                var y = [Float](repeating: -1, count: count)
                let n = try XCTUnwrap(slot.withUnsafeMutableBytes { s in symbols.withUnsafeMutableBufferPointer { c.encode(x, into: s, symbols: $0.baseAddress!) } })
                if !sparse { XCTAssertEqual(n, c.worstCaseBytes, "noise fills the bound (\(count) values)") }
                XCTAssertEqual(slot.withUnsafeBytes { c.tileEnd(c.tileCount - 1, in: $0.baseAddress!) }, n - c.directoryBytes)
                XCTAssertTrue(slot.withUnsafeBytes { s in y.withUnsafeMutableBufferPointer { yb in symbols.withUnsafeMutableBufferPointer {
                    c.decode(UnsafeRawBufferPointer(rebasing: s[0..<n]), into: yb.baseAddress!, symbols: $0.baseAddress!) } } })
                XCTAssertEqual(y, x.map { c.quantizer.dequantize(c.quantizer.quantize($0)) }, "\(count) values, sparse \(sparse)")
            }
        }
    }

    /// Data the table was not fitted on (uniform noise, signed) falls back to raw tiles and still fits the bound.
    func testUnfittedDataStaysWithinTheWorstCase() throws {
        var rng = SplitMix64(seed: 9)
        let fit: [Float] = (0..<5000).map { _ in rng.unit() < 0.9 ? 0 : 0.1 }
        let c = try codec(bits: 4, count: 9000, values: fit, signed: true)
        let x: [Float] = (0..<9000).map { _ in Float(rng.unit() * 200 - 100) }
        var slot = [UInt8](repeating: 0, count: c.worstCaseBytes)
        var symbols = [UInt8](repeating: 0, count: TensorCodec.tileValues)
        let n = slot.withUnsafeMutableBytes { s in symbols.withUnsafeMutableBufferPointer { c.encode(x, into: s, symbols: $0.baseAddress!) } }
        XCTAssertEqual(n, c.worstCaseBytes, "noise is stored raw: exactly the bound")
        // One byte short of the bound is refused up front, never overrun.
        let short = slot.withUnsafeMutableBytes { s in
            symbols.withUnsafeMutableBufferPointer { c.encode(x, into: UnsafeMutableRawBufferPointer(rebasing: s[0..<(s.count - 1)]), symbols: $0.baseAddress!) } }
        XCTAssertNil(short)
    }

    /// Directory ends out of order or past the slot, or a damaged tile: decode says false.
    func testDamagedSlotsAreRefused() throws {
        let x: [Float] = (0..<9000).map { Float($0 % 5) }
        let c = try codec(bits: 4, count: x.count, values: x)
        var slot = [UInt8](repeating: 0, count: c.worstCaseBytes)
        var symbols = [UInt8](repeating: 0, count: TensorCodec.tileValues)
        let n = try XCTUnwrap(slot.withUnsafeMutableBytes { s in symbols.withUnsafeMutableBufferPointer { c.encode(x, into: s, symbols: $0.baseAddress!) } })
        func decodes(_ bytes: [UInt8]) -> Bool {
            var y = [Float](repeating: 0, count: x.count)
            return bytes.withUnsafeBytes { s in y.withUnsafeMutableBufferPointer { yb in
                symbols.withUnsafeMutableBufferPointer { c.decode(s, into: yb.baseAddress!, symbols: $0.baseAddress!) } } }
        }
        let good = Array(slot[0..<n])
        XCTAssertTrue(decodes(good))
        var pastEnd = good
        pastEnd.withUnsafeMutableBytes { c.setTileEnd(1, n + 100, in: $0.baseAddress!) }
        XCTAssertFalse(decodes(pastEnd))
        var outOfOrder = good
        outOfOrder.withUnsafeMutableBytes { c.setTileEnd(1, 0, in: $0.baseAddress!) }
        XCTAssertFalse(decodes(outOfOrder))
        var badHeader = good
        badHeader[c.directoryBytes] = 0x2F  // bits 2, mode 15
        XCTAssertFalse(decodes(badHeader))
        XCTAssertFalse(decodes(Array(good[0..<(n - 1)])), "truncated slot")
        XCTAssertFalse(decodes([]), "empty slot")
    }

    func testInitRefusesMismatchedTables() throws {
        let q4 = try XCTUnwrap(ActivationQuantizer(bits: 4, step: 0.5))
        let signed4 = try XCTUnwrap(ActivationQuantizer(bits: 4, step: 0.5, zeroPoint: 8))
        var stats = try XCTUnwrap(CodeStatistics(bits: 4))
        stats.add(tile: [0, 1, 2, 0])
        let table = HuffmanTable(statistics: stats)
        XCTAssertNotNil(TensorCodec(quantizer: q4, table: table, count: 10))
        XCTAssertNil(TensorCodec(quantizer: signed4, table: table, count: 10), "zero symbol differs from the zero point")
        XCTAssertNil(TensorCodec(quantizer: try XCTUnwrap(ActivationQuantizer(bits: 3, step: 1)), table: table, count: 10))
        XCTAssertNil(TensorCodec(quantizer: q4, table: table, count: 0))
    }
}
