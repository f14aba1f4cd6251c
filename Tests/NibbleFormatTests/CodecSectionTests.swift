import XCTest
@testable import NibbleFormat

/// The codec section (docs/FORMAT.md §6): round trip, and every malformed entry refused by name.
final class CodecSectionTests: XCTestCase {
    /// x[1,4] → Relu → h → Relu → y, with a table for h.
    static func graph(_ entries: [CodecTableEntry]) -> Graph {
        var g = Graph(
            tensors: [
                TensorDesc(name: "x", dtype: .float32, shape: [1, 4], role: .input),
                TensorDesc(name: "h", dtype: .float32, shape: [1, 4], role: .intermediate),
                TensorDesc(name: "y", dtype: .float32, shape: [1, 4], role: .intermediate),
            ],
            nodes: [Node(name: "r1", op: .relu, inputs: [0], outputs: [1]), Node(name: "r2", op: .relu, inputs: [1], outputs: [2])],
            inputs: [0], outputs: [2])
        g.codecTables = entries
        return g
    }

    /// A structurally valid 2-bit table (version 1, bits 2, zero 0, long run 2; 5 value + 3 run lengths).
    static func entry(tensor: Int = 1) -> CodecTableEntry {
        CodecTableEntry(tensor: tensor, bits: 2, step: 0.25, zeroPoint: 0, expectedBytes: 9,
                        table: [1, 2, 0, 2, 0, 1, 2, 2, 0, 1, 2, 2])
    }

    func serialize(_ entries: [CodecTableEntry]) throws -> [UInt8] {
        try Writer.serialize(Self.graph(entries), constantData: [[], [], []])
    }

    func read(_ bytes: [UInt8]) throws -> ModelFile { try bytes.withUnsafeBytes { try Reader.read($0) } }

    func assertRefused(_ entries: [CodecTableEntry], _ text: String, line: UInt = #line) throws {
        let bytes = try serialize(entries)
        XCTAssertThrowsError(try read(bytes), line: line) { e in
            XCTAssertTrue((e as! NibbleError).message.contains(text), "'\((e as! NibbleError).message)' lacks '\(text)'", line: line)
        }
    }

    func testRoundTrip() throws {
        let bytes = try serialize([Self.entry()])
        let file = try read(bytes)
        XCTAssertEqual(file.graph.codecTables, [Self.entry()])
        XCTAssertEqual(file.graph, Self.graph([Self.entry()]))
        // No tables: no section at all (files without a codec stay byte-identical to before).
        let plain = try serialize([])
        XCTAssertEqual(plain[12], 3, "three sections")
        XCTAssertEqual(bytes[12], 4, "four sections")
        XCTAssertTrue(try read(plain).graph.codecTables.isEmpty)
    }

    func testMalformedEntriesAreRefused() throws {
        try assertRefused([Self.entry(tensor: 7)], "refers to tensor 7 but there are 3")
        try assertRefused([Self.entry(tensor: 0)], "only intermediate float32 tensors that are not graph outputs")
        try assertRefused([Self.entry(tensor: 2)], "only intermediate float32 tensors that are not graph outputs")
        try assertRefused([Self.entry(), Self.entry()], "second codec 1 table")
        var e = Self.entry(); e.step = .nan
        try assertRefused([e], "step nan must be finite and > 0")
        e = Self.entry(); e.step = -1
        try assertRefused([e], "must be finite and > 0")
        e = Self.entry(); e.zeroPoint = 4
        try assertRefused([e], "zero point 4 is not a 2-bit symbol")
        e = Self.entry(); e.bits = 9
        try assertRefused([e], "bits 9 outside 2...8")
        e = Self.entry(); e.table[1] = 3
        try assertRefused([e], "does not match its entry")
        e = Self.entry(); e.table.removeLast()
        try assertRefused([e], "does not match its entry")
        e = Self.entry(); e.table[0] = 2
        try assertRefused([e], "does not match its entry")
        e = Self.entry(); e.table = Self.directTable; e.table[3] = 2
        try assertRefused([e], "does not match its entry")
        e = Self.entry(); e.table = Self.directTable + [0]
        try assertRefused([e], "does not match its entry")
    }

    /// Version 2 (direct, no run lengths): bits 2, zero 0, long run 0, 5 value lengths.
    static let directTable: [UInt8] = [2, 2, 0, 0, 2, 2, 2, 2, 0]

    func testDirectTablesRoundTrip() throws {
        var e = Self.entry()
        e.table = Self.directTable
        XCTAssertEqual(try read(try serialize([e])).graph.codecTables, [e])
    }

    /// A damaged byte in the section is a checksum error; a resealed truncation is a bounds error.
    func testDamageIsCaught() throws {
        var bytes = try serialize([Self.entry()])
        let entry = Layout.headerSize + 3 * Layout.sectionEntrySize
        XCTAssertEqual(bytes[entry], 4, "the codec section is the fourth")
        let off = Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: entry + 8, as: UInt64.self) })
        bytes[off + 8] ^= 0x40
        XCTAssertThrowsError(try read(bytes)) { e in
            XCTAssertTrue((e as! NibbleError).message.contains("section 3 (codec): checksum mismatch"), "\(e)")
        }
        // Entry count larger than the entries present, checksum valid: refused by bounds, never read past the end.
        bytes[off + 8] ^= 0x40
        bytes[off + 4] = 2
        let size = Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: entry + 16, as: UInt64.self) })
        let crc = bytes[off..<off + size].withUnsafeBytes { CRC32.checksum($0) }
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[entry + 24 + i] = $0[i] } }
        let tableCRC = bytes[Layout.headerSize..<Layout.headerSize + 4 * Layout.sectionEntrySize].withUnsafeBytes { CRC32.checksum($0) }
        withUnsafeBytes(of: tableCRC.littleEndian) { for i in 0..<4 { bytes[24 + i] = $0[i] } }
        XCTAssertThrowsError(try read(bytes)) { e in
            XCTAssertTrue((e as! NibbleError).message.contains("codec section byte"), "\(e)")
        }
    }

    /// A 2-bit transform entry for h ([1, 4]): zero point 2, a PCA basis (a permutation with a sign flip:
    /// orthonormal) or DCT (mean only).
    static func transformEntry(kind: UInt8 = ChannelTransformEntry.pcaKind) -> CodecTableEntry {
        let basis: [Float] = kind == ChannelTransformEntry.pcaKind ? [0, 1, 0, 0, -1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0] : []
        return CodecTableEntry(tensor: 1, bits: 2, step: 0.5, zeroPoint: 2, expectedBytes: 9,
                               table: [1, 2, 2, 2, 1, 1, 0, 2, 2, 1, 2, 2],
                               transform: ChannelTransformEntry(kind: kind, mean: [0.5, 0, -1, 2], basis: basis))
    }

    /// A tensor may have a CAT entry and a transform entry; both kinds round-trip.
    func testTransformEntriesRoundTrip() throws {
        for entries in [[Self.entry(), Self.transformEntry()], [Self.transformEntry(kind: ChannelTransformEntry.dctKind)]] {
            XCTAssertEqual(try read(try serialize(entries)).graph.codecTables, entries)
        }
    }

    func testMalformedTransformEntriesAreRefused() throws {
        try assertRefused([Self.transformEntry(), Self.transformEntry()], "second codec 2 table")
        var e = Self.transformEntry(); e.transform!.mean.append(0); e.transform!.basis = [Float](repeating: 0, count: 25)
        try assertRefused([e], "transform of 5 channels, the tensor (shape [1, 4]) has 4")
        e = Self.transformEntry(); e.transform!.kind = 3
        try assertRefused([e], "transform kind 3 is neither 1 (PCA) nor 2 (DCT-II)")
        e = Self.transformEntry(); e.transform!.mean[2] = .infinity
        try assertRefused([e], "transform mean[2] is inf, not finite")
        e = Self.transformEntry(); e.transform!.basis[5] = .nan
        try assertRefused([e], "transform basis[5] is nan, not finite")
        e = Self.transformEntry(); e.transform!.basis[1] = 0.9
        try assertRefused([e], "transform basis rows 0 and 0 have dot product")
        e = Self.transformEntry(); e.transform!.basis[5] = 0.1
        try assertRefused([e], "transform basis rows 0 and 1 have dot product")
        e = Self.transformEntry(); e.transform!.basis.removeLast()
        try assertRefused([e], "transform basis needs 64 bytes but only 60 remain")
        e = Self.transformEntry(); e.zeroPoint = 0; e.table[2] = 0
        try assertRefused([e], "zero point 0 of a transform entry must be 2")
    }

    /// A transform needs an NCHW or [N, C] tensor.
    func testTransformNeedsChannels() throws {
        var g = Self.graph([])
        g.tensors[1] = TensorDesc(name: "h", dtype: .float32, shape: [4], role: .intermediate)
        g.tensors[0] = TensorDesc(name: "x", dtype: .float32, shape: [4], role: .input)
        g.tensors[2] = TensorDesc(name: "y", dtype: .float32, shape: [4], role: .intermediate)
        g.codecTables = [Self.transformEntry(kind: ChannelTransformEntry.dctKind)]
        let bytes = try Writer.serialize(g, constantData: [[], [], []])
        XCTAssertThrowsError(try read(bytes)) { err in
            XCTAssertTrue((err as! NibbleError).message.contains("a transform needs an NCHW or [N, C] tensor"), "\(err)")
        }
    }
}
