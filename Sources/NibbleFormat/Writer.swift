/// Serializes a graph and its constant data into `.nib` bytes (docs/FORMAT.md).
public enum Writer {
    /// `constantData[i]` holds the bytes of tensor `i` when it is a constant (ignored otherwise).
    /// Each constant's `dataOffset`/`dataSize` are assigned here; its byte count must match its shape.
    public static func serialize(_ graph: Graph, constantData: [[UInt8]]) throws(NibbleError) -> [UInt8] {
        if constantData.count != graph.tensors.count {
            throw .invalidArgument("writer: \(constantData.count) constant buffers for \(graph.tensors.count) tensors")
        }
        var g = graph
        var weights = ByteWriter()
        for i in g.tensors.indices where g.tensors[i].role == .constant {
            let data = constantData[i]
            if data.count != g.tensors[i].byteCount {
                throw .invalidArgument("writer: constant '\(g.tensors[i].name)' has \(data.count) bytes, shape needs \(g.tensors[i].byteCount)")
            }
            weights.pad(to: Layout.alignment)
            g.tensors[i].dataOffset = weights.bytes.count
            g.tensors[i].dataSize = data.count
            weights.bytes.append(contentsOf: data)
        }
        var sections: [(Layout.SectionKind, [UInt8])] = [
            (.graph, encodeGraph(g)),
            (.weights, weights.bytes),
            (.metadata, encodeMetadata(g.metadata)),
        ]
        if !g.codecTables.isEmpty { sections.append((.codecTables, encodeCodecTables(g.codecTables))) }

        var out = ByteWriter()
        let tableEnd = Layout.headerSize + sections.count * Layout.sectionEntrySize
        var offsets: [Int] = []
        var cursor = Layout.alignUp(tableEnd)
        for (_, body) in sections {
            offsets.append(cursor)
            cursor = Layout.alignUp(cursor + body.count)
        }
        let fileSize = offsets.last! + sections.last!.1.count

        var table = ByteWriter()
        for (i, (kind, body)) in sections.enumerated() {
            table.write(kind.rawValue)
            table.write(UInt32(0))
            table.write(UInt64(offsets[i]))
            table.write(UInt64(body.count))
            table.write(body.withUnsafeBytes { CRC32.checksum($0) })
            table.write(UInt32(0))
        }
        out.bytes.append(contentsOf: Layout.magic)
        out.write(Layout.formatVersion)
        out.write(UInt32(Layout.headerSize))
        out.write(UInt32(sections.count))
        out.write(UInt64(fileSize))
        out.write(table.bytes.withUnsafeBytes { CRC32.checksum($0) })
        out.write(UInt32(0))
        out.pad(to: Layout.headerSize)
        out.bytes.append(contentsOf: table.bytes)
        for (i, (_, body)) in sections.enumerated() {
            while out.bytes.count < offsets[i] { out.bytes.append(0) }
            out.bytes.append(contentsOf: body)
        }
        return out.bytes
    }

    static func encodeGraph(_ g: Graph) -> [UInt8] {
        var w = ByteWriter()
        w.write(UInt32(g.tensors.count))
        w.write(UInt32(g.nodes.count))
        w.write(UInt32(g.inputs.count))
        w.write(UInt32(g.outputs.count))
        for t in g.tensors {
            w.writeString(t.name, lengthBytes: 2)
            w.write(t.dtype.rawValue)
            w.write(UInt8(t.shape.count))
            w.write(t.role.rawValue)
            w.write(UInt8(0))
            for d in t.shape { w.write(Int64(d)) }
            w.write(UInt64(t.dataOffset))
            w.write(UInt64(t.dataSize))
        }
        for n in g.nodes {
            w.write(n.op.rawValue)
            w.write(n.precision.rawValue)
            w.write(UInt8(0))
            w.writeString(n.name, lengthBytes: 2)
            w.write(UInt16(n.inputs.count))
            w.write(UInt16(n.outputs.count))
            for i in n.inputs { w.write(i == absentTensor ? UInt32.max : UInt32(i)) }
            for o in n.outputs { w.write(UInt32(o)) }
            w.write(UInt16(n.attributes.count))
            for a in n.attributes {
                w.write(a.key.rawValue)
                if a.floats.isEmpty {
                    w.write(UInt16(0))
                    w.write(UInt32(a.ints.count))
                    for v in a.ints { w.write(v) }
                } else {
                    w.write(UInt16(1))
                    w.write(UInt32(a.floats.count))
                    for v in a.floats { w.writeFloat(v) }
                }
            }
        }
        for i in g.inputs { w.write(UInt32(i)) }
        for o in g.outputs { w.write(UInt32(o)) }
        return w.bytes
    }

    static func encodeMetadata(_ kv: [(key: String, value: String)]) -> [UInt8] {
        var w = ByteWriter()
        w.write(UInt32(kv.count))
        for (k, v) in kv {
            w.writeString(k, lengthBytes: 2)
            w.writeString(v, lengthBytes: 4)
        }
        return w.bytes
    }
}
