/// The multi-symbol decode table of a `HuffmanTable` (issue 6, decode overhead): derived from the code lengths when
/// the table is built or loaded (nothing of it is stored in the .nib), 2^11 entries of 4 bytes. Indexed by the next
/// 11 bits of a payload, an entry holds every whole token group that fits in those bits, so one lookup yields up to
/// 8 symbols instead of one token (multi-symbol Huffman decoding, as zstd's HUF_decompress4X2 and Fabian Giesen's
/// "Reading bits in far too many ways").
///
/// Entry, 0 when no whole group fits (the decoder then reads token by token):
///   bits 0…3 code bits used, 4…7 symbols emitted;
///   run tables, up to two (RUN_r value) pairs, never LONG, never a zero value, both values in one 8-symbol window
///     that starts at symbol w = the first run rounded down to 8s, 0…24 (bits 14…15 = w / 8): bits 8…10 the first value's place z₁
///     in it, 11…13 the second's p₂ (0 if none), 16…23 and 24…31 each value ^ zeroSymbol, and bits 4…7 count the
///     symbols from the window's start: the symbols are w zeros, then the 8 bytes zero⁸ ^ (d₁ << 8·z₁) ^ (d₂ << 8·p₂),
///     little-endian;
///   direct tables, up to three symbols: bits 8…31, the first in the low byte.
/// ESCAPE + raw bits counts as one value when all of it fits.
enum MultiSymbolTable {
    /// Index bits: the token lookups' width, so a token at any offset is read by the same lookup.
    static let bits = CanonicalCode.lookupBits

    static func entries(bits symbolBits: Int, zeroSymbol zero: Int, longRun: Int, valueCode: CanonicalCode,
                        runCode: CanonicalCode?) -> [UInt32] {
        let k = bits, mask = (1 << k) - 1, escape = 1 << symbolBits
        var entries = [UInt32](repeating: 0, count: 1 << k)
        for x in 0..<(1 << k) {
            /// The token of `code` starting `at` bits into x, when all of it lies in x: (symbol, length).
            func token(_ code: CanonicalCode, at: Int) -> (Int, Int)? {
                let e = Int(code.lookup[(x << at) & mask]), length = e & 15
                return e != 0 && length <= k - at ? (e >> 4, length) : nil
            }
            func value(at: Int) -> (Int, Int)? {
                guard let (v, length) = token(valueCode, at: at) else { return nil }
                if v != escape { return (v, length) }
                let end = at + length + symbolBits
                return end <= k ? ((x >> (k - end)) & (escape - 1), length + symbolBits) : nil
            }
            var used = 0, count = 0, e: UInt32 = 0
            if let runCode {
                var window = 0  // the first run rounded down to 8s (≤ 24): the values lie in symbols window…window+7
                for pair in 0..<2 {
                    guard let (run, runLength) = token(runCode, at: used), run < longRun,
                          let (v, valueLength) = value(at: used + runLength), v != zero else { break }
                    if pair == 0 { window = min(run & ~7, 24) }
                    let at = count + run - window
                    guard at < 8 else { break }
                    e |= pair == 0 ? UInt32(at) << 8 | UInt32(v ^ zero) << 16 : UInt32(at) << 11 | UInt32(v ^ zero) << 24
                    count += run + 1
                    used += runLength + valueLength
                }
                if count > 0 { e |= UInt32(window) << 11; count -= window }
            } else {
                for slot in 0..<3 {
                    guard let (v, length) = value(at: used) else { break }
                    e |= UInt32(v) << (8 + 8 * slot)
                    count += 1
                    used += length
                }
            }
            if count > 0 { entries[x] = e | UInt32(count) << 4 | UInt32(used) }
        }
        return entries
    }
}
