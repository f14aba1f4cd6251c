/// The feature-map codec section (kind 4, docs/FORMAT.md §6): per intermediate tensor, how a codec holds it
/// compressed in the session arena — bits, quantizer step and zero point, the serialized static Huffman table,
/// for the transform codec the channel transform — and the compressed size measured on the calibration data
/// (for the planner's expected peak). The Reader checks the structure (bounds, tensor references, bits, step,
/// table header and length, transform sizes, finiteness and orthonormality); the runtime
/// (`NibbleCodec.HuffmanTable(serialized:)`) checks each code itself before a model exists.
public struct CodecTableEntry: Sendable, Equatable {
    public static let catCodec: UInt8 = 1
    public static let transformCodec: UInt8 = 2

    /// Index of an intermediate float32 tensor that is not a graph output.
    public var tensor: Int
    public var bits: Int
    public var step: Float
    public var zeroPoint: Int
    /// Mean bytes of the compressed tensor (directory included) on the calibration data.
    public var expectedBytes: Int
    /// `HuffmanTable.serialized()`: version, bits, zero symbol, long run, value and run code lengths.
    public var table: [UInt8]
    /// The channel transform of a transform entry (codec 2); nil for a CAT entry (codec 1).
    public var transform: ChannelTransformEntry?

    public init(tensor: Int, bits: Int, step: Float, zeroPoint: Int, expectedBytes: Int, table: [UInt8],
                transform: ChannelTransformEntry? = nil) {
        self.tensor = tensor; self.bits = bits; self.step = step; self.zeroPoint = zeroPoint
        self.expectedBytes = expectedBytes; self.table = table; self.transform = transform
    }

    public var codec: UInt8 { transform == nil ? CodecTableEntry.catCodec : CodecTableEntry.transformCodec }
}

/// The per-layer linear transform along channels of a transform entry (issue 6, "transform coding"):
/// coefficients y = B·(x − mean) per pixel, B orthonormal with row k the k-th basis vector.
public struct ChannelTransformEntry: Sendable, Equatable {
    public static let pcaKind: UInt8 = 1
    public static let dctKind: UInt8 = 2
    /// Most channels a transform may have: a PCA basis is C² floats and the reader's orthonormality check
    /// costs C³ operations.
    public static let maxChannels = 1024
    /// Largest |⟨rᵢ, rⱼ⟩ − δᵢⱼ| the reader accepts for the stored basis (float32 rounding of a Float64 fit).
    public static let orthonormalTolerance: Float = 1e-3

    /// 1 = PCA (basis stored), 2 = DCT-II (orthonormal, computed at load; `basis` empty).
    public var kind: UInt8
    public var mean: [Float]
    /// Row-major C×C, row k = the k-th principal direction (decreasing variance); empty for DCT.
    public var basis: [Float]

    public init(kind: UInt8, mean: [Float], basis: [Float]) {
        self.kind = kind; self.mean = mean; self.basis = basis
    }

    public var channels: Int { mean.count }
}

extension Reader {
    /// Version 1 holds CAT (codec 1) and transform (codec 2) entries; a file with only CAT entries is
    /// byte-identical to one written before transform entries existed.
    static let codecSectionVersion: UInt32 = 1

    /// Decodes and checks the codec section against the graph: version, count, and per entry the tensor
    /// (an intermediate float32 tensor, not a graph output, at most one entry per codec), bits 2…8, zero point
    /// < 2^bits, a finite step > 0, a table whose header repeats bits and zero point and whose length is the
    /// one its long-run field implies, and for a transform entry the transform (`decodeTransform`).
    static func decodeCodecTables(_ bytes: UnsafeRawBufferPointer, graph: Graph) throws(NibbleError) -> [CodecTableEntry] {
        var r = ByteReader(bytes, context: "codec section")
        let version = try r.read(UInt32.self, "version")
        if version != codecSectionVersion {
            throw .unsupported("codec section: version \(version), this runtime reads version \(codecSectionVersion)")
        }
        let count = Int(try r.read(UInt32.self, "entry count"))
        if count > 2 * graph.tensors.count { throw r.fail("\(count) entries for a graph of \(graph.tensors.count) tensors (at most one per tensor and codec)") }
        var seen = [[Bool]](repeating: [Bool](repeating: false, count: graph.tensors.count), count: 2)
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
            if codec != CodecTableEntry.catCodec && codec != CodecTableEntry.transformCodec {
                throw .unsupported("codec section: \(what) has codec \(codec); this runtime knows 1 (cat) and 2 (transform)")
            }
            if seen[Int(codec) - 1][tensor] { throw r.fail("\(what): the tensor has a second codec \(codec) table") }
            seen[Int(codec) - 1][tensor] = true
            if !(2...8).contains(bits) { throw r.fail("\(what): bits \(bits) outside 2...8") }
            if zeroPoint >= 1 << bits { throw r.fail("\(what): zero point \(zeroPoint) is not a \(bits)-bit symbol") }
            if codec == CodecTableEntry.transformCodec && zeroPoint != 1 << (bits - 1) {
                throw r.fail("\(what): zero point \(zeroPoint) of a transform entry must be \(1 << (bits - 1)) (signed coefficients)")
            }
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
            let transform = codec == CodecTableEntry.transformCodec ? try decodeTransform(&r, tensor: t, what) : nil
            entries.append(CodecTableEntry(tensor: tensor, bits: bits, step: step, zeroPoint: zeroPoint,
                                           expectedBytes: Int(expected), table: table, transform: transform))
        }
        if r.remaining != 0 { throw r.fail("\(r.remaining) unexpected trailing bytes") }
        return entries
    }

    /// `u8 kind, u32 channels, f32 mean[C]`, and for PCA `f32 basis[C·C]`: the channels must be the tensor's
    /// dim 1 (NCHW or [N, C]), every value finite, and the PCA basis orthonormal within the tolerance.
    private static func decodeTransform(_ r: inout ByteReader, tensor t: TensorDesc, _ what: String) throws(NibbleError) -> ChannelTransformEntry {
        let kind = try r.read(UInt8.self, "\(what) transform kind")
        let channels = Int(try r.read(UInt32.self, "\(what) transform channels"))
        if kind != ChannelTransformEntry.pcaKind && kind != ChannelTransformEntry.dctKind {
            throw r.fail("\(what): transform kind \(kind) is neither 1 (PCA) nor 2 (DCT-II)")
        }
        if t.shape.count != 2 && t.shape.count != 4 {
            throw r.fail("\(what): a transform needs an NCHW or [N, C] tensor, this one has shape \(t.shape)")
        }
        if channels != t.shape[1] || channels > ChannelTransformEntry.maxChannels {
            throw r.fail("\(what): transform of \(channels) channels, the tensor (shape \(t.shape)) has \(t.shape[1]) (at most \(ChannelTransformEntry.maxChannels))")
        }
        func floats(_ n: Int, _ field: String) throws(NibbleError) -> [Float] {
            try r.need(4 * n, "\(what) transform \(field)")
            var v = [Float](repeating: 0, count: n)
            for i in 0..<n {
                v[i] = Float(bitPattern: UInt32(littleEndian: r.bytes.loadUnaligned(fromByteOffset: r.position + 4 * i, as: UInt32.self)))
                if !v[i].isFinite { throw r.fail("\(what): transform \(field)[\(i)] is \(v[i]), not finite") }
            }
            r.position += 4 * n
            return v
        }
        let mean = try floats(channels, "mean")
        let basis = kind == ChannelTransformEntry.pcaKind ? try floats(channels * channels, "basis") : []
        for i in 0..<(basis.isEmpty ? 0 : channels) {
            for j in i..<channels {
                var dot: Float = 0
                for c in 0..<channels { dot += basis[i * channels + c] * basis[j * channels + c] }
                if abs(dot - (i == j ? 1 : 0)) > ChannelTransformEntry.orthonormalTolerance {
                    throw r.fail("\(what): transform basis rows \(i) and \(j) have dot product \(dot), expected \(i == j ? 1 : 0) (orthonormal within \(ChannelTransformEntry.orthonormalTolerance))")
                }
            }
        }
        return ChannelTransformEntry(kind: kind, mean: mean, basis: basis)
    }
}

extension Writer {
    static func encodeCodecTables(_ entries: [CodecTableEntry]) -> [UInt8] {
        var w = ByteWriter()
        w.write(Reader.codecSectionVersion)
        w.write(UInt32(entries.count))
        for e in entries {
            w.write(UInt32(e.tensor))
            w.write(e.codec)
            w.write(UInt8(e.bits))
            w.write(UInt16(e.zeroPoint))
            w.writeFloat(e.step)
            w.write(UInt64(e.expectedBytes))
            w.write(UInt32(e.table.count))
            w.bytes.append(contentsOf: e.table)
            if let t = e.transform {
                w.write(t.kind)
                w.write(UInt32(t.channels))
                for v in t.mean + t.basis { w.writeFloat(v) }
            }
        }
        return w.bytes
    }
}
