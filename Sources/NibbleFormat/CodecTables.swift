/// The feature-map codec section (kind 4, docs/FORMAT.md §6): per intermediate tensor, how the CAT codec
/// holds it compressed in the session arena — bits, quantizer step and zero point, the serialized static
/// Huffman table — and the compressed size measured on the calibration data (for the planner's expected
/// peak). The Reader checks the structure (bounds, tensor references, bits, step, table header and length);
/// the runtime (`NibbleCodec.HuffmanTable(serialized:)`) checks each code itself before a model exists.
public struct CodecTableEntry: Sendable, Equatable {
    /// The only codec with tables today; code 2 (transform) is reserved.
    public static let catCodec: UInt8 = 1

    /// Index of an intermediate float32 tensor that is not a graph output.
    public var tensor: Int
    public var bits: Int
    public var step: Float
    public var zeroPoint: Int
    /// Mean bytes of the compressed tensor (directory included) on the calibration data.
    public var expectedBytes: Int
    /// `HuffmanTable.serialized()`: version, bits, zero symbol, long run, value and run code lengths.
    public var table: [UInt8]

    public init(tensor: Int, bits: Int, step: Float, zeroPoint: Int, expectedBytes: Int, table: [UInt8]) {
        self.tensor = tensor; self.bits = bits; self.step = step; self.zeroPoint = zeroPoint
        self.expectedBytes = expectedBytes; self.table = table
    }
}

extension Reader {
    static let codecSectionVersion: UInt32 = 1

    /// Decodes and checks the codec section against the graph: version, count, and per entry the tensor
    /// (an intermediate float32 tensor, not a graph output, listed once), bits 2…8, zero point < 2^bits,
    /// a finite step > 0, and a table whose header repeats bits and zero point and whose length is the one
    /// its long-run field implies.
    static func decodeCodecTables(_ bytes: UnsafeRawBufferPointer, graph: Graph) throws(NibbleError) -> [CodecTableEntry] {
        var r = ByteReader(bytes, context: "codec section")
        let version = try r.read(UInt32.self, "version")
        if version != codecSectionVersion {
            throw .unsupported("codec section: version \(version), this runtime reads version \(codecSectionVersion)")
        }
        let count = Int(try r.read(UInt32.self, "entry count"))
        if count > graph.tensors.count { throw r.fail("\(count) entries for a graph of \(graph.tensors.count) tensors") }
        var seen = [Bool](repeating: false, count: graph.tensors.count)
        var entries: [CodecTableEntry] = []
        for e in 0..<count {
            let tensor = Int(try r.read(UInt32.self, "entry \(e) tensor"))
            let codec = try r.read(UInt8.self, "entry \(e) codec")
            let bits = Int(try r.read(UInt8.self, "entry \(e) bits"))
            let zeroPoint = Int(try r.read(UInt16.self, "entry \(e) zero point"))
            let step = try r.readFloat("entry \(e) step")
            let expected = try r.read(UInt64.self, "entry \(e) expected bytes")
            let tableSize = Int(try r.read(UInt32.self, "entry \(e) table size"))
            if tensor >= graph.tensors.count {
                throw r.fail("entry \(e) refers to tensor \(tensor) but there are \(graph.tensors.count)")
            }
            let t = graph.tensors[tensor]
            let what = "entry \(e) (tensor \(tensor) '\(t.name)')"
            if t.role != .intermediate || t.dtype != .float32 || graph.outputs.contains(tensor) {
                throw r.fail("\(what): only intermediate float32 tensors that are not graph outputs can be coded")
            }
            if seen[tensor] { throw r.fail("\(what): the tensor has a second codec table") }
            seen[tensor] = true
            if codec != CodecTableEntry.catCodec { throw .unsupported("codec section: \(what) has codec \(codec); this runtime knows 1 (cat)") }
            if !(2...8).contains(bits) { throw r.fail("\(what): bits \(bits) outside 2...8") }
            if zeroPoint >= 1 << bits { throw r.fail("\(what): zero point \(zeroPoint) is not a \(bits)-bit symbol") }
            if !(step.isFinite && step > 0) { throw r.fail("\(what): step \(step) must be finite and > 0") }
            if expected > UInt64(Layout.maxArenaBytes) { throw r.fail("\(what): expected bytes \(expected) exceed \(Layout.maxArenaBytes)") }
            try r.need(tableSize, "\(what) table")
            let table = Array(UnsafeRawBufferPointer(rebasing: bytes[r.position..<r.position + tableSize]))
            // Header of HuffmanTable's serialization: version (1 runs, 2 direct), bits, zero symbol, long run
            // (0 when direct); then 2^bits + 1 value lengths and, version 1 only, longRun + 1 run lengths.
            let valueEnd = 4 + (1 << bits) + 1
            if tableSize < 4 || Int(table[1]) != bits || Int(table[2]) != zeroPoint
                || !(table[0] == 1 && tableSize == valueEnd + Int(table[3]) + 1 || table[0] == 2 && table[3] == 0 && tableSize == valueEnd) {
                throw r.fail("\(what): table of \(tableSize) bytes does not match its entry (expected version 1 with 4 + \(1 << bits) + 1 + longRun + 1 bytes or version 2 with \(valueEnd), bits \(bits), zero symbol \(zeroPoint))")
            }
            r.position += tableSize
            entries.append(CodecTableEntry(tensor: tensor, bits: bits, step: step, zeroPoint: zeroPoint,
                                           expectedBytes: Int(expected), table: table))
        }
        if r.remaining != 0 { throw r.fail("\(r.remaining) unexpected trailing bytes") }
        return entries
    }
}

extension Writer {
    static func encodeCodecTables(_ entries: [CodecTableEntry]) -> [UInt8] {
        var w = ByteWriter()
        w.write(Reader.codecSectionVersion)
        w.write(UInt32(entries.count))
        for e in entries {
            w.write(UInt32(e.tensor))
            w.write(CodecTableEntry.catCodec)
            w.write(UInt8(e.bits))
            w.write(UInt16(e.zeroPoint))
            w.writeFloat(e.step)
            w.write(UInt64(e.expectedBytes))
            w.write(UInt32(e.table.count))
            w.bytes.append(contentsOf: e.table)
        }
        return w.bytes
    }
}
