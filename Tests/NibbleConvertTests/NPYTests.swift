import Foundation
import NibbleConvert
import XCTest

final class NPYTests: XCTestCase {
    func testRoundTrip() throws {
        let arrays = [
            NPYArray(shape: [2, 3], floats: [1, -2, 3.5, 0, .greatestFiniteMagnitude, -0.25]),
            NPYArray(shape: [4], storage: .int64([1, -1, Int64.max, Int64.min])),
            NPYArray(shape: [2, 2, 1], storage: .uint8([0, 1, 254, 255])),
            NPYArray(shape: [], floats: [42]),
        ]
        for a in arrays {
            let bytes = NPY.encode(a)
            XCTAssertEqual((bytes.count - a.count * (a.descr == "<f4" ? 4 : a.descr == "<i8" ? 8 : 1)) % 64, 0, "header padded to 64")
            XCTAssertEqual(try NPY.decode(bytes), a)
        }
    }

    func testReadsNumpyFixture() throws {
        let x = try Fixtures.npy("mlp.input.npy")
        XCTAssertEqual(x.shape, [3, 64])
        XCTAssertEqual(x.floats?.count, 192)
        let y = try Fixtures.npy("digits_test_y.npy", in: Fixtures.samplesDir)
        guard case .int64(let labels) = y.storage else { return XCTFail("labels should be int64") }
        XCTAssertEqual(labels.count, 360)
    }

    func testVersion2Header() throws {
        var v1 = NPY.encode(NPYArray(shape: [2], floats: [1, 2]))
        let headerLength = Int(v1[8]) | Int(v1[9]) << 8
        v1[6] = 2
        v1.replaceSubrange(8..<10, with: [UInt8(headerLength & 0xFF), UInt8(headerLength >> 8), 0, 0])
        XCTAssertEqual(try NPY.decode(v1).floats, [1, 2])
    }

    /// Regression (npy fuzzer): an absurd item size in the dtype is an error, not an overflow trap.
    func testAbsurdDtypeSizeIsAnError() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fuzz/crashes/npy/describe-dtype-size-overflow.npy")
        XCTAssertThrowsError(try NPY.read(contentsOf: url)) { error in
            XCTAssertTrue("\(error)".contains("2305843009213693952"), "\(error)")
        }
    }

    func testRejectsFloat64NamingFileAndDtype() throws {
        let url = try Fixtures.url("mlp.input_f64.npy")
        XCTAssertThrowsError(try NPY.read(contentsOf: url)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("mlp.input_f64.npy"), text)
            XCTAssertTrue(text.contains("float64"), text)
        }
    }

    func testRejectsBigEndianFortranAndGarbage() {
        func header(_ dict: String) -> [UInt8] {
            var h = dict
            while (10 + h.utf8.count + 1) % 64 != 0 { h += " " }
            h += "\n"
            return [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(h.utf8.count), 0] + Array(h.utf8) + [0, 0, 0, 0]
        }
        let bad: [([UInt8], String)] = [
            (header("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }"), "big-endian"),
            (header("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }"), "fortran_order"),
            (header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"), "object"),
            (header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"), "needs 8 data bytes"),
            ([1, 2, 3], "not an .npy"),
        ]
        for (bytes, expected) in bad {
            XCTAssertThrowsError(try NPY.decode(bytes, name: "x.npy")) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)")
                XCTAssertTrue("\(error)".contains("x.npy"), "\(error)")
            }
        }
    }
}
