import XCTest
import NibbleKernels

/// Two-mask ternary planes (docs/FORMAT.md §4.4): round trip on odd row lengths, the exact bit layout, validation.
final class TernaryPlanesTests: XCTestCase {
    func testRoundTripOnOddRowLengths() {
        for rowLength in [1, 7, 63, 64, 65, 127, 128, 130, 577] {
            let rows = 3
            let values: [Int8] = (0..<(rows * rowLength)).map { (i: Int) -> Int8 in Int8((i * 7 + i / 5) % 3 - 1) }
            var words = [UInt64](repeating: .max, count: TernaryPlanes.wordCount(rows: rows, rowLength: rowLength))
            values.withUnsafeBufferPointer { v in words.withUnsafeMutableBufferPointer { TernaryPlanes.pack(v.baseAddress!, rows: rows, rowLength: rowLength, into: $0.baseAddress!) } }
            XCTAssertNil(words.withUnsafeBufferPointer { TernaryPlanes.firstInvalid($0.baseAddress!, rows: rows, rowLength: rowLength) })
            var out = [Int8](repeating: 9, count: rowLength)
            for o in 0..<rows {
                words.withUnsafeBufferPointer { w in out.withUnsafeMutableBufferPointer { TernaryPlanes.unpackRow(w.baseAddress!, rows: rows, rowLength: rowLength, row: o, into: $0.baseAddress!) } }
                XCTAssertEqual(out, Array(values[(o * rowLength)..<((o + 1) * rowLength)]), "row length \(rowLength) row \(o)")
            }
        }
    }

    func testBitLayout() {
        // Two rows of 66: row 1 has +1 at 0 and 65, −1 at 64. Words: [+row0 ×2][+row1 ×2][−row0 ×2][−row1 ×2].
        var values = [Int8](repeating: 0, count: 132)
        values[66] = 1; values[66 + 65] = 1; values[66 + 64] = -1
        var words = [UInt64](repeating: 0, count: 8)
        values.withUnsafeBufferPointer { v in words.withUnsafeMutableBufferPointer { TernaryPlanes.pack(v.baseAddress!, rows: 2, rowLength: 66, into: $0.baseAddress!) } }
        XCTAssertEqual(words, [0, 0, 1, 2, 0, 0, 0, 1])
    }

    func testFirstInvalid() {
        var words: [UInt64] = [0b101, 0, 0b100, 0]  // rows 2 × length 3; plane 0 then plane 1
        XCTAssertEqual(words.withUnsafeBufferPointer { TernaryPlanes.firstInvalid($0.baseAddress!, rows: 2, rowLength: 3) }?.position, 2)
        words = [0b1000, 0, 0, 0]
        let pad = words.withUnsafeBufferPointer { TernaryPlanes.firstInvalid($0.baseAddress!, rows: 2, rowLength: 3) }
        XCTAssertEqual(pad?.row, 0); XCTAssertEqual(pad?.position, 3); XCTAssertEqual(pad?.bothMasks, false)
        words = [0, 0, 0, 1 << 63]
        XCTAssertEqual(words.withUnsafeBufferPointer { TernaryPlanes.firstInvalid($0.baseAddress!, rows: 2, rowLength: 64) }?.row, nil)
        XCTAssertEqual(words.withUnsafeBufferPointer { TernaryPlanes.firstInvalid($0.baseAddress!, rows: 2, rowLength: 63) }?.row, 1)
    }
}
