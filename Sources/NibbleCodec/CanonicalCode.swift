/// One canonical prefix code (as in DEFLATE, RFC 1951 §3.2.2): codes are assigned in order of (length, symbol),
/// so the code lengths alone define it. Holds the encoder's code words and the decoder's tables:
/// a `lookupBits`-bit direct table on the peeked bits, and the canonical first-code/count/offset arrays for
/// codes longer than that. Built once (convert or load time); encode/decode only read it.
@usableFromInline
struct CanonicalCode: Sendable, Equatable {
    static let maxLength = 15
    static let lookupBits = 11

    /// Code length per symbol; 0 = the symbol has no code.
    @usableFromInline let lengths: [UInt8]
    /// Code word per symbol (right-aligned, MSB first in the stream).
    @usableFromInline let codes: [UInt16]
    /// Indexed by the next `lookupBits` bits: (symbol << 4) | length, or 0 when the code is longer
    /// than `lookupBits` or no code starts with those bits.
    @usableFromInline let lookup: [UInt16]
    /// For each length L (index L): first canonical code of length L, number of codes, and the index of the
    /// first of them in `sortedSymbols`.
    @usableFromInline let firstCode: [Int32]
    @usableFromInline let lengthCount: [Int32]
    @usableFromInline let firstIndex: [Int32]
    @usableFromInline let sortedSymbols: [UInt16]

    /// Validates the lengths: each ≤ 15, at least one code, Kraft sum ≤ 1. Nil otherwise.
    init?(lengths: [UInt8]) {
        let maxLength = CanonicalCode.maxLength
        guard !lengths.isEmpty, lengths.count <= 1 << 12 else { return nil }
        var countPerLength = [Int](repeating: 0, count: maxLength + 1)
        for l in lengths {
            guard Int(l) <= maxLength else { return nil }
            countPerLength[Int(l)] += 1
        }
        countPerLength[0] = 0
        var kraft = 0  // in units of 2^-15
        for l in 1...maxLength { kraft += countPerLength[l] << (maxLength - l) }
        guard kraft > 0, kraft <= 1 << maxLength else { return nil }

        var first = [Int32](repeating: 0, count: maxLength + 2)
        var index = [Int32](repeating: 0, count: maxLength + 2)
        var code = 0
        var idx = 0
        for l in 1...maxLength {
            first[l] = Int32(code)
            index[l] = Int32(idx)
            code = (code + countPerLength[l]) << 1
            idx += countPerLength[l]
        }
        var next = first.map { Int($0) }
        var codes = [UInt16](repeating: 0, count: lengths.count)
        var sorted = [UInt16](repeating: 0, count: idx)
        var fill = index.map { Int($0) }
        for (s, l) in lengths.enumerated() where l > 0 {
            codes[s] = UInt16(next[Int(l)])
            next[Int(l)] += 1
            sorted[fill[Int(l)]] = UInt16(s)
            fill[Int(l)] += 1
        }
        let lookupBits = CanonicalCode.lookupBits
        var lookup = [UInt16](repeating: 0, count: 1 << lookupBits)
        for (s, l) in lengths.enumerated() where l > 0 && Int(l) <= lookupBits {
            let shift = lookupBits - Int(l)
            let start = Int(codes[s]) << shift
            let entry = UInt16(s << 4 | Int(l))
            for j in start..<(start + (1 << shift)) { lookup[j] = entry }
        }
        self.lengths = lengths
        self.codes = codes
        self.lookup = lookup
        self.firstCode = first
        self.lengthCount = countPerLength.map { Int32($0) } + [0]
        self.firstIndex = index
        self.sortedSymbols = sorted
    }

    @usableFromInline static func == (a: CanonicalCode, b: CanonicalCode) -> Bool { a.lengths == b.lengths }

    /// Huffman code lengths for `counts`, limited to `maxLength` bits. Symbols with count 0 get no code;
    /// a single used symbol gets length 1.
    ///
    /// Length limiting (the heuristic of zlib/JPEG Annex K.3 in spirit, not package-merge): lengths above the
    /// limit are clamped, the Kraft sum is repaired by lengthening the longest codes still below the limit,
    /// then any slack is handed back by shortening the most frequent symbols' codes. Optimal when no code
    /// exceeds the limit; otherwise within a small fraction of a bit for the distributions met here.
    static func lengths(for counts: [UInt64], maxLength: Int = CanonicalCode.maxLength) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: counts.count)
        let used = counts.indices.filter { counts[$0] > 0 }
            .sorted { counts[$0] != counts[$1] ? counts[$0] < counts[$1] : $0 < $1 }
        if used.isEmpty { return result }
        if used.count == 1 { result[used[0]] = 1; return result }

        // Two-queue Huffman: leaves 0..<m sorted by weight, internal nodes m..<2m−1 created in weight order.
        let m = used.count
        var weight = [UInt64](repeating: 0, count: 2 * m - 1)
        var parent = [Int](repeating: 0, count: 2 * m - 1)
        for k in 0..<m { weight[k] = counts[used[k]] }
        var leaf = 0
        var node = m
        var next = m
        while next < 2 * m - 1 {
            var pair = (0, 0)
            for slot in 0..<2 {
                let pick: Int
                if leaf < m && (node >= next || weight[leaf] <= weight[node]) {
                    pick = leaf; leaf += 1
                } else {
                    pick = node; node += 1
                }
                if slot == 0 { pair.0 = pick } else { pair.1 = pick }
            }
            weight[next] = weight[pair.0] &+ weight[pair.1]
            parent[pair.0] = next
            parent[pair.1] = next
            next += 1
        }
        var depth = [Int](repeating: 0, count: 2 * m - 1)
        for k in stride(from: 2 * m - 3, through: 0, by: -1) { depth[k] = depth[parent[k]] + 1 }

        // Clamp and repair (see above). Kraft sums are in units of 2^-maxLength.
        var length = (0..<m).map { Swift.min(depth[$0], maxLength) }
        let one = 1 << maxLength
        var kraft = length.reduce(0) { $0 + (1 << (maxLength - $1)) }
        while kraft > one {
            // Lengthen the longest code below the limit; leaves are in increasing weight order, so the first
            // such leaf with the greatest length is the least frequent of them.
            var pick = -1
            for k in 0..<m where length[k] < maxLength && (pick < 0 || length[k] > length[pick]) { pick = k }
            kraft -= 1 << (maxLength - length[pick] - 1)
            length[pick] += 1
        }
        var changed = true
        while changed {
            changed = false
            for k in stride(from: m - 1, through: 0, by: -1) where length[k] > 1 {
                let gain = 1 << (maxLength - length[k])
                if kraft + gain <= one {
                    kraft += gain
                    length[k] -= 1
                    changed = true
                }
            }
        }
        for k in 0..<m { result[used[k]] = UInt8(length[k]) }
        return result
    }
}
