import NibbleKernels
import XCTest

/// `QuantizeRows` at every level the host runs: the scalar forms' bytes (rounding ties, clamps, NaN, infinities,
/// lengths with a tail), also when the bytes go over the floats themselves (a line buffer quantizes its row in place).
final class QuantizeRowsTests: XCTestCase {
    func values(_ n: Int, scale: Float, rng: inout SplitMix) -> [Float] {
        var x = (0..<n).map { _ in rng.float(-300, 300) * scale }
        let specials: [Float] = [.nan, .infinity, -.infinity, -0.0, 0.5 * scale, 1.5 * scale, 2.5 * scale, 1e30, -1e30]
        for (j, v) in specials.enumerated() where j < n { x[(j * 7) % n] = v }
        return x
    }

    func check(_ n: Int, isa: KernelISA, expected: [UInt8], _ x: [Float],
               _ quantize: (UnsafePointer<Float>, UnsafeMutablePointer<UInt8>) -> Void, _ what: String) {
        var out = [UInt8](repeating: 0xEE, count: n)
        x.withUnsafeBufferPointer { xs in out.withUnsafeMutableBufferPointer { quantize(xs.baseAddress!, $0.baseAddress!) } }
        XCTAssertEqual(out, expected, "\(what) \(isa) n \(n)")
        var inPlace = x
        let bytes: [UInt8] = inPlace.withUnsafeMutableBufferPointer { b in
            let q = UnsafeMutableRawPointer(b.baseAddress!).assumingMemoryBound(to: UInt8.self)
            quantize(b.baseAddress!, q)
            return Array(UnsafeBufferPointer(start: q, count: n))
        }
        XCTAssertEqual(bytes, expected, "\(what) in place \(isa) n \(n)")
    }

    func testEveryLevelGivesTheScalarBytesInPlaceToo() {
        var rng = SplitMix(seed: 77)
        for n in [1, 7, 15, 16, 17, 31, 64, 100, 257] {
            for (bits, zeroPoint) in [(2, 0), (4, 8), (6, 32), (7, 0), (8, 128)] {
                let step: Float = 0.037, maxSymbol = (1 << bits) - 1
                let x = values(n, scale: step, rng: &rng)
                let expected = x.map { SymbolQuantization.quantize($0, step: step, zeroPoint: zeroPoint, maxSymbol: maxSymbol) }
                for isa in KernelISA.supported {
                    check(n, isa: isa, expected: expected, x, {
                        QuantizeRows.symbols($0, count: n, step: step, zeroPoint: zeroPoint, maxSymbol: maxSymbol, into: $1, isa: isa)
                    }, "symbols \(bits) bits zp \(zeroPoint)")
                }
            }
            let scale: Float = 0.021, zeroPoint: Int32 = 117
            let x = values(n, scale: scale, rng: &rng)
            let expected = x.map { Int8Quantization.quantize($0, scale: scale, zeroPoint: zeroPoint) }
            for isa in KernelISA.supported {
                check(n, isa: isa, expected: expected, x, {
                    QuantizeRows.uint8($0, count: n, scale: scale, zeroPoint: zeroPoint, into: $1, isa: isa)
                }, "uint8")
            }
        }
    }
}
