import NibbleKernels
import XCTest

/// `ByteTableLookup` at every level the host runs: table[src[i]] for every byte value, lengths around the 64-byte
/// blocks and the masked tail, into another buffer and in place, without touching bytes past `count`.
final class ByteTableLookupTests: XCTestCase {
    func testEveryLevelLooksUpEveryByteInPlaceToo() {
        var rng = SplitMix(seed: 5)
        let table = (0..<256).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for count in [0, 1, 8, 31, 32, 63, 64, 65, 127, 128, 200, 256, 1000] {
            let src = (0..<count).map { $0 < 256 ? UInt8($0) : UInt8(truncatingIfNeeded: rng.next()) }
            let expected = src.map { table[Int($0)] }
            for isa in KernelISA.supported {
                var out = [UInt8](repeating: 0xEE, count: count + 64)
                table.withUnsafeBufferPointer { t in
                    src.withUnsafeBufferPointer { s in
                        out.withUnsafeMutableBufferPointer {
                            ByteTableLookup.map(s.baseAddress ?? t.baseAddress!, count: count, table: t.baseAddress!, into: $0.baseAddress!, isa: isa)
                        }
                    }
                }
                XCTAssertEqual(Array(out[..<count]), expected, "\(isa) count \(count)")
                XCTAssertEqual(Array(out[count...]), [UInt8](repeating: 0xEE, count: 64), "\(isa) count \(count): past the end")
                var inPlace = src + [UInt8](repeating: 0xEE, count: 64)
                table.withUnsafeBufferPointer { t in
                    inPlace.withUnsafeMutableBufferPointer { ByteTableLookup.map($0.baseAddress!, count: count, table: t.baseAddress!, into: $0.baseAddress!, isa: isa) }
                }
                XCTAssertEqual(Array(inPlace[..<count]), expected, "\(isa) in place, count \(count)")
                XCTAssertEqual(Array(inPlace[count...]), [UInt8](repeating: 0xEE, count: 64), "\(isa) in place, count \(count): past the end")
            }
        }
    }
}
