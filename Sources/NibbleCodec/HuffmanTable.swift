/// The static per-layer entropy code of the CAT codec (issue 6): two canonical Huffman codes built at convert
/// time from calibration statistics, stored in the .nib, validated at load.
///
/// A tile of quantized symbols is read as tokens. Zero runs are maximal runs of `zeroSymbol` (0 after ReLU,
/// the zero point for signed maps):
///
///     tile   := (run value)* tail
///     run    := LONG* RUN_r            -- r = 0…longRun−1 zeros; each LONG is exactly longRun zeros
///     value  := VALUE_s | ESCAPE raw   -- s ≠ zeroSymbol; raw = s in `bits` bits, for s without a code
///     tail   := LONG* [RUN_r, r ≥ 1]   -- trailing zeros; the decoder stops when it has `count` symbols
///
/// - Run alphabet (run code): RUN_0 … RUN_{longRun−1}, then LONG (index longRun). Every run symbol has a code.
/// - Value alphabet (value code): the symbols 0 … 2^bits−1, then ESCAPE (index 2^bits). `zeroSymbol` never has
///   a code (a run is maximal, so a value is never zero). Every other symbol is codable: ESCAPE has a code
///   unless every nonzero symbol has its own.
///
/// Coding the run length before each nonzero value is Golomb-like for the geometric runs seen after ReLU and
/// brings a symbol-by-symbol Huffman code near the order-0 entropy even when zeros are 80–90 % of the values
/// (a single-symbol code can't spend less than 1 bit on a zero).
///
/// When zeros are rare (signed maps before a residual add, linear projections, transform coefficients) the run
/// token before every value costs a whole bit (no Huffman code is shorter), measured +0.76 bit/value over the
/// entropy on a ResNet block's pre-add map. Such maps get a *direct* table (`hasRuns == false`, format version 2):
///
///     tile   := value*                 -- every symbol, zeroSymbol included, is VALUE_s or ESCAPE raw
///
/// `init(statistics:)` builds both and keeps the one whose calibration cost is smaller.
public struct HuffmanTable: Sendable, Equatable {
    /// Serialization versions: 1 = run-length tokens + values, 2 = direct (values only).
    public static let runsVersion: UInt8 = 1
    public static let directVersion: UInt8 = 2
    public static let maxCodeLength = 15
    public static let defaultLongRun = 64

    /// Bits per quantized symbol (2…8).
    public let bits: Int
    /// The symbol zero runs consist of.
    public let zeroSymbol: Int
    /// Length of a LONG run token (2…255); 0 for a direct table.
    public let longRun: Int
    @usableFromInline let codes: HuffmanCodes
    @usableFromInline var valueCode: CanonicalCode { codes.value }
    /// Nil for a direct table.
    @usableFromInline var runCode: CanonicalCode? { codes.run }
    /// `MultiSymbolTable` entries, derived from the codes (not serialized).
    @usableFromInline var multi: [UInt32] { codes.multi }

    /// Whether zero runs are coded as run tokens (format version 1) or every symbol directly (version 2).
    public var hasRuns: Bool { runCode != nil }

    /// Index of ESCAPE in the value alphabet (2^bits).
    public var escapeSymbol: Int { 1 << bits }
    /// Code length per value symbol (2^bits + 1 entries, ESCAPE last; 0 = no code).
    public var valueCodeLengths: [UInt8] { valueCode.lengths }
    /// Code length per run symbol (longRun + 1 entries, LONG last); empty for a direct table.
    public var runCodeLengths: [UInt8] { runCode?.lengths ?? [] }

    /// A table from explicit code lengths; nil unless they describe a usable code (see `init?(serialized:)`).
    public init?(bits: Int, zeroSymbol: Int, longRun: Int, valueCodeLengths: [UInt8], runCodeLengths: [UInt8]) {
        guard (2...8).contains(bits),
              zeroSymbol >= 0, zeroSymbol < 1 << bits,
              (2...255).contains(longRun),
              valueCodeLengths.count == (1 << bits) + 1,
              runCodeLengths.count == longRun + 1,
              valueCodeLengths[zeroSymbol] == 0,
              // Every nonzero symbol must be codable: through its own code or through ESCAPE.
              valueCodeLengths[1 << bits] != 0
                  || valueCodeLengths[0..<(1 << bits)].filter({ $0 == 0 }).count == 1,
              !runCodeLengths.contains(0),
              let values = CanonicalCode(lengths: valueCodeLengths),
              let runs = CanonicalCode(lengths: runCodeLengths)
        else { return nil }
        self.bits = bits
        self.zeroSymbol = zeroSymbol
        self.longRun = longRun
        codes = HuffmanCodes(value: values, run: runs, bits: bits, zeroSymbol: zeroSymbol, longRun: longRun)
    }

    /// A direct table (no run tokens) from explicit code lengths; nil unless they describe a usable code: every
    /// symbol, the zero symbol included, is codable through its own code or ESCAPE.
    public init?(bits: Int, zeroSymbol: Int, directCodeLengths: [UInt8]) {
        guard (2...8).contains(bits),
              zeroSymbol >= 0, zeroSymbol < 1 << bits,
              directCodeLengths.count == (1 << bits) + 1,
              directCodeLengths[1 << bits] != 0 || !directCodeLengths[0..<(1 << bits)].contains(0),
              let values = CanonicalCode(lengths: directCodeLengths)
        else { return nil }
        self.bits = bits
        self.zeroSymbol = zeroSymbol
        self.longRun = 0
        codes = HuffmanCodes(value: values, run: nil, bits: bits, zeroSymbol: zeroSymbol, longRun: 0)
    }

    /// The Huffman table for the token counts gathered on calibration data. Values never seen get no code
    /// (they are escaped); ESCAPE gets a count of 1 — or no code at all when calibration saw every nonzero
    /// symbol, since a never-used ESCAPE would lengthen a real symbol's code (measured: 2-bit maps, 6 % over
    /// the entropy with it, 0.1 % without). Every run symbol gets a count of at least 1 so it has a code.
    public init(statistics: CodeStatistics) {
        let bits = statistics.bits
        let runs = HuffmanTable.runTable(statistics)
        var symbols = statistics.symbolHistogram + [0]
        symbols[1 << bits] = symbols[0..<(1 << bits)].contains(0) ? 1 : 0
        // Valid lengths by construction (ESCAPE coded whenever a symbol is not).
        let direct = HuffmanTable(bits: bits, zeroSymbol: statistics.zeroSymbol,
                                  directCodeLengths: CanonicalCode.lengths(for: symbols))!
        self = direct.calibrationBits(statistics) < runs.calibrationBits(statistics) ? direct : runs
    }

    /// The run-token table for `statistics` (what `init(statistics:)` compares the direct table with).
    static func runTable(_ statistics: CodeStatistics) -> HuffmanTable {
        let bits = statistics.bits
        var valueCounts = statistics.valueTokenCounts
        valueCounts[statistics.zeroSymbol] = 0
        var unseen = 0
        for s in 0..<(1 << bits) where s != statistics.zeroSymbol && valueCounts[s] == 0 { unseen += 1 }
        valueCounts[1 << bits] = unseen > 0 ? 1 : 0
        let runCounts = statistics.runTokenCounts.map { Swift.max($0, 1) }
        // The counts always give valid lengths; the force-unwrap documents that invariant.
        return HuffmanTable(
            bits: statistics.bits, zeroSymbol: statistics.zeroSymbol, longRun: statistics.longRun,
            valueCodeLengths: CanonicalCode.lengths(for: valueCounts),
            runCodeLengths: CanonicalCode.lengths(for: runCounts))!
    }

    /// Payload bits this table spends on the calibration tiles `statistics` counted (escapes included).
    func calibrationBits(_ statistics: CodeStatistics) -> UInt64 {
        let escape = UInt64(valueCode.lengths[escapeSymbol]) + UInt64(bits)
        func cost(_ count: UInt64, _ length: UInt8) -> UInt64 { count * (length == 0 ? escape : UInt64(length)) }
        guard let runCode else {
            return statistics.symbolHistogram.indices.reduce(0) { $0 + cost(statistics.symbolHistogram[$1], valueCode.lengths[$1]) }
        }
        var total: UInt64 = 0
        for (s, count) in statistics.valueTokenCounts.enumerated() where s != zeroSymbol { total += cost(count, valueCode.lengths[s]) }
        for (r, count) in statistics.runTokenCounts.enumerated() { total += count * UInt64(runCode.lengths[r]) }
        return total
    }

    // MARK: serialization (a .nib section payload)

    /// Layout, one byte per field: version (1 runs, 2 direct), bits, zeroSymbol, longRun (0 when direct), then
    /// 2^bits + 1 value code lengths (ESCAPE last), then — runs only — longRun + 1 run code lengths (LONG last).
    public var serializedByteCount: Int { 4 + (1 << bits) + 1 + (hasRuns ? longRun + 1 : 0) }

    /// Writes the table; returns the byte count, or nil if `buffer` is smaller than `serializedByteCount`.
    public func serialize(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        let n = serializedByteCount
        guard buffer.count >= n else { return nil }
        buffer[0] = hasRuns ? HuffmanTable.runsVersion : HuffmanTable.directVersion
        buffer[1] = UInt8(bits)
        buffer[2] = UInt8(zeroSymbol)
        buffer[3] = UInt8(longRun)
        var o = 4
        for l in valueCode.lengths + runCodeLengths { buffer[o] = l; o += 1 }
        return o
    }

    public func serialized() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: serializedByteCount)
        _ = bytes.withUnsafeMutableBytes { serialize(into: $0) }
        return bytes
    }

    /// Reads a serialized table, validating everything: the version, bits in 2…8, zeroSymbol < 2^bits,
    /// longRun in 2…255 (0 for a direct table), the exact byte count, every length ≤ 15, the Kraft inequality
    /// for each code, a code for ESCAPE unless every codable symbol has one; for run tables no code for
    /// zeroSymbol and a code for every run symbol. Nil for anything else.
    public init?(serialized bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 4, (2...8).contains(Int(bytes[1])) else { return nil }
        let bits = Int(bytes[1])
        let longRun = Int(bytes[3])
        let valueEnd = 4 + (1 << bits) + 1
        switch bytes[0] {
        case HuffmanTable.directVersion:
            guard longRun == 0, bytes.count == valueEnd else { return nil }
            self.init(bits: bits, zeroSymbol: Int(bytes[2]), directCodeLengths: Array(bytes[4..<valueEnd]))
        case HuffmanTable.runsVersion:
            guard (2...255).contains(longRun), bytes.count == valueEnd + longRun + 1 else { return nil }
            self.init(
                bits: bits, zeroSymbol: Int(bytes[2]), longRun: longRun,
                valueCodeLengths: Array(bytes[4..<valueEnd]),
                runCodeLengths: Array(bytes[valueEnd..<bytes.count]))
        default:
            return nil
        }
    }

    public init?(serialized bytes: [UInt8]) {
        guard let table = bytes.withUnsafeBytes({ HuffmanTable(serialized: $0) }) else { return nil }
        self = table
    }
}

/// A table's codes and the tables derived from them behind one reference: copying a `HuffmanTable` (or a
/// `TensorCodec`, as the runtime's band plans do per band) retains one object instead of 15 arrays (retain/release
/// were 3 % of a CAT run). Built once, read only.
@usableFromInline
final class HuffmanCodes: Sendable, Equatable {
    @usableFromInline let value: CanonicalCode
    @usableFromInline let run: CanonicalCode?
    /// `MultiSymbolTable` entries.
    @usableFromInline let multi: [UInt32]
    /// Encoder words, code << 5 | length: per value symbol, with ESCAPE + raw bits folded in for a symbol without a
    /// code (≤ 23 bits), and per run symbol. One load and one write per token, no escape branch.
    @usableFromInline let valueWords: [UInt32]
    @usableFromInline let runWords: [UInt32]

    init(value: CanonicalCode, run: CanonicalCode?, bits: Int, zeroSymbol: Int, longRun: Int) {
        self.value = value
        self.run = run
        multi = MultiSymbolTable.entries(bits: bits, zeroSymbol: zeroSymbol, longRun: longRun, valueCode: value, runCode: run)
        let escape = 1 << bits
        valueWords = (0..<escape).map { v in
            if value.lengths[v] != 0 { return UInt32(value.codes[v]) << 5 | UInt32(value.lengths[v]) }
            return (UInt32(value.codes[escape]) << bits | UInt32(v)) << 5 | UInt32(Int(value.lengths[escape]) + bits)
        }
        runWords = run.map { r in r.lengths.indices.map { UInt32(r.codes[$0]) << 5 | UInt32(r.lengths[$0]) } } ?? []
    }

    /// The derived tables follow from the codes.
    @usableFromInline static func == (a: HuffmanCodes, b: HuffmanCodes) -> Bool { a.value == b.value && a.run == b.run }
}

/// Token counts gathered on calibration tiles, tokenized exactly as `TileCodec` encodes them, plus the plain
/// symbol histogram (for `Entropy.bitsPerValue`).
public struct CodeStatistics: Sendable, Equatable {
    public let bits: Int
    public let zeroSymbol: Int
    public let longRun: Int
    /// Indexed by the value alphabet (2^bits + 1; ESCAPE last stays 0 here).
    public private(set) var valueTokenCounts: [UInt64]
    /// Indexed by the run alphabet (longRun + 1; LONG last).
    public private(set) var runTokenCounts: [UInt64]
    /// Occurrences of each symbol 0…2^bits − 1.
    public private(set) var symbolHistogram: [UInt64]

    public init?(bits: Int, zeroSymbol: Int = 0, longRun: Int = HuffmanTable.defaultLongRun) {
        guard (2...8).contains(bits), zeroSymbol >= 0, zeroSymbol < 1 << bits, (2...255).contains(longRun)
        else { return nil }
        self.bits = bits
        self.zeroSymbol = zeroSymbol
        self.longRun = longRun
        valueTokenCounts = [UInt64](repeating: 0, count: (1 << bits) + 1)
        runTokenCounts = [UInt64](repeating: 0, count: longRun + 1)
        symbolHistogram = [UInt64](repeating: 0, count: 1 << bits)
    }

    /// Adds one tile (runs do not continue across calls, as in `TileCodec`). Returns false, adding nothing,
    /// if a symbol is ≥ 2^bits.
    @discardableResult
    public mutating func add(tile symbols: UnsafeBufferPointer<UInt8>) -> Bool {
        let limit = 1 << bits
        for s in symbols where Int(s) >= limit { return false }
        let zero = UInt8(zeroSymbol)
        let n = symbols.count
        var i = 0
        while i < n {
            var run = 0
            while i < n && symbols[i] == zero { run += 1; i += 1 }
            runTokenCounts[longRun] += UInt64(run / longRun)
            run %= longRun
            if i == n {
                if run > 0 { runTokenCounts[run] += 1 }
                break
            }
            runTokenCounts[run] += 1
            valueTokenCounts[Int(symbols[i])] += 1
            i += 1
        }
        for s in symbols { symbolHistogram[Int(s)] += 1 }
        return true
    }

    @discardableResult
    public mutating func add(tile symbols: [UInt8]) -> Bool {
        symbols.withUnsafeBufferPointer { add(tile: $0) }
    }

    /// Order-0 entropy of the symbols added so far.
    public var entropyBitsPerValue: Double { Entropy.bitsPerValue(symbolHistogram) }
}
