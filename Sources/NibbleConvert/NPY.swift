import Foundation

/// A numpy array as stored in an `.npy` file: little-endian, C order; float32, int64 or uint8.
public struct NPYArray: Equatable, Sendable {
    public enum Storage: Equatable, Sendable {
        case float32([Float])
        case int64([Int64])
        case uint8([UInt8])
    }

    public var shape: [Int]
    public var storage: Storage

    public init(shape: [Int], storage: Storage) { self.shape = shape; self.storage = storage }
    public init(shape: [Int], floats: [Float]) { self.init(shape: shape, storage: .float32(floats)) }

    public var count: Int {
        switch storage {
        case .float32(let v): return v.count
        case .int64(let v): return v.count
        case .uint8(let v): return v.count
        }
    }

    /// The numpy `descr` of the storage ("<f4", "<i8", "|u1").
    public var descr: String {
        switch storage {
        case .float32: return "<f4"
        case .int64: return "<i8"
        case .uint8: return "|u1"
        }
    }

    /// The values when the array is float32, else nil.
    public var floats: [Float]? {
        if case .float32(let v) = storage { return v }
        return nil
    }
}

/// Reader and writer for the `.npy` format (numpy `lib.format`, header versions 1.0, 2.0 and 3.0).
/// Anything other than little-endian C-order float32/int64/uint8 is an error naming the file and what it found.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    public static func read(contentsOf url: URL) throws -> NPYArray {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConvertError.invalidInput("\(url.path): cannot read file (\(error.localizedDescription))")
        }
        return try decode([UInt8](data), name: url.path)
    }

    /// Parses `.npy` bytes; `name` (usually the path) is used in error messages.
    public static func decode(_ bytes: [UInt8], name: String = "npy data") throws -> NPYArray {
        func fail(_ what: String) -> ConvertError { .invalidInput("\(name): \(what)") }
        if bytes.count < 10 || Array(bytes[0..<6]) != magic { throw fail("not an .npy file (missing the \\x93NUMPY magic)") }
        let major = bytes[6], minor = bytes[7]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            if bytes.count < 12 { throw fail("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw fail("format version \(major).\(minor) is not supported; supported: 1.0, 2.0, 3.0")
        }
        if headerLength > bytes.count - headerStart { throw fail("header of \(headerLength) bytes runs past the end of the file (\(bytes.count) bytes)") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = field(header, "descr").flatMap(quoted) else { throw fail("header has no 'descr': \(header)") }
        guard let fortran = field(header, "fortran_order") else { throw fail("header has no 'fortran_order': \(header)") }
        if fortran.hasPrefix("True") { throw fail("fortran_order=True is not supported; save with numpy.ascontiguousarray (C order)") }
        if !fortran.hasPrefix("False") { throw fail("fortran_order '\(fortran)' is not True or False") }
        guard let shapeText = field(header, "shape"), shapeText.hasPrefix("("), let close = shapeText.firstIndex(of: ")") else {
            throw fail("header has no 'shape' tuple: \(header)")
        }
        var shape: [Int] = []
        for part in shapeText[shapeText.index(after: shapeText.startIndex)..<close].split(separator: ",") {
            let p = part.trimmingCharacters(in: .whitespaces)
            if p.isEmpty { continue }
            guard let d = Int(p), d >= 0 else { throw fail("shape entry '\(p)' is not a non-negative integer") }
            shape.append(d)
        }
        var count = 1
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            if o || p > 1 << 34 { throw fail("shape \(shape) is too large") }
            count = p
        }
        let dataStart = headerStart + headerLength
        let size: Int
        switch descr {
        case "<f4": size = 4
        case "<i8": size = 8
        case "|u1", "<u1", ">u1", "u1": size = 1
        default:
            throw fail("dtype '\(descr)' (\(describe(descr))) is not supported; supported: float32 '<f4', int64 '<i8', uint8 '|u1' (little-endian)")
        }
        let available = bytes.count - dataStart
        if available != count * size {
            throw fail("shape \(shape) of \(describe(descr)) needs \(count * size) data bytes but the file has \(available)")
        }
        return bytes.withUnsafeBytes { raw -> NPYArray in
            switch size {
            case 4:
                return NPYArray(shape: shape, floats: (0..<count).map {
                    Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + $0 * 4, as: UInt32.self)))
                })
            case 8:
                return NPYArray(shape: shape, storage: .int64((0..<count).map {
                    Int64(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + $0 * 8, as: Int64.self))
                }))
            default:
                return NPYArray(shape: shape, storage: .uint8(Array(bytes[dataStart...])))
            }
        }
    }

    /// `.npy` bytes (version 1.0, header padded to 64 bytes as numpy writes it).
    public static func encode(_ a: NPYArray) -> [UInt8] {
        let shapeText = a.shape.count == 1 ? "(\(a.shape[0]),)" : "(" + a.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(a.descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var out = magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        out.append(contentsOf: header.utf8)
        switch a.storage {
        case .float32(let v): for f in v { withUnsafeBytes(of: f.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        case .int64(let v): for i in v { withUnsafeBytes(of: i.littleEndian) { out.append(contentsOf: $0) } }
        case .uint8(let v): out.append(contentsOf: v)
        }
        return out
    }

    public static func write(_ a: NPYArray, to url: URL) throws {
        do { try Data(encode(a)).write(to: url) } catch {
            throw ConvertError.invalidInput("\(url.path): cannot write file (\(error.localizedDescription))")
        }
    }

    /// The text after `'key':` in a header dict, leading spaces trimmed.
    static func field(_ header: String, _ key: String) -> String? {
        guard let r = header.range(of: "'\(key)':") ?? header.range(of: "\"\(key)\":") else { return nil }
        return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
    }

    static func quoted(_ s: String) -> String? {
        guard let q = s.first, q == "'" || q == "\"" else { return nil }
        let rest = s.dropFirst()
        guard let end = rest.firstIndex(of: q) else { return nil }
        return String(rest[..<end])
    }

    /// A readable name for a numpy dtype string, e.g. "<f8" → "float64, little-endian".
    static func describe(_ descr: String) -> String {
        guard descr.count >= 2 else { return descr }
        let order = descr.first!
        let kind = descr.dropFirst().first!
        // The item size comes from the file: only sizes numpy has (1…16 bytes) become a bit width, so an
        // absurd size cannot overflow (found by the npy fuzzer: '<f2305843009213693952').
        let bytes = Int(descr.dropFirst(2)).flatMap { (1...16).contains($0) ? $0 : nil }
        let width = bytes.map { "\($0 * 8)" } ?? "(\(descr.dropFirst(2)) bytes)"
        let base: String
        switch kind {
        case "f": base = "float\(width)"
        case "i": base = "int\(width)"
        case "u": base = "uint\(width)"
        case "b": base = "bool"
        case "O": base = "object"
        case "U": base = "unicode string"
        case "S": base = "byte string"
        case "c": base = "complex\(width)"
        default: base = descr
        }
        switch order {
        case ">": return base + ", big-endian"
        case "<": return base + ", little-endian"
        default: return base
        }
    }
}
