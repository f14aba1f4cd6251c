/// Bounds-checked little-endian reads over a byte buffer; every failure names the section and offset.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let context: String
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer, context: String) {
        self.bytes = bytes; self.context = context
    }

    var remaining: Int { bytes.count - position }

    func fail(_ what: Message) -> NibbleError {
        .malformedModel("\(context) byte \(position): \(what)")
    }

    mutating func need(_ n: Int, _ what: String) throws(NibbleError) {
        if n < 0 || n > remaining {
            throw fail("\(what) needs \(n) bytes but only \(remaining) remain")
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: String) throws(NibbleError) -> T {
        try need(MemoryLayout<T>.size, what)
        let v = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func readFloat(_ what: String) throws(NibbleError) -> Float {
        Float(bitPattern: try read(UInt32.self, what))
    }

    mutating func readString(lengthBytes: Int, _ what: String) throws(NibbleError) -> String {
        let n = lengthBytes == 2 ? Int(try read(UInt16.self, what)) : Int(try read(UInt32.self, what))
        if n > Layout.maxNameLength { throw fail("\(what) length \(n) exceeds \(Layout.maxNameLength)") }
        try need(n, what)
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<position + n]), as: UTF8.self)
        position += n
        return s
    }
}

/// Little-endian appends into a growing byte array.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func write<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func writeFloat(_ v: Float) { write(v.bitPattern) }

    mutating func writeString(_ s: String, lengthBytes: Int) {
        let utf8 = Array(s.utf8)
        if lengthBytes == 2 { write(UInt16(utf8.count)) } else { write(UInt32(utf8.count)) }
        bytes.append(contentsOf: utf8)
    }

    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }
}
