// Dense ↔ sparse conversion for the converter, the tests and the benchmarks (not used at run time).
// Zero weights are what is dropped: pruning (which weights become zero) is the converter's decision.

/// CSR or N:M arrays built from a dense row-major [rows][columns] matrix, and back.
public enum SparseEncoding {
    /// CSR of the nonzeros of `dense` (values of type T, e.g. Float or Int8).
    public static func csr<T: Numeric>(_ dense: [T], rows: Int, columns: Int) -> (rowPointers: [Int32], columnIndices: [Int32], values: [T]) {
        var rp: [Int32] = [0], ci: [Int32] = [], v: [T] = []
        for o in 0..<rows {
            for k in 0..<columns where dense[o * columns + k] != 0 {
                ci.append(Int32(k)); v.append(dense[o * columns + k])
            }
            rp.append(Int32(v.count))
        }
        return (rp, ci, v)
    }

    /// N:M arrays of `dense`, which must already have at most N nonzeros per group of M columns (the
    /// pruning's job); each group keeps its nonzeros in column order and fills the remaining slots with the
    /// group's lowest unused columns (value 0), so indices stay strictly increasing. Nil if a group has more
    /// than N nonzeros or N:M is unsupported.
    public static func nm<T: Numeric>(_ dense: [T], rows: Int, columns: Int, n: Int, m: Int) -> (indices: [UInt8], values: [T])? {
        guard SparseNM.supports(n: n, m: m) else { return nil }
        let slots = SparseNM.slotsPerRow(columns: columns, n: n, m: m)
        let bytes = SparseNM.indexBytesPerRow(columns: columns, n: n, m: m)
        var idx = [UInt8](repeating: 0, count: rows * bytes)
        var vals = [T](repeating: 0, count: rows * slots)
        for o in 0..<rows {
            for g in 0..<SparseNM.groupCount(columns: columns, m: m) {
                let length = min(m, columns - g * m)
                let nonzero = (0..<length).filter { dense[o * columns + g * m + $0] != 0 }
                if nonzero.count > n { return nil }
                // Keep the nonzeros, pad with zero-valued unused columns, then sort so indices increase.
                var chosen = nonzero
                for c in 0..<length where chosen.count < min(n, length) && !chosen.contains(c) { chosen.append(c) }
                chosen.sort()
                for (k, c) in chosen.enumerated() {
                    let j = g * n + k
                    idx[o * bytes + j / 4] |= UInt8(c) << UInt8(2 * (j % 4))
                    vals[o * slots + j] = dense[o * columns + g * m + c]
                }
            }
        }
        return (idx, vals)
    }

    /// The dense [rows][columns] matrix of a sparse layout and its values.
    public static func dense<T: Numeric>(_ layout: SparseLayout, values: UnsafePointer<T>) -> [T] {
        var d = [T](repeating: 0, count: layout.rows * layout.columns)
        switch layout {
        case .csr(let c):
            for o in 0..<c.rows {
                for j in Int(c.rowPointers[o])..<Int(c.rowPointers[o + 1]) { d[o * c.columns + Int(c.columnIndices[j])] += values[j] }
            }
        case .nm(let s):
            let slots = s.slotsPerRow
            for o in 0..<s.rows {
                for j in 0..<slots {
                    let g = j / s.n
                    if j % s.n >= min(s.m, s.columns - g * s.m) { continue }  // padding slot of a short group
                    d[o * s.columns + g * s.m + s.index(row: o, slot: j)] += values[o * slots + j]
                }
            }
        }
        return d
    }
}
