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
    /// Encode writes RAW tiles only, skipping the Huffman attempt: for a map whose slot has room for its raw
    /// size where it is live (`CodecPlacement`), so its values cost a pack and an unpack instead of entropy coding.
    /// Decoding is the same either way (the header says the mode), and so are the decoded symbols.
    public let storesRaw: Bool

    public init(table: HuffmanTable, storesRaw: Bool = false) {
        self.table = table
        self.storesRaw = storesRaw
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
    /// rawBytes − 1 payload bytes (unless `storesRaw`); if it does not fit, the tile is written RAW. Nil if `output` is smaller
    /// than `worstCaseBytes(count: symbols.count, bits: bits)` or a symbol is ≥ 2^bits (nothing is promised
    /// about `output` then).
    public func encode(_ symbols: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableRawBufferPointer) -> Int? {
        let n = symbols.count
        guard let raw = TileCodec.rawBytes(count: n, bits: bits), output.count >= raw + 1,
              let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        if raw > 1, !storesRaw, let src = symbols.baseAddress {
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
        guard table.hasRuns else { return encodeDirect(s, count: n, into: out, capacity: capacity) }
        let limit = 1 << bits
        let zero = UInt8(truncatingIfNeeded: table.zeroSymbol)
        let longRun = table.longRun
        let zeros8 = UInt64(zero) &* 0x0101_0101_0101_0101
        let codes = table.codes
        return codes.valueWords.withUnsafeBufferPointer { valueWords in
            codes.runWords.withUnsafeBufferPointer { runWords in
                var w = BitWriter(base: out, capacity: capacity)
                let long = runWords[longRun]
                // 64 symbols at a time: a mask of the nonzero ones, then one token pair per set bit (the run is the
                // distance from the last value). Run lengths no longer steer a branch per zero or per 8 symbols,
                // which mispredicted on the short random runs of post-ReLU maps. The same tokens as one by one.
                var next = 0  // the first symbol not yet coded
                var chunk = 0
                while chunk < n && !w.overflowed {
                    let m = min(64, n &- chunk)
                    var mask: UInt64 = 0
                    var j = 0
                    while j &+ 8 <= m {
                        let word = UInt64(littleEndian: UnsafeRawPointer(s + chunk + j).loadUnaligned(as: UInt64.self)) ^ zeros8
                        mask |= TileCodec.nonzeroBytes(word) &<< UInt64(j)
                        j &+= 8
                    }
                    while j < m {
                        if s[chunk &+ j] != zero { mask |= 1 &<< UInt64(j) }
                        j &+= 1
                    }
                    while mask != 0 {
                        let i = chunk &+ mask.trailingZeroBitCount
                        mask &= mask &- 1
                        var run = i &- next
                        while run >= longRun { w.write(word: long); run &-= longRun }
                        let v = Int(s[i])
                        if v >= limit { return .invalidSymbol }
                        w.write(word: runWords[run], then: valueWords[v])  // RUN_r and the value
                        next = i &+ 1
                    }
                    chunk &+= 64
                }
                // Trailing zeros: LONGs, then RUN_r for the rest when r > 0 (after an overflow `next` is not the
                // last value's successor: nothing more is written).
                if !w.overflowed {
                    var run = n &- next
                    while run >= longRun { w.write(word: long); run &-= longRun }
                    if run > 0 { w.write(word: runWords[run]) }
                }
                // Symbols after an overflow are checked by the RAW pass.
                guard let bytes = w.finish() else { return .doesNotFit }
                return .written(bytes)
            }
        }
    }

    /// Bit k set when byte k of `x` is nonzero (SWAR: the high bit of each byte, gathered by one multiply).
    @inline(__always)
    static func nonzeroBytes(_ x: UInt64) -> UInt64 {
        let high = ((x & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7F7F_7F7F_7F7F_7F7F | x) & 0x8080_8080_8080_8080
        return ((high &>> 7) &* 0x0102_0408_1020_4080) &>> 56
    }

    /// A direct table's payload: each symbol's value word (its code, or ESCAPE + raw bits).
    func encodeDirect(_ s: UnsafePointer<UInt8>, count n: Int, into out: UnsafeMutablePointer<UInt8>,
                      capacity: Int) -> HuffmanResult {
        let limit = 1 << bits
        return table.codes.valueWords.withUnsafeBufferPointer { words in
            var w = BitWriter(base: out, capacity: capacity)
            var i = 0
            // Two symbols at a time, as `encodeHuffman` writes a run and its value.
            while i &+ 2 <= n && !w.overflowed {
                let a = Int(s[i]), b = Int(s[i &+ 1])
                if a >= limit || b >= limit { return .invalidSymbol }
                w.write(word: words[a], then: words[b])
                i &+= 2
            }
            if i < n && !w.overflowed {
                let v = Int(s[i])
                if v >= limit { return .invalidSymbol }
                w.write(word: words[v])
            }
            guard let bytes = w.finish() else { return .doesNotFit }
            return .written(bytes)
        }
    }

    /// Packs the symbols MSB first, `bits` each, into exactly rawBytes(count, bits) bytes at `out`.
    /// False if a symbol is ≥ 2^bits.
    static func encodeRaw(_ symbols: UnsafeBufferPointer<UInt8>, bits: Int, into out: UnsafeMutablePointer<UInt8>) -> Bool {
        guard let src = symbols.baseAddress else { return true }
        return RawSymbols.pack(src, count: symbols.count, bits: bits, into: out)
    }

    // MARK: decode

    /// Decodes one tile of exactly `output.count` symbols from `input` (the tile's bytes, exactly as returned
    /// by `encode`). False for a wrong header or bits, a truncated, overlong or corrupt payload; `output`
    /// holds unspecified symbols then. Never reads outside `input` nor writes outside `output`.
    public func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        decode(input, into: output, fast: true)
    }

    /// `fast: false`: token by token, without `MultiSymbolTable` (the tests' reference).
    func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableBufferPointer<UInt8>, fast: Bool) -> Bool {
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
            return decodeHuffman(inBase + 1, byteCount: payload, into: outBase, count: n, fast: fast)
        }
    }

    static func decodeRaw(_ src: UnsafePointer<UInt8>, byteCount: Int, bits: Int,
                          into output: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        guard let dst = output.baseAddress else { return byteCount == 0 }
        return RawSymbols.unpack(src, byteCount: byteCount, bits: bits, into: dst, count: output.count)
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
                       count n: Int, fast: Bool = true) -> Bool {
        guard let runCode = table.runCode else {
            return decodeDirect(src, byteCount: byteCount, into: out, count: n, fast: fast)
        }
        let bits = self.bits
        let zero = UInt8(truncatingIfNeeded: table.zeroSymbol)
        let longRun = table.longRun
        let valueCode = table.valueCode
        let zeros8 = UInt64(zero) &* 0x0101_0101_0101_0101, zeros16 = SIMD16<UInt8>(repeating: zero)
        return table.multi.withUnsafeBufferPointer { multi in
            valueCode.lookup.withUnsafeBufferPointer { valueLookup in
                runCode.lookup.withUnsafeBufferPointer { runLookup in
                    var r = BitReader(base: src, count: byteCount)
                    var i = 0
                    while i < n {
                        r.refill()  // ≥ 57 bits: enough for a run code, a value code and raw bits (15 + 15 + 8)
                        // Up to two whole (run value) pairs per lookup (`MultiSymbolTable`), and lookups back to back
                        // until fewer than 11 bits are left (up to 5 per refill: the refill is off the lookups' chain);
                        // the tile's last 15–31 symbols, LONG, long codes and invalid tokens go token by token below.
                        var e = multi[Int(r.peek(MultiSymbolTable.bits))]
                        var window = Int(e &>> 11 & 0x18)
                        if fast && e != 0 && n &- i >= 16 && n &- i >= window &+ 8 {
                            repeat {
                                let symbols = zeros8 ^ UInt64(e &>> 16 & 0xFF) &<< UInt64(e &>> 5 & 0x38)
                                    ^ UInt64(e &>> 24) &<< UInt64(e &>> 8 & 0x38)
                                // Zeros over [i, i + window) in two 16-byte stores, then the window's 8 symbols.
                                UnsafeMutableRawPointer(out + i).storeBytes(of: zeros16, as: SIMD16<UInt8>.self)
                                UnsafeMutableRawPointer(out + i + (window > 16 ? 8 : 0)).storeBytes(of: zeros16, as: SIMD16<UInt8>.self)
                                UnsafeMutableRawPointer(out + i + window).storeBytes(of: symbols.littleEndian, as: UInt64.self)
                                i &+= window &+ Int(e &>> 4 & 15)
                                r.consume(Int(e & 15))
                                if r.available < MultiSymbolTable.bits { break }
                                e = multi[Int(r.peek(MultiSymbolTable.bits))]
                                window = Int(e &>> 11 & 0x18)
                            } while e != 0 && n &- i >= 16 && n &- i >= window &+ 8
                            continue
                        }
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
                    // A fast group's bits past the payload read as zero: the overrun is caught here.
                    return TileCodec.finishedCleanly(&r, byteCount: byteCount)
                }
            }
        }
    }

    /// `fast: false` reads token by token only (the reference the multi-symbol path is tested against).
    func decodeDirect(_ src: UnsafePointer<UInt8>, byteCount: Int, into out: UnsafeMutablePointer<UInt8>,
                      count n: Int, fast: Bool = true) -> Bool {
        let bits = self.bits
        let valueCode = table.valueCode
        return table.multi.withUnsafeBufferPointer { multi in
            valueCode.lookup.withUnsafeBufferPointer { lookup in
                var r = BitReader(base: src, count: byteCount)
                var i = 0
                while i < n {
                    r.refill()  // ≥ 57 bits: a value code and raw bits (15 + 8)
                    var e = multi[Int(r.peek(MultiSymbolTable.bits))]
                    if fast && e != 0 && n &- i >= 4 {
                        // Up to three symbols per lookup, stored as one 4-byte word; lookups back to back while
                        // 11 bits are left, as in `decodeHuffman`.
                        repeat {
                            UnsafeMutableRawPointer(out + i).storeBytes(of: (e &>> 8).littleEndian, as: UInt32.self)
                            i &+= Int(e &>> 4 & 15)
                            r.consume(Int(e & 15))
                            if r.available < MultiSymbolTable.bits { break }
                            e = multi[Int(r.peek(MultiSymbolTable.bits))]
                        } while e != 0 && n &- i >= 4
                        continue
                    }
                    let v = TileCodec.decodeValue(&r, lookup: lookup, code: valueCode, bits: bits)
                    if v < 0 { return false }
                    out[i] = UInt8(truncatingIfNeeded: v)
                    i &+= 1
                    if r.overran { return false }
                }
                return TileCodec.finishedCleanly(&r, byteCount: byteCount)
            }
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
