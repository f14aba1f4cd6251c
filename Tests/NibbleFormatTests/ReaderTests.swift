import XCTest
@testable import NibbleFormat

/// Round trip and rejection of damaged files (docs/FORMAT.md): every damage gives a clear error, never a trap.
final class ReaderTests: XCTestCase {
    /// A small valid graph: x[1,4] → FullyConnected(W[3,4], b[3]) → y[1,3].
    static func sampleFile() throws -> [UInt8] {
        let graph = Graph(
            tensors: [
                TensorDesc(name: "x", dtype: .float32, shape: [1, 4], role: .input),
                TensorDesc(name: "w", dtype: .float32, shape: [3, 4], role: .constant),
                TensorDesc(name: "b", dtype: .float32, shape: [3], role: .constant),
                TensorDesc(name: "y", dtype: .float32, shape: [1, 3], role: .intermediate),
            ],
            nodes: [Node(name: "fc", op: .fullyConnected, inputs: [0, 1, 2], outputs: [3],
                         attributes: [Attribute(.outputMin, floats: [0])])],
            inputs: [0], outputs: [3], metadata: [("producer", "tests")])
        let w = (0..<12).flatMap { withUnsafeBytes(of: Float($0).bitPattern.littleEndian, Array.init) }
        let b = (0..<3).flatMap { (_: Int) in withUnsafeBytes(of: Float(1).bitPattern.littleEndian, Array.init) }
        return try Writer.serialize(graph, constantData: [[], w, b, []])
    }

    func read(_ bytes: [UInt8]) throws -> ModelFile {
        try bytes.withUnsafeBytes { try Reader.read($0) }
    }

    func assertMalformed(_ bytes: [UInt8], contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try read(bytes)
            XCTFail("expected an error mentioning '\(text)'", file: file, line: line)
        } catch let e as NibbleError {
            XCTAssertTrue(e.message.contains(text), "message '\(e.message)' lacks '\(text)'", file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    /// Rewrites the checksum of section `s` so a deliberate edit of its body reaches the structural checks.
    func resealSection(_ bytes: inout [UInt8], _ s: Int) {
        let entry = Layout.headerSize + s * Layout.sectionEntrySize
        let off = Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: entry + 8, as: UInt64.self) })
        let size = Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: entry + 16, as: UInt64.self) })
        let crc = bytes[off..<off + size].withUnsafeBytes { CRC32.checksum($0) }
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[entry + 24 + i] = $0[i] } }
        resealTable(&bytes)
    }

    func resealTable(_ bytes: inout [UInt8]) {
        let count = Int(bytes[12])
        let crc = bytes[Layout.headerSize..<Layout.headerSize + count * Layout.sectionEntrySize].withUnsafeBytes { CRC32.checksum($0) }
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[24 + i] = $0[i] } }
    }

    func testRoundTrip() throws {
        let bytes = try Self.sampleFile()
        let file = try read(bytes)
        XCTAssertEqual(file.graph.tensors.count, 4)
        XCTAssertEqual(file.graph.nodes[0].op, .fullyConnected)
        XCTAssertEqual(file.graph.nodes[0].attribute(.outputMin)?.floats, [0])
        XCTAssertEqual(file.graph.metadataValue("producer"), "tests")
        XCTAssertEqual(file.graph.tensors[1].dataOffset % Layout.alignment, 0)
        let w = file.constantBytes(1)
        XCTAssertEqual(w.loadUnaligned(fromByteOffset: 4 * 5, as: Float.self), 5)
        // Writing what was read gives the same bytes.
        var data: [[UInt8]] = []
        for i in file.graph.tensors.indices { data.append(file.graph.tensors[i].role == .constant ? Array(file.constantBytes(i)) : []) }
        XCTAssertEqual(try Writer.serialize(file.graph, constantData: data), bytes)
    }

    func testCRC32KnownValue() {
        // The standard check value of CRC-32/ISO-HDLC.
        XCTAssertEqual(Array("123456789".utf8).withUnsafeBytes { CRC32.checksum($0) }, 0xCBF4_3926)
    }

    func testEveryTruncationIsRejected() throws {
        let bytes = try Self.sampleFile()
        for n in stride(from: 0, to: bytes.count, by: 7) {
            XCTAssertThrowsError(try read(Array(bytes[0..<n])), "truncated to \(n) bytes")
        }
        assertMalformed(Array(bytes.dropLast()), contains: "truncated")
    }

    func testBadMagic() throws {
        var bytes = try Self.sampleFile()
        bytes[0] = 0x7F
        assertMalformed(bytes, contains: "bad magic")
    }

    func testNewerVersionIsAVersionMismatch() throws {
        var bytes = try Self.sampleFile()
        bytes[4] = 2
        XCTAssertThrowsError(try read(bytes)) { e in
            guard case .versionMismatch(let m) = e as? NibbleError else { return XCTFail("\(e)") }
            XCTAssertTrue(m.text.contains("version 2"))
        }
    }

    func testFlippedWeightByteFailsChecksum() throws {
        var bytes = try Self.sampleFile()
        bytes[bytes.count - 200] ^= 0x40
        XCTAssertThrowsError(try read(bytes)) { e in
            XCTAssertTrue((e as? NibbleError)?.message.contains("checksum mismatch") ?? false, "\(e)")
        }
    }

    func testSectionOutsideFile() throws {
        var bytes = try Self.sampleFile()
        // Section 1 (weights) size field: make it run past the end.
        let entry = Layout.headerSize + 1 * Layout.sectionEntrySize
        withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { for i in 0..<8 { bytes[entry + 16 + i] = $0[i] } }
        resealTable(&bytes)
        assertMalformed(bytes, contains: "outside the file")
    }

    func testConstantOutsideWeights() throws {
        var bytes = try Self.sampleFile()
        let file = try read(bytes)
        _ = file
        // The graph section starts right after the table; tensor 1 ('w') data offset sits after its header and dims.
        // Locate it by scanning the encoded graph for the name "w" followed by its fields.
        let entry = Layout.headerSize
        let off = Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: entry + 8, as: UInt64.self) })
        // Graph: 16 bytes of counts, tensor 0: 2+1 name, 4 fields, 2 dims (16) + 16 → 39 bytes; tensor 1 name at 16+39.
        let t1 = off + 16 + 39
        XCTAssertEqual(bytes[t1 + 2], UInt8(ascii: "w"))
        let dataOffsetAt = t1 + 3 + 4 + 16
        withUnsafeBytes(of: UInt64(1 << 20).littleEndian) { for i in 0..<8 { bytes[dataOffsetAt + i] = $0[i] } }
        resealSection(&bytes, 0)
        assertMalformed(bytes, contains: "weights section has")
    }

    func testShapeOverflowIsRejected() throws {
        let huge = Graph(
            tensors: [TensorDesc(name: "x", dtype: .float32, shape: [1, 4], role: .input),
                      TensorDesc(name: "y", dtype: .float32, shape: [Int(Int32.max), Int(Int32.max), Int(Int32.max)], role: .intermediate)],
            nodes: [Node(name: "r", op: .relu, inputs: [0], outputs: [1])], inputs: [0], outputs: [1])
        let bytes = try Writer.serialize(huge, constantData: [[], []])
        assertMalformed(bytes, contains: "overflows")
    }

    func testReadBeforeWriteIsRejected() throws {
        let g = Graph(
            tensors: [TensorDesc(name: "x", dtype: .float32, shape: [1, 4], role: .input),
                      TensorDesc(name: "a", dtype: .float32, shape: [1, 4], role: .intermediate),
                      TensorDesc(name: "b", dtype: .float32, shape: [1, 4], role: .intermediate)],
            nodes: [Node(name: "first", op: .relu, inputs: [1], outputs: [2]),
                    Node(name: "second", op: .relu, inputs: [0], outputs: [1])],
            inputs: [0], outputs: [2])
        assertMalformed(try Writer.serialize(g, constantData: [[], [], []]), contains: "before any node writes it")
    }

    func testWriterRejectsWrongConstantSize() {
        let g = Graph(tensors: [TensorDesc(name: "w", dtype: .float32, shape: [2], role: .constant)])
        XCTAssertThrowsError(try Writer.serialize(g, constantData: [[1, 2, 3]]))
    }
}
