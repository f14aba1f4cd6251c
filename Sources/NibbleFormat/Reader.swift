/// Reads and validates a `.nib` buffer (docs/FORMAT.md). Nothing in the buffer is trusted: every offset,
/// size, count, index, shape and checksum is checked before a `ModelFile` exists.
public struct ModelFile {
    public let graph: Graph
    /// The weights section, inside the caller's buffer: constants are used in place, never copied.
    public let weights: UnsafeRawBufferPointer
    public let formatVersion: UInt32
    public let fileSize: Int

    /// Bytes of constant `tensor`, already checked to lie inside `weights`.
    public func constantBytes(_ tensor: Int) -> UnsafeRawBufferPointer {
        let t = graph.tensors[tensor]
        return UnsafeRawBufferPointer(rebasing: weights[t.dataOffset..<t.dataOffset + t.dataSize])
    }
}

public enum Reader {
    /// Parses `bytes`. The caller keeps `bytes` alive (and unchanged) as long as the result is used.
    public static func read(_ bytes: UnsafeRawBufferPointer) throws(NibbleError) -> ModelFile {
        var h = ByteReader(bytes, context: "header")
        try h.need(Layout.headerSize, "header")
        for i in 0..<4 where bytes[i] != Layout.magic[i] {
            throw .malformedModel("header: bad magic (expected 'NIBL', found bytes \(bytes[0]) \(bytes[1]) \(bytes[2]) \(bytes[3])); not a .nib file")
        }
        h.position = 4
        let version = try h.read(UInt32.self, "format version")
        if version > Layout.formatVersion {
            throw .versionMismatch("header: file format version \(version) is newer than this runtime supports (\(Layout.formatVersion)); upgrade Nibble")
        }
        if version == 0 { throw .malformedModel("header: format version 0 is invalid") }
        let headerSize = Int(try h.read(UInt32.self, "header size"))
        if headerSize != Layout.headerSize {
            throw .malformedModel("header: header size \(headerSize), expected \(Layout.headerSize)")
        }
        let sectionCount = Int(try h.read(UInt32.self, "section count"))
        if sectionCount < 1 || sectionCount > Layout.maxSections {
            throw .malformedModel("header: section count \(sectionCount) outside 1...\(Layout.maxSections)")
        }
        let declaredSize = try h.read(UInt64.self, "file size")
        if declaredSize != UInt64(bytes.count) {
            throw .malformedModel("header: file is \(bytes.count) bytes but its header says \(declaredSize) (truncated or padded file)")
        }
        let tableCRC = try h.read(UInt32.self, "section table checksum")
        let tableBytes = sectionCount * Layout.sectionEntrySize
        if Layout.headerSize + tableBytes > bytes.count {
            throw .malformedModel("header: section table of \(sectionCount) entries ends at byte \(Layout.headerSize + tableBytes) but the file has \(bytes.count)")
        }
        let table = UnsafeRawBufferPointer(rebasing: bytes[Layout.headerSize..<Layout.headerSize + tableBytes])
        let actualTableCRC = CRC32.checksum(table)
        if actualTableCRC != tableCRC {
            throw .malformedModel("header: section table checksum mismatch (stored \(hex(tableCRC)), computed \(hex(actualTableCRC)))")
        }

        // Every byte belongs to the header, the table or a section; padding and reserved fields must be zero,
        // so a damaged byte anywhere is caught (docs/FORMAT.md §2).
        for i in 28..<Layout.headerSize where bytes[i] != 0 {
            throw .malformedModel("header byte \(i): reserved bytes must be zero, found \(bytes[i])")
        }
        var ranges: [(start: Int, end: Int)] = []
        var graphBytes: UnsafeRawBufferPointer?
        var weights: UnsafeRawBufferPointer?
        var metadataBytes: UnsafeRawBufferPointer?
        var codecBytes: UnsafeRawBufferPointer?
        var t = ByteReader(table, context: "section table")
        for s in 0..<sectionCount {
            let kind = try t.read(UInt32.self, "section kind")
            _ = try t.read(UInt32.self, "section flags")
            let offset = try t.read(UInt64.self, "section offset")
            let size = try t.read(UInt64.self, "section size")
            let crc = try t.read(UInt32.self, "section checksum")
            _ = try t.read(UInt32.self, "reserved")
            let name = sectionName(kind)
            if offset > UInt64(bytes.count) || size > UInt64(bytes.count) - offset {
                throw .malformedModel("section \(s) (\(name)): bytes \(offset)..<\(offset &+ size) lie outside the file of \(bytes.count) bytes")
            }
            if offset % UInt64(Layout.alignment) != 0 || offset < UInt64(Layout.headerSize + tableBytes) {
                throw .malformedModel("section \(s) (\(name)): offset \(offset) is not \(Layout.alignment)-byte aligned after the section table")
            }
            let body = UnsafeRawBufferPointer(rebasing: bytes[Int(offset)..<Int(offset + size)])
            ranges.append((Int(offset), Int(offset + size)))
            let actual = CRC32.checksum(body)
            if actual != crc {
                throw .malformedModel("section \(s) (\(name)): checksum mismatch (stored \(hex(crc)), computed \(hex(actual))); the file is corrupt")
            }
            switch Layout.SectionKind(rawValue: kind) {
            case .graph:
                if graphBytes != nil { throw .malformedModel("section \(s): a second graph section") }
                graphBytes = body
            case .weights:
                if weights != nil { throw .malformedModel("section \(s): a second weights section") }
                weights = body
            case .metadata:
                if metadataBytes != nil { throw .malformedModel("section \(s): a second metadata section") }
                metadataBytes = body
            case .codecTables:
                if codecBytes != nil { throw .malformedModel("section \(s): a second codec section") }
                codecBytes = body
            case nil:
                continue  // reserved kinds from later minor revisions are skipped (docs/FORMAT.md §3)
            }
        }
        ranges.sort { $0.start < $1.start }
        var covered = Layout.headerSize + tableBytes
        for r in ranges {
            if r.start < covered { throw .malformedModel("section table: sections overlap at byte \(r.start)") }
            for i in covered..<r.start where bytes[i] != 0 {
                throw .malformedModel("byte \(i): padding between sections must be zero, found \(bytes[i])")
            }
            covered = r.end
        }
        if covered != bytes.count { throw .malformedModel("bytes \(covered)..<\(bytes.count) belong to no section") }
        guard let graphBytes else { throw .malformedModel("section table: no graph section") }
        guard let weights else { throw .malformedModel("section table: no weights section") }
        var graph = try decodeGraph(graphBytes, weightsSize: weights.count)
        if let metadataBytes { graph.metadata = try decodeMetadata(metadataBytes) }
        if let codecBytes { graph.codecTables = try decodeCodecTables(codecBytes, graph: graph) }
        return ModelFile(graph: graph, weights: weights, formatVersion: version, fileSize: bytes.count)
    }

    static func sectionName(_ kind: UInt32) -> String {
        switch Layout.SectionKind(rawValue: kind) {
        case .graph: return "graph"
        case .weights: return "weights"
        case .metadata: return "metadata"
        case .codecTables: return "codec"
        case nil: return "kind \(kind)"
        }
    }

    static func hex(_ v: UInt32) -> String {
        // utf8.count, not count: counting Characters pulls the grapheme-breaking tables into the embedded core.
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - s.utf8.count)) + s
    }

    static func decodeGraph(_ bytes: UnsafeRawBufferPointer, weightsSize: Int) throws(NibbleError) -> Graph {
        var r = ByteReader(bytes, context: "graph section")
        let tensorCount = Int(try r.read(UInt32.self, "tensor count"))
        let nodeCount = Int(try r.read(UInt32.self, "node count"))
        let inputCount = Int(try r.read(UInt32.self, "input count"))
        let outputCount = Int(try r.read(UInt32.self, "output count"))
        // Each tensor takes at least 22 bytes and each node 12: bound the counts by the section size
        // before reserving anything.
        if tensorCount > r.remaining / 22 || nodeCount > r.remaining / 12 || inputCount > r.remaining / 4 || outputCount > r.remaining / 4 {
            throw r.fail("counts (\(tensorCount) tensors, \(nodeCount) nodes) cannot fit in \(bytes.count) bytes")
        }
        var g = Graph()
        g.tensors.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let name = try r.readString(lengthBytes: 2, "tensor \(i) name")
            let dtypeCode = try r.read(UInt8.self, "tensor \(i) dtype")
            let rank = Int(try r.read(UInt8.self, "tensor \(i) rank"))
            let roleCode = try r.read(UInt8.self, "tensor \(i) role")
            _ = try r.read(UInt8.self, "reserved")
            guard let dtype = DType(rawValue: dtypeCode) else {
                throw r.fail("tensor \(i) '\(name)': unknown dtype code \(dtypeCode)")
            }
            guard let role = TensorRole(rawValue: roleCode) else {
                throw r.fail("tensor \(i) '\(name)': unknown role code \(roleCode)")
            }
            if rank > Layout.maxRank { throw r.fail("tensor \(i) '\(name)': rank \(rank) exceeds \(Layout.maxRank)") }
            var shape: [Int] = []
            var elements = 1
            for d in 0..<rank {
                let dim = try r.read(Int64.self, "tensor \(i) dim \(d)")
                if dim < 1 || dim > Int64(Int32.max) {
                    throw r.fail("tensor \(i) '\(name)': dimension \(d) is \(dim), expected 1...\(Int32.max)")
                }
                let (p, overflow) = elements.multipliedReportingOverflow(by: Int(dim))
                if overflow || p > Layout.maxElements {
                    throw r.fail("tensor \(i) '\(name)': shape \(shape + [Int(dim)]) overflows the element count")
                }
                elements = p
                shape.append(Int(dim))
            }
            let offset = try r.read(UInt64.self, "tensor \(i) data offset")
            let size = try r.read(UInt64.self, "tensor \(i) data size")
            var t = TensorDesc(name: name, dtype: dtype, shape: shape, role: role)
            if role == .constant {
                if size != UInt64(t.byteCount) {
                    throw r.fail("tensor \(i) '\(name)': data size \(size) but shape \(shape) of \(dtype.name) needs \(t.byteCount)")
                }
                if offset > UInt64(weightsSize) || size > UInt64(weightsSize) - offset {
                    throw r.fail("tensor \(i) '\(name)': data at weights bytes \(offset)..<\(offset &+ size) but the weights section has \(weightsSize)")
                }
                if offset % UInt64(Layout.alignment) != 0 {
                    throw r.fail("tensor \(i) '\(name)': data offset \(offset) is not \(Layout.alignment)-byte aligned")
                }
                t.dataOffset = Int(offset)
                t.dataSize = Int(size)
            }
            g.tensors.append(t)
        }
        func tensorIndex(_ raw: UInt32, _ what: String, optional: Bool) throws(NibbleError) -> Int {
            if raw == UInt32.max && optional { return absentTensor }
            if Int(raw) >= tensorCount { throw r.fail("\(what) refers to tensor \(raw) but there are \(tensorCount)") }
            return Int(raw)
        }
        g.nodes.reserveCapacity(nodeCount)
        for n in 0..<nodeCount {
            let opCode = try r.read(UInt16.self, "node \(n) op")
            let precisionCode = try r.read(UInt8.self, "node \(n) precision")
            _ = try r.read(UInt8.self, "reserved")
            let name = try r.readString(lengthBytes: 2, "node \(n) name")
            guard let op = OpType(rawValue: opCode) else {
                throw .unsupported("graph section: node \(n) '\(name)' has op code \(opCode), unknown to this runtime")
            }
            guard let precision = Precision(rawValue: precisionCode) else {
                throw .unsupported("graph section: node \(n) '\(name)' (\(op.name)) has precision code \(precisionCode), unknown to this runtime")
            }
            let inCount = Int(try r.read(UInt16.self, "node \(n) input count"))
            let outCount = Int(try r.read(UInt16.self, "node \(n) output count"))
            try r.need(4 * (inCount + outCount), "node \(n) '\(name)' tensor lists")
            var inputs: [Int] = []
            for k in 0..<inCount {
                inputs.append(try tensorIndex(try r.read(UInt32.self, ""), "node \(n) '\(name)' input \(k)", optional: true))
            }
            var outputs: [Int] = []
            for k in 0..<outCount {
                outputs.append(try tensorIndex(try r.read(UInt32.self, ""), "node \(n) '\(name)' output \(k)", optional: false))
            }
            let attrCount = Int(try r.read(UInt16.self, "node \(n) attribute count"))
            var attributes: [Attribute] = []
            for a in 0..<attrCount {
                let keyCode = try r.read(UInt16.self, "node \(n) attribute \(a) key")
                let kind = try r.read(UInt16.self, "node \(n) attribute \(a) kind")
                let count = Int(try r.read(UInt32.self, "node \(n) attribute \(a) count"))
                guard let key = AttributeKey(rawValue: keyCode) else {
                    throw .unsupported("graph section: node \(n) '\(name)' has attribute key \(keyCode), unknown to this runtime")
                }
                switch kind {
                case 0:
                    try r.need(8 * count, "node \(n) '\(name)' attribute \(key.name)")
                    var ints: [Int64] = []
                    for _ in 0..<count { ints.append(try r.read(Int64.self, key.name)) }
                    attributes.append(Attribute(key, ints: ints))
                case 1:
                    try r.need(4 * count, "node \(n) '\(name)' attribute \(key.name)")
                    var floats: [Float] = []
                    for _ in 0..<count { floats.append(try r.readFloat(key.name)) }
                    attributes.append(Attribute(key, floats: floats))
                default:
                    throw r.fail("node \(n) '\(name)' attribute \(key.name) has kind \(kind), expected 0 (ints) or 1 (floats)")
                }
            }
            g.nodes.append(Node(name: name, op: op, precision: precision, inputs: inputs, outputs: outputs, attributes: attributes))
        }
        try r.need(4 * (inputCount + outputCount), "graph input/output lists")
        for k in 0..<inputCount { g.inputs.append(try tensorIndex(try r.read(UInt32.self, ""), "graph input \(k)", optional: false)) }
        for k in 0..<outputCount { g.outputs.append(try tensorIndex(try r.read(UInt32.self, ""), "graph output \(k)", optional: false)) }
        if r.remaining != 0 { throw r.fail("\(r.remaining) unexpected trailing bytes") }
        try validateDataflow(g)
        return g
    }

    /// Roles agree with the graph's lists; every intermediate is written by exactly one node before it is read.
    static func validateDataflow(_ g: Graph) throws(NibbleError) {
        if g.inputs.isEmpty { throw .malformedModel("graph: no inputs") }
        if g.outputs.isEmpty { throw .malformedModel("graph: no outputs") }
        var defined = [Bool](repeating: false, count: g.tensors.count)
        for (i, t) in g.tensors.enumerated() where t.role == .constant { defined[i] = true }
        for i in g.inputs {
            if g.tensors[i].role != .input {
                throw .malformedModel("graph: input '\(g.tensors[i].name)' is not marked as an input tensor")
            }
            if defined[i] { throw .malformedModel("graph: input '\(g.tensors[i].name)' is listed twice") }
            defined[i] = true
        }
        for (i, t) in g.tensors.enumerated() where t.role == .input && !g.inputs.contains(i) {
            throw .malformedModel("graph: tensor '\(t.name)' is marked as an input but is not in the input list")
        }
        for (n, node) in g.nodes.enumerated() {
            for i in node.inputs where i != absentTensor && !defined[i] {
                throw .malformedModel("graph: node \(n) '\(node.name)' (\(node.op.name)) reads '\(g.tensors[i].name)' before any node writes it")
            }
            if node.outputs.isEmpty { throw .malformedModel("graph: node \(n) '\(node.name)' has no outputs") }
            for o in node.outputs {
                if g.tensors[o].role != .intermediate || defined[o] {
                    throw .malformedModel("graph: node \(n) '\(node.name)' writes '\(g.tensors[o].name)', which is an input, a constant or already written")
                }
                defined[o] = true
            }
        }
        for o in g.outputs where !defined[o] {
            throw .malformedModel("graph: output '\(g.tensors[o].name)' is never written")
        }
    }

    static func decodeMetadata(_ bytes: UnsafeRawBufferPointer) throws(NibbleError) -> [(key: String, value: String)] {
        var r = ByteReader(bytes, context: "metadata section")
        let count = Int(try r.read(UInt32.self, "entry count"))
        if count > r.remaining / 6 { throw r.fail("\(count) entries cannot fit") }
        var kv: [(key: String, value: String)] = []
        for i in 0..<count {
            let k = try r.readString(lengthBytes: 2, "entry \(i) key")
            let v = try r.readString(lengthBytes: 4, "entry \(i) value")
            kv.append((k, v))
        }
        return kv
    }
}
