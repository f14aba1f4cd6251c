// Complete checks of untrusted sparse weights (a .nib file's), run once at load so the kernels can index
// without bounds checks. Each failure names the array, the position and the expected value.

/// Structural checks of `SparseCSR` / `SparseNM` data. Returns nil when valid, else what is wrong.
public enum SparseValidation {
    /// rowPointers: rows + 1 entries, first 0, non-decreasing, last = `valueCount`; every column index in
    /// 0..<columns and strictly increasing within its row. The caller has checked the array lengths.
    public static func check(_ c: SparseCSR, valueCount: Int, indexCount: Int) -> String? {
        if c.rowPointers[0] != 0 { return "row pointer 0 is \(c.rowPointers[0]), expected 0" }
        for o in 0..<c.rows where c.rowPointers[o + 1] < c.rowPointers[o] {
            return "row pointers are not non-decreasing: entry \(o + 1) is \(c.rowPointers[o + 1]) after \(c.rowPointers[o])"
        }
        let last = Int(c.rowPointers[c.rows])
        if last != valueCount || last != indexCount {
            return "last row pointer (entry \(c.rows)) is \(last), expected the value count \(valueCount) and column index count \(indexCount)"
        }
        for o in 0..<c.rows {
            var previous = -1
            for j in Int(c.rowPointers[o])..<Int(c.rowPointers[o + 1]) {
                let col = Int(c.columnIndices[j])
                if col < 0 || col >= c.columns {
                    return "column index \(j) (row \(o)) is \(col), expected 0...\(c.columns - 1)"
                }
                if col <= previous {
                    return "column index \(j) (row \(o)) is \(col) after \(previous), expected strictly increasing columns within a row"
                }
                previous = col
            }
        }
        return nil
    }

    /// Every slot index inside its group and strictly increasing within it; slots past a short last group
    /// hold index 0 and a zero value (`isZero(j)` for the value of global slot j); unused bits of each row's
    /// last index byte are 0.
    public static func check(_ s: SparseNM, isZero: (Int) -> Bool) -> String? {
        let slots = s.slotsPerRow, bytes = s.indexBytesPerRow
        for o in 0..<s.rows {
            let tail = slots % 4
            if tail != 0 && Int(s.indices[o * bytes + bytes - 1]) >> (2 * tail) != 0 {
                return "index byte \(o * bytes + bytes - 1) (row \(o)) has bits set past slot \(slots - 1), expected zero padding"
            }
            for g in 0..<SparseNM.groupCount(columns: s.columns, m: s.m) {
                let length = Swift.min(s.m, s.columns - g * s.m)
                var previous = -1
                for k in 0..<s.n {
                    let j = g * s.n + k
                    let idx = s.index(row: o, slot: j)
                    if k >= length {
                        if idx != 0 || !isZero(o * slots + j) {
                            return "slot \(j) of row \(o) lies past the \(length) columns of the last group; expected index 0 and value 0"
                        }
                        continue
                    }
                    if idx >= length {
                        return "slot \(j) of row \(o) has index \(idx), expected 0...\(length - 1) (group \(g) of \(s.m) columns)"
                    }
                    if idx <= previous {
                        return "slot \(j) of row \(o) has index \(idx) after \(previous), expected strictly increasing indices within group \(g)"
                    }
                    previous = idx
                }
            }
        }
        return nil
    }
}
