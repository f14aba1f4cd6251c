import NibbleCodec

/// A static-model rANS coder (Duda, "Asymmetric numeral systems", arXiv:1311.2540; byte-wise renormalisation
/// with a 32-bit state as in Giesen's rans_byte) over the same tokens as a `HuffmanTable`: for a run table the
/// run-length tokens and the value tokens (two models), for a direct table the symbols. It exists to answer
/// issue 6's "Huffman or rANS — measure both": `CodecFitter` encodes the held-out tiles with both and reports
/// the sizes; the runtime keeps Huffman (see docs/ARCHITECTURE.md, "Feature-map codec"). Unlike Huffman, rANS
/// spends −log₂ p bits on a token, not a whole number ≥ 1, so it is the coder a static per-layer table could
/// reach at best; every symbol gets a frequency ≥ 1, so no escape is needed.
struct StaticRANS {
    /// Frequencies sum to 2^precision per model.
    static let precision: UInt32 = 15
    static let lowerBound: UInt32 = 1 << 23

    /// One alphabet's quantised frequencies and their cumulative starts.
    struct Model {
        let frequency: [UInt32]
        let start: [UInt32]
        /// Slot (0 ..< 2^precision) → symbol, for decoding.
        let symbolAt: [UInt16]

        /// Counts scaled to 2^precision, every symbol at least 1 (so unseen symbols stay codable).
        init(counts: [UInt64]) {
            let total = 1 << StaticRANS.precision
            precondition(counts.count <= total / 2, "alphabet larger than the rANS precision allows")
            let sum = counts.reduce(0, +)
            let spare = UInt64(total - counts.count)
            var f = counts.map { c in UInt32(1 + (sum == 0 ? 0 : c * spare / sum)) }
            // Rounding down left a remainder: give it to the most frequent symbol (cheapest in bits).
            let missing = UInt32(total) - f.reduce(0, +)
            f[f.indices.max { f[$0] < f[$1] }!] += missing
            frequency = f
            var s: [UInt32] = [0]
            for x in f { s.append(s.last! + x) }
            start = s
            var table = [UInt16](repeating: 0, count: total)
            for (symbol, x) in f.enumerated() { for slot in s[symbol]..<(s[symbol] + x) { table[Int(slot)] = UInt16(symbol) } }
            symbolAt = table
        }
    }

    /// A token: which model (0 values, 1 runs) and the symbol.
    struct Token: Equatable { var model: Int; var symbol: Int }

    let table: HuffmanTable
    let models: [Model]

    /// Models from the calibration token counts `table` was built from.
    init(table: HuffmanTable, statistics: CodeStatistics) {
        self.table = table
        if table.hasRuns {
            var values = Array(statistics.valueTokenCounts.prefix(1 << table.bits))
            values[table.zeroSymbol] = 0
            models = [Model(counts: values), Model(counts: statistics.runTokenCounts)]
        } else {
            models = [Model(counts: statistics.symbolHistogram)]
        }
    }

    /// The tile's tokens in the table's grammar (HuffmanTable's header comment), value symbols without ESCAPE.
    func tokens(_ symbols: UnsafeBufferPointer<UInt8>) -> [Token] {
        guard table.hasRuns else { return symbols.map { Token(model: 0, symbol: Int($0)) } }
        var out: [Token] = []
        var i = 0
        while i < symbols.count {
            var run = 0
            while i < symbols.count && Int(symbols[i]) == table.zeroSymbol { run += 1; i += 1 }
            while run >= table.longRun { out.append(Token(model: 1, symbol: table.longRun)); run -= table.longRun }
            if i == symbols.count {
                if run > 0 { out.append(Token(model: 1, symbol: run)) }
                break
            }
            out.append(Token(model: 1, symbol: run))
            out.append(Token(model: 0, symbol: Int(symbols[i])))
            i += 1
        }
        return out
    }

    /// Encodes the tokens; the bytes in stream order (final state first).
    func encode(_ tokens: [Token]) -> [UInt8] {
        var x = StaticRANS.lowerBound
        var reversed: [UInt8] = []
        for t in tokens.reversed() {
            let m = models[t.model]
            let f = m.frequency[t.symbol]
            let limit = ((StaticRANS.lowerBound >> StaticRANS.precision) << 8) * f
            while x >= limit { reversed.append(UInt8(truncatingIfNeeded: x)); x >>= 8 }
            x = ((x / f) << StaticRANS.precision) + (x % f) + m.start[t.symbol]
        }
        for _ in 0..<4 { reversed.append(UInt8(truncatingIfNeeded: x)); x >>= 8 }
        return reversed.reversed()
    }

    /// Bytes a tile would take with rANS in place of Huffman: the same 1-byte header and the same RAW fallback
    /// (`TileCodec`), so the two are compared like for like.
    func tileBytes(_ symbols: UnsafeBufferPointer<UInt8>) -> Int {
        1 + min(encode(tokens(symbols)).count, TileCodec.rawBytes(count: symbols.count, bits: table.bits) ?? 0)
    }

    /// Decodes `count` symbols back (tokens driven by the grammar), or nil if the stream is inconsistent.
    func decode(_ bytes: [UInt8], count: Int) -> [UInt8]? {
        guard bytes.count >= 4 else { return nil }
        var x: UInt32 = 0
        for k in 0..<4 { x = x << 8 | UInt32(bytes[k]) }
        var position = 4
        let mask = UInt32(1 << StaticRANS.precision) - 1
        func next(_ model: Int) -> Int? {
            let m = models[model]
            let symbol = Int(m.symbolAt[Int(x & mask)])
            x = m.frequency[symbol] * (x >> StaticRANS.precision) + (x & mask) - m.start[symbol]
            while x < StaticRANS.lowerBound {
                guard position < bytes.count else { return nil }
                x = x << 8 | UInt32(bytes[position]); position += 1
            }
            return symbol
        }
        var out: [UInt8] = []
        while out.count < count {
            if table.hasRuns {
                guard let run = next(1) else { return nil }
                out += [UInt8](repeating: UInt8(table.zeroSymbol), count: min(run, count - out.count))
                if run == table.longRun || out.count == count { continue }
            }
            guard let v = next(0) else { return nil }
            out.append(UInt8(v))
        }
        return position == bytes.count ? out : nil
    }
}
