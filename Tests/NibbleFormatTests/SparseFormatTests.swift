import XCTest
@testable import NibbleFormat

/// The sparse additions (docs/FORMAT.md §4.6): precision code 5 and attribute keys 23–24, and the labels the
/// report and `nibble inspect` print.
final class SparseFormatTests: XCTestCase {
    func testCodesAreTheDocumentedOnes() {
        XCTAssertEqual(Precision.sparse.rawValue, 5)
        XCTAssertEqual(Precision.sparse.name, "sparse")
        XCTAssertEqual([AttributeKey.sparseFormat, .sparseNM].map(\.rawValue), [23, 24])
        XCTAssertEqual([AttributeKey.sparseFormat, .sparseNM].map(\.name), ["sparse_format", "sparse_nm"])
    }

    func testPrecisionLabels() {
        let csr = Node(name: "fc", op: .fullyConnected, precision: .sparse, inputs: [0, 1, absentTensor, absentTensor, 2, 3],
                       outputs: [4], attributes: [Attribute(.sparseFormat, ints: [0])])
        XCTAssertEqual(csr.precisionLabel, "csr fp32")
        let nm = Node(name: "fc", op: .fullyConnected, precision: .sparse, inputs: [0, 1, absentTensor, 5, 2], outputs: [4],
                      attributes: [Attribute(.sparseFormat, ints: [1]), Attribute(.sparseNM, ints: [2, 4])])
        XCTAssertEqual(nm.precisionLabel, "2:4 int8")
    }
}
