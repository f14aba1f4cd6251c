/// Encodes one tile of quantized symbols (e.g. one row band of a feature map) into caller memory, and back.
///
/// Stream: 1 header byte, then the payload.
/// - header = bits << 4 | mode, mode 0 = RAW, 1 = HUFFMAN (other values are rejected).
/// - RAW payload: the symbols packed MSB first, `bits` bits each, zero-padded to a byte:
///   exactly `rawBytes(count:bits:)` bytes.
/// - HUFFMAN payload: the tokens of `HuffmanTable` (run code, value code, ESCAPE + raw `bits` bits; a direct
///   table has value codes only), MSB first, zero-padded to a byte; strictly shorter than the RAW payload (the encoder writes RAW otherwise).
///
/// So a tile never takes more than `worstCaseBytes(count:bits:)` = 1 + raw bytes, whatever its contents: the
/// arena planner reserves that bound and a bad input can't overflow it (issue 6, "raw fallback per tile").
/// Encoding and decoding allocate nothing; the decoder validates the header, every code word, run lengths
/// against the tile size, the exact payload length and zero padding, and never reads outside `input`.
public struct TileCodec: Sendable, Equatable {
    public enum Mode: UInt8, Sendable {
        case raw = 0
        case huffman = 1
    }

    public let table: HuffmanTable
    public var bits: Int { table.bits }

    public init(table: HuffmanTable) {
        self.table = table
    }

    /// ceil(count·bits / 8): the RAW payload size. Nil for a negative count, bits outside 2…8, or overflow.
    public static func rawBytes(count: Int, bits: Int) -> Int? {
        guard count >= 0, (2...8).contains(bits), count <= (Int.max - 7) / 8 else { return nil }
        return (count * bits + 7) / 8
    }

    /// The most bytes `encode` can write for `count` symbols: 1 + rawBytes(count, bits).
    public static func worstCaseBytes(count: Int, bits: Int) -> Int? {
        guard let raw = rawBytes(count: count, bits: bits) else { return nil }
        return raw + 1
    }

    /// The mode in a tile's header, or nil if the header is missing or invalid.
    public static func mode(of input: UnsafeRawBufferPointer) -> Mode? {
        guard input.count >= 1 else { return nil }
        return Mode(rawValue: input[0] & 0x0F)
    }

    // MARK: encode

    /// Encodes `symbols` into `output` and returns the bytes written. Huffman is tried first in at most
    /// rawBytes − 1 payload bytes; if it does not fit, the tile is written RAW. Nil if `output` is smaller
    /// than `worstCaseBytes(count: symbols.count, bits: bits)` or a symbol is ≥ 2^bits (nothing is promised
    /// about `output` then).
    public func encode(_ symbols: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableRawBufferPointer) -> Int? {
        let n = symbols.count
        guard let raw = TileCodec.rawBytes(count: n, bits: bits), output.count >= raw + 1,
              let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        if raw > 1, let src = symbols.baseAddress {
            switch encodeHuffman(src, count: n, into: out + 1, capacity: raw - 1) {
            case .written(let bytes):
                out[0] = UInt8(bits << 4) | Mode.huffman.rawValue
                return 1 + bytes
            case .invalidSymbol:
                return nil
            case .doesNotFit:
                break
            }
        }
        guard TileCodec.encodeRaw(symbols, bits: bits, into: out + 1) else { return nil }
        out[0] = UInt8(bits << 4) | Mode.raw.rawValue
        return 1 + raw
    }

    @usableFromInline
    enum HuffmanResult { case written(Int), doesNotFit, invalidSymbol }

    @usableFromInline
    func encodeHuffman(_ s: UnsafePointer<UInt8>, count n: Int, into out: UnsafeMutablePointer<UInt8>,
                       capacity: Int) -> HuffmanResult {
        guard let runCode = table.runCode else { return encodeDirect(s, count: n, into: out, capacity: capacity) }
        let bits = self.bits
        let limit = 1 << bits
        let zero = UInt8(truncatingIfNeeded: table.zeroSymbol)
        let longRun = table.longRun
        let zeros8 = UInt64(zero) &* 0x0101_0101_0101_0101
        return table.valueCode.codes.withUnsafeBufferPointer { valueCodes in
            table.valueCode.lengths.withUnsafeBufferPointer { valueLengths in
                runCode.codes.withUnsafeBufferPointer { runCodes in
                    runCode.lengths.withUnsafeBufferPointer { runLengths in
                        var w = BitWriter(base: out, capacity: capacity)
                        let longCode = UInt32(runCodes[longRun])
                        let longLength = Int(runLengths[longRun])
                        var i = 0
                        while i < n {
                            var run = 0
                            // Zero runs 8 symbols at a time: the first byte that differs ends the run.
                            while i &+ 8 <= n {
                                let word = UInt64(littleEndian: UnsafeRawPointer(s + i).loadUnaligned(as: UInt64.self)) ^ zeros8
                                let z = word == 0 ? 8 : word.trailingZeroBitCount &>> 3
                                run &+= z
                                i &+= z
                                if z < 8 { break }
                            }
                            while i < n && s[i] == zero { run &+= 1; i &+= 1 }
                            while run >= longRun { w.write(longCode, count: longLength); run &-= longRun }
                            if i == n {
                                if run > 0 { w.write(UInt32(runCodes[run]), count: Int(runLengths[run])) }
                                break
                            }
                            w.write(UInt32(runCodes[run]), count: Int(runLengths[run]))
                            let v = Int(s[i])
                            if v >= limit { return .invalidSymbol }
                            TileCodec.writeValue(v, &w, codes: valueCodes, lengths: valueLengths, bits: bits)
                            i &+= 1
                            if w.overflowed { break }
                        }
                        // Symbols after an overflow are checked by the RAW pass.
                        guard let bytes = w.finish() else { return .doesNotFit }
                        return .written(bytes)
                    }
                }
            }
        }
    }

    /// A direct table's payload: each symbol's value code, or ESCAPE + raw bits.
    func encodeDirect(_ s: UnsafePointer<UInt8>, count n: Int, into out: UnsafeMutablePointer<UInt8>,
                      capacity: Int) -> HuffmanResult {
        let bits = self.bits
        let limit = 1 << bits
        return table.valueCode.codes.withUnsafeBufferPointer { codes in
            table.valueCode.lengths.withUnsafeBufferPointer { lengths in
                var w = BitWriter(base: out, capacity: capacity)
                var i = 0
                while i < n && !w.overflowed {
                    let v = Int(s[i])
                    if v >= limit { return .invalidSymbol }
                    TileCodec.writeValue(v, &w, codes: codes, lengths: lengths, bits: bits)
                    i &+= 1
                }
                guard let bytes = w.finish() else { return .doesNotFit }
                return .written(bytes)
            }
        }
    }

    /// Writes value symbol `v` (< 2^bits): its own code, or ESCAPE (the last entry; zero length only when every
    /// symbol that needs it has a code, so never written then) followed by `v` in `bits` raw bits.
    @inline(__always)
    static func writeValue(_ v: Int, _ w: inout BitWriter, codes: UnsafeBufferPointer<UInt16>,
                           lengths: UnsafeBufferPointer<UInt8>, bits: Int) {
        let length = Int(lengths[v])
        if length != 0 {
            w.write(UInt32(codes[v]), count: length)
        } else {
            w.write(UInt32(codes[1 << bits]), count: Int(lengths[1 << bits]))
            w.write(UInt32(v), count: bits)
        }
    }

    /// Packs the symbols MSB first, `bits` each, into exactly rawBytes(count, bits) bytes at `out`.
    /// False if a symbol is ≥ 2^bits.
    static func encodeRaw(_ symbols: UnsafeBufferPointer<UInt8>, bits: Int, into out: UnsafeMutablePointer<UInt8>) -> Bool {
        let limit = 1 << bits
        if bits == 8 {
            if let src = symbols.baseAddress { out.update(from: src, count: symbols.count) }
            return true
        }
        var w = BitWriter(base: out, capacity: Int.max)
        for s in symbols {
            if Int(s) >= limit { return false }
            w.write(UInt32(s), count: bits)
        }
        _ = w.finish()
        return true
    }

    // MARK: decode

    /// Decodes one tile of exactly `output.count` symbols from `input` (the tile's bytes, exactly as returned
    /// by `encode`). False for a wrong header or bits, a truncated, overlong or corrupt payload; `output`
    /// holds unspecified symbols then. Never reads outside `input` nor writes outside `output`.
    public func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        let n = output.count
        guard input.count >= 1, let inBase = input.baseAddress?.assumingMemoryBound(to: UInt8.self),
              let raw = TileCodec.rawBytes(count: n, bits: bits) else { return false }
        let header = inBase[0]
        guard Int(header >> 4) == bits, let mode = Mode(rawValue: header & 0x0F) else { return false }
        let payload = input.count - 1
        switch mode {
        case .raw:
            guard payload == raw else { return false }
            return TileCodec.decodeRaw(inBase + 1, byteCount: payload, bits: bits, into: output)
        case .huffman:
            guard payload < raw, let outBase = output.baseAddress else { return false }
            return decodeHuffman(inBase + 1, byteCount: payload, into: outBase, count: n)
        }
    }

    static func decodeRaw(_ src: UnsafePointer<UInt8>, byteCount: Int, bits: Int,
                          into output: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        guard let dst = output.baseAddress else { return byteCount == 0 }
        if bits == 8 {
            dst.update(from: src, count: output.count)
            return true
        }
        var r = BitReader(base: src, count: byteCount)
        for i in 0..<output.count {
            r.refill()
            dst[i] = UInt8(truncatingIfNeeded: r.peek(bits))
            r.consume(bits)
        }
        return TileCodec.finishedCleanly(&r, byteCount: byteCount)
    }

    /// The reader consumed exactly the payload's bytes and the padding bits are zero.
    @inline(__always)
    static func finishedCleanly(_ r: inout BitReader, byteCount: Int) -> Bool {
        if r.overran { return false }
        let used = (r.bitsConsumed + 7) >> 3
        guard used == byteCount else { return false }
        let pad = used * 8 - r.bitsConsumed
        if pad > 0 {
            r.refill()
            if r.peek(pad) != 0 { return false }
        }
        return true
    }

    func decodeHuffman(_ src: UnsafePointer<UInt8>, byteCount: Int, into out: UnsafeMutablePointer<UInt8>,
                       count n: Int) -> Bool {
        guard let runCode = table.runCode else { return decodeDirect(src, byteCount: byteCount, into: out, count: n) }
        let bits = self.bits
        let zero = UInt8(truncatingIfNeeded: table.zeroSymbol)
        let longRun = table.longRun
        let valueCode = table.valueCode
        let zeros8 = UInt64(zero) &* 0x0101_0101_0101_0101
        return valueCode.lookup.withUnsafeBufferPointer { valueLookup in
            runCode.lookup.withUnsafeBufferPointer { runLookup in
                var r = BitReader(base: src, count: byteCount)
                var i = 0
                while i < n {
                    r.refill()  // ≥ 57 bits: enough for a run code, a value code and raw bits (15 + 15 + 8)
                    let run = TileCodec.decodeSymbol(&r, lookup: runLookup, code: runCode)
                    if run < 0 { return false }
                    if run == longRun {
                        if longRun > n &- i { return false }
                        (out + i).update(repeating: zero, count: longRun)
                        i &+= longRun
                        if r.overran { return false }
                        continue
                    }
                    if run > n &- i { return false }
                    if run <= 8 && n &- i >= 8 {
                        // Short runs (most of them): one 8-byte store; bytes past the run are rewritten later.
                        UnsafeMutableRawPointer(out + i).storeBytes(of: zeros8, as: UInt64.self)
                    } else {
                        (out + i).update(repeating: zero, count: run)
                    }
                    i &+= run
                    if i == n { break }
                    let v = TileCodec.decodeValue(&r, lookup: valueLookup, code: valueCode, bits: bits)
                    if v < 0 { return false }
                    if v == Int(zero) { return false }  // runs are maximal: never a zero value
                    out[i] = UInt8(truncatingIfNeeded: v)
                    i &+= 1
                    if r.overran { return false }
                }
                return TileCodec.finishedCleanly(&r, byteCount: byteCount)
            }
        }
    }

    func decodeDirect(_ src: UnsafePointer<UInt8>, byteCount: Int, into out: UnsafeMutablePointer<UInt8>,
                      count n: Int) -> Bool {
        let bits = self.bits
        let valueCode = table.valueCode
        return valueCode.lookup.withUnsafeBufferPointer { lookup in
            var r = BitReader(base: src, count: byteCount)
            for i in 0..<n {
                r.refill()  // ≥ 57 bits: a value code and raw bits (15 + 8)
                let v = TileCodec.decodeValue(&r, lookup: lookup, code: valueCode, bits: bits)
                if v < 0 { return false }
                out[i] = UInt8(truncatingIfNeeded: v)
                if r.overran { return false }
            }
            return TileCodec.finishedCleanly(&r, byteCount: byteCount)
        }
    }

    /// Decodes a value symbol, reading the raw bits after ESCAPE; -1 if no code matches.
    @inline(__always)
    static func decodeValue(_ r: inout BitReader, lookup: UnsafeBufferPointer<UInt16>, code: CanonicalCode, bits: Int) -> Int {
        let v = decodeSymbol(&r, lookup: lookup, code: code)
        if v != 1 << bits { return v }
        defer { r.consume(bits) }
        return Int(r.peek(bits))
    }

    /// Decodes one symbol: a direct lookup on the next `lookupBits` bits, else canonical decoding of the longer
    /// lengths. -1 if no code matches.
    @inline(__always)
    static func decodeSymbol(_ r: inout BitReader, lookup: UnsafeBufferPointer<UInt16>, code: CanonicalCode) -> Int {
        let entry = lookup[Int(r.peek(CanonicalCode.lookupBits))]
        if entry != 0 {
            r.consume(Int(entry & 15))
            return Int(entry >> 4)
        }
        return decodeLongSymbol(&r, code: code)
    }

    static func decodeLongSymbol(_ r: inout BitReader, code: CanonicalCode) -> Int {
        for length in (CanonicalCode.lookupBits + 1)...CanonicalCode.maxLength {
            let offset = Int(r.peek(length)) - Int(code.firstCode[length])
            if offset >= 0 && offset < Int(code.lengthCount[length]) {
                r.consume(length)
                return Int(code.sortedSymbols[Int(code.firstIndex[length]) + offset])
            }
        }
        return -1
    }
}
