import Foundation
@testable import NibbleCodec
import XCTest

/// Deterministic generator (SplitMix64) so every test sees the same data on every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

enum Synthetic {
    /// ReLU-like symbols: zero with probability `zeroFraction`, else 1 + Geometric(ratio), clamped to the max.
    static func reluLike(count: Int, bits: Int, zeroFraction: Double, ratio: Double,
                         rng: inout SplitMix64) -> [UInt8] {
        let maxSymbol = (1 << bits) - 1
        var out = [UInt8](repeating: 0, count: count)
        for i in 0..<count where rng.unit() >= zeroFraction {
            var m = 1
            while m < maxSymbol && rng.unit() < ratio { m += 1 }
            out[i] = UInt8(m)
        }
        return out
    }

    static func uniform(count: Int, bits: Int, rng: inout SplitMix64) -> [UInt8] {
        (0..<count).map { _ in UInt8(rng.below(1 << bits)) }
    }

    /// Calibrates a table on `tiles` tiles of `tileSize` symbols from `make`.
    static func table(bits: Int, zeroSymbol: Int = 0, tiles: Int, tileSize: Int,
                      make: (inout SplitMix64) -> [UInt8], seed: UInt64) -> HuffmanTable {
        var rng = SplitMix64(seed: seed)
        var stats = CodeStatistics(bits: bits, zeroSymbol: zeroSymbol)!
        for _ in 0..<tiles {
            let tile = make(&rng)
            precondition(tile.count == tileSize || tileSize == 0)
            XCTAssertTrue(stats.add(tile: tile))
        }
        return HuffmanTable(statistics: stats)
    }
}

extension TileCodec {
    /// Encodes into a buffer of exactly worstCaseBytes, checks the size bound, decodes from an exact-size copy,
    /// and returns the encoded bytes and the decoded symbols.
    func roundTrip(_ symbols: [UInt8], file: StaticString = #filePath, line: UInt = #line)
        -> (bytes: [UInt8], decoded: [UInt8])? {
        guard let worst = TileCodec.worstCaseBytes(count: symbols.count, bits: bits) else {
            XCTFail("no bound", file: file, line: line); return nil
        }
        var buffer = [UInt8](repeating: 0xAA, count: worst)
        let written = symbols.withUnsafeBufferPointer { s in
            buffer.withUnsafeMutableBytes { encode(s, into: $0) }
        }
        guard let written else { XCTFail("encode failed", file: file, line: line); return nil }
        XCTAssertLessThanOrEqual(written, worst, file: file, line: line)
        let bytes = Array(buffer[0..<written])
        guard let decoded = decodeExact(bytes, count: symbols.count) else {
            XCTFail("decode failed (\(symbols.count) symbols, \(written) bytes)", file: file, line: line)
            return nil
        }
        XCTAssertEqual(decoded, symbols, file: file, line: line)
        return (bytes, decoded)
    }

    /// Decodes from a heap block of exactly `bytes.count` bytes (so an over-read is a real out-of-bounds
    /// access under the address sanitizer).
    func decodeExact(_ bytes: [UInt8], count: Int) -> [UInt8]? {
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 0), alignment: 1)
        defer { input.deallocate() }
        bytes.withUnsafeBytes { input.copyMemory(from: $0) }
        let output = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: count)
        defer { output.deallocate() }
        output.initialize(repeating: 0)
        let ok = decode(UnsafeRawBufferPointer(input), into: output)
        return ok ? Array(output) : nil
    }
}
