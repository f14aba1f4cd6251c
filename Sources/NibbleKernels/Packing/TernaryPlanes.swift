// Packed ternary residual-edge planes (docs/FORMAT.md §4.4): one edge T ∈ {−1, 0, +1}^(O × R), where a row is
// one output channel's OIHW weights (R = C/group · kH · kW, FullyConnected R = in), stored as two bit masks
// (+1 mask, −1 mask), each row packed LSB-first into ⌈R/64⌉ words:
//   word index (plane · O + o) · ⌈R/64⌉ + r / 64, bit r % 64;  plane 0: T = +1, plane 1: T = −1.
// Rows, not channel vectors, because FGQ's scale groups are contiguous runs of the OIHW row (G · kH · kW
// values): a group is a contiguous bit range, and a row wastes at most 63 bits per plane where 64-channel
// vectors would pad every tap (a 16-channel 3×3 conv would store 4× its 2 bits per weight).

/// Packing, unpacking and checking of two-mask ternary planes.
public enum TernaryPlanes {
    /// Words of one row of one plane.
    @inline(__always)
    public static func wordsPerRow(_ rowLength: Int) -> Int { (rowLength &+ 63) >> 6 }

    /// Words of a whole edge: 2 planes × rows × wordsPerRow.
    @inline(__always)
    public static func wordCount(rows: Int, rowLength: Int) -> Int { 2 &* rows &* wordsPerRow(rowLength) }

    /// Packs `values` (rows × rowLength, row-major; every value −1, 0 or +1) into `words` (`wordCount` words,
    /// fully overwritten; padding bits 0).
    public static func pack(_ values: UnsafePointer<Int8>, rows: Int, rowLength: Int, into words: UnsafeMutablePointer<UInt64>) {
        let w = wordsPerRow(rowLength)
        words.update(repeating: 0, count: wordCount(rows: rows, rowLength: rowLength))
        for o in 0..<rows {
            let plus = words + o &* w, minus = words + (rows &+ o) &* w
            let row = values + o &* rowLength
            for r in 0..<rowLength {
                let v = row[r]
                if v == 0 { continue }
                let bit = UInt64(1) << UInt64(r & 63)
                if v > 0 { plus[r >> 6] |= bit } else { minus[r >> 6] |= bit }
            }
        }
    }

    /// Writes row `o` as int8 −1/0/+1 into `out` (rowLength bytes): the reference kernel's per-row scratch.
    @inline(__always)
    public static func unpackRow(_ words: UnsafePointer<UInt64>, rows: Int, rowLength: Int, row o: Int,
                                 into out: UnsafeMutablePointer<Int8>) {
        let w = wordsPerRow(rowLength)
        let plus = words + o &* w, minus = words + (rows &+ o) &* w
        var r = 0
        for k in 0..<w {
            let p = plus[k], m = minus[k]
            let end = Swift.min(64, rowLength &- r)
            for b in 0..<end {
                let s = UInt64(b)
                out[r &+ b] = Int8(truncatingIfNeeded: Int64((p >> s) & 1) &- Int64((m >> s) & 1))
            }
            r &+= 64
        }
    }

    /// The first bit that makes the planes invalid: set in both masks (a weight cannot be +1 and −1), or set past
    /// the row's end (padding must be 0 so every damaged bit is caught). Nil when valid.
    public static func firstInvalid(_ words: UnsafePointer<UInt64>, rows: Int, rowLength: Int)
        -> (row: Int, position: Int, bothMasks: Bool)?
    {
        let w = wordsPerRow(rowLength)
        let tail = rowLength & 63
        let padding: UInt64 = tail == 0 ? 0 : ~((UInt64(1) << UInt64(tail)) &- 1)
        for o in 0..<rows {
            let plus = words + o &* w, minus = words + (rows &+ o) &* w
            for k in 0..<w {
                let both = plus[k] & minus[k]
                if both != 0 { return (o, k &* 64 &+ both.trailingZeroBitCount, true) }
                if k == w &- 1 {
                    let pad = (plus[k] | minus[k]) & padding
                    if pad != 0 { return (o, k &* 64 &+ pad.trailingZeroBitCount, false) }
                }
            }
        }
        return nil
    }
}
