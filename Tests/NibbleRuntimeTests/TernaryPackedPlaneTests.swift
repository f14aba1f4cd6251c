import XCTest
import NibbleFormat
import NibbleKernels
@testable import NibbleRuntime

/// Packed ternary planes (two bit masks per edge, docs/FORMAT.md §4.4): the step reads them directly and gives
/// bit-identical outputs to the int8 planes of older files; damaged masks are refused at load.
final class TernaryPackedPlaneTests: XCTestCase {
    static func words(_ values: [Int8], rows: Int) -> [UInt8] {
        let rowLength = values.count / rows
        var w = [UInt64](repeating: 0, count: TernaryPlanes.wordCount(rows: rows, rowLength: rowLength))
        values.withUnsafeBufferPointer { v in w.withUnsafeMutableBufferPointer { TernaryPlanes.pack(v.baseAddress!, rows: rows, rowLength: rowLength, into: $0.baseAddress!) } }
        return w.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
    }

    /// A ternary conv (or FC) with `planes` stored packed or as int8; `damage` edits the packed bytes of edge 0.
    static func model(conv: Bool, packed: Bool, group: Int = 1, planes: [[Int8]], damage: (inout [UInt8]) -> Void = { _ in },
                      dropKernelShape: Bool = false) throws -> (GraphHarness, Int) {
        let outC = 4, inC = conv ? 6 : 70, k = conv ? 3 : 1, groupSize = 4
        let cg = inC / group, rowLength = cg * k * k, groups = (cg + groupSize - 1) / groupSize
        var h = GraphHarness()
        let x = h.input("x", conv ? [1, inC, 5, 5] : [1, inC])
        let b = h.constant("b", [outC], [0.1, -0.2, 0.3, -0.4])
        var inputs = [x]
        for (e, p) in planes.enumerated() {
            var bytes = packed ? words(p, rows: outC) : p.map { UInt8(bitPattern: $0) }
            if e == 0 { damage(&bytes) }
            let shape = packed ? [2, outC, TernaryPlanes.wordsPerRow(rowLength)] : (conv ? [outC, cg, k, k] : [outC, inC])
            let t = h.add(TensorDesc(name: "T\(e)", dtype: packed ? .bits64 : .int8, shape: shape, role: .constant), bytes)
            let scales = (0..<(outC * groups)).map { Float($0 % 5 + 1) / Float(16 << (2 * e)) }
            let s = h.add(TensorDesc(name: "S\(e)", dtype: .float32, shape: [outC, groups], role: .constant),
                          scales.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
            inputs += e == 0 ? [t, b, s] : [t, s]
        }
        var attrs = [Attribute(.inputScale, floats: [1.0 / 32]), Attribute(.inputZeroPoint, ints: [17]),
                     Attribute(.groupSize, ints: [Int64(groupSize)]), Attribute(.edgeLevels, ints: (0..<planes.count).map { Int64($0) })]
        if conv {
            if !dropKernelShape { attrs.append(Attribute(.kernelShape, ints: [3, 3])) }
            attrs += [Attribute(.pads, ints: [1, 1, 1, 1]), Attribute(.group, ints: [Int64(group)])]
        }
        let y = h.node(conv ? .conv : .fullyConnected, inputs, conv ? [1, outC, 5, 5] : [1, outC], attrs, name: "t")
        h.graph.nodes[0].precision = .ternary
        return (h, y)
    }

    static func planes(_ count: Int, edges: Int) -> [[Int8]] {
        (0..<edges).map { (e: Int) -> [Int8] in (0..<count).map { (i: Int) -> Int8 in Int8((i * (5 + 2 * e) + 3 * e + i / 7) % 3 - 1) } }
    }

    func testPackedPlanesMatchInt8PlanesBitForBit() throws {
        for (conv, group) in [(true, 1), (true, 2), (false, 1)] {
            let count = conv ? 4 * (6 / group) * 9 : 4 * 70
            let p = Self.planes(count, edges: 2)
            let x: [Float] = (0..<(conv ? 150 : 70)).map { Float(($0 * 29) % 23) / 8 - 1 }
            var outputs: [[Float]] = []
            for packed in [false, true] {
                let (h, y) = try Self.model(conv: conv, packed: packed, group: group, planes: p)
                let session = try Session(model: try h.model(outputs: [y]))
                var perLevel: [Float] = []
                for level in [0, 1] {
                    try session.setResidualLevel(level)
                    try x.withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
                    session.run()
                    perLevel += Array(session.output(0).bindMemory(to: Float.self))
                }
                outputs.append(perLevel)
            }
            XCTAssertEqual(outputs[0], outputs[1], "conv \(conv) group \(group): packed planes differ from int8 planes")
            XCTAssertNotEqual(Array(outputs[0][..<(outputs[0].count / 2)]), Array(outputs[0][(outputs[0].count / 2)...]), "edge 1 changes the output")
        }
    }

    func testRefusesDamagedPackedPlanes() throws {
        func refuse(conv: Bool = true, damage: @escaping (inout [UInt8]) -> Void = { _ in }, dropKernelShape: Bool = false,
                    _ text: String, line: UInt = #line) throws {
            let (h, y) = try Self.model(conv: conv, packed: true, planes: Self.planes(conv ? 4 * 54 : 280, edges: 1),
                                        damage: damage, dropKernelShape: dropKernelShape)
            XCTAssertThrowsError(try h.model(outputs: [y]), line: line) { e in
                let message = (e as? NibbleError)?.message ?? "\(e)"
                XCTAssertTrue(message.contains(text), message, line: line)
            }
        }
        // Row length 54 (6 channels × 3 × 3): one word per row; plane 1 (−1 mask) of row 0 starts at word 4.
        try refuse(damage: { b in for i in 0..<8 { b[32 + i] |= b[i] } }, "is set in both the +1 and the −1 mask")
        try refuse(damage: { b in b[7] |= 0x80 }, "bit 63 of output channel 0 is a padding bit past the row's 54 weights")
        // FC with 70 inputs: two words per row, the padding is in the second.
        try refuse(conv: false, damage: { b in b[8 * 3 + 7] |= 0x40 }, "bit 126 of output channel 1 is a padding bit past the row's 70 weights")
        try refuse(dropKernelShape: true, "attribute kernel_shape is missing")
    }
}
