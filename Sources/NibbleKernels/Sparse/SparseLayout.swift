// The two sparse weight layouts the sparse kernels read (docs/FORMAT.md §4.6). A weight matrix has one
// row per output channel and `columns` = input channels (× kH × kW for a conv) in OIHW row order.

/// Compressed sparse rows: row o holds the nonzeros values[rowPointers[o] ..< rowPointers[o+1]] at columns
/// columnIndices[same range] (strictly increasing within a row). Values live in a separate fp32 or int8 array.
public struct SparseCSR {
    public var rows: Int
    public var columns: Int
    /// rows + 1 entries: 0, …, nonzeroCount, non-decreasing.
    public var rowPointers: UnsafePointer<Int32>
    public var columnIndices: UnsafePointer<Int32>

    public init(rows: Int, columns: Int, rowPointers: UnsafePointer<Int32>, columnIndices: UnsafePointer<Int32>) {
        self.rows = rows; self.columns = columns; self.rowPointers = rowPointers; self.columnIndices = columnIndices
    }

    public var nonzeroCount: Int { Int(rowPointers[rows]) }
}

/// N:M structured sparsity along the columns (input channels): each run of M consecutive columns (a group;
/// the last one is shorter when M does not divide `columns`) keeps N slots, each a value and a 2-bit index
/// inside the group (so M ≤ 4; 2:4 is what Ampere sparse tensor cores run, Mishra et al. 2021).
/// Row o's slots are values[o·slotsPerRow ..< (o+1)·slotsPerRow]; slot j's index is bits 2(j mod 4)…+1 of
/// byte o·indexBytesPerRow + j/4 of `indices`. Indices within a group are strictly increasing; in a short last
/// group of L < N columns, slots L… hold index 0 and value 0.
public struct SparseNM {
    public var rows: Int
    public var columns: Int
    public var n: Int
    public var m: Int
    public var indices: UnsafePointer<UInt8>

    public init(rows: Int, columns: Int, n: Int, m: Int, indices: UnsafePointer<UInt8>) {
        self.rows = rows; self.columns = columns; self.n = n; self.m = m; self.indices = indices
    }

    /// Valid N:M pairs: 1 ≤ N < M ≤ 4 (2-bit indices).
    public static func supports(n: Int, m: Int) -> Bool { n >= 1 && n < m && m <= 4 }
    public static func groupCount(columns: Int, m: Int) -> Int { (columns + m - 1) / m }
    public static func slotsPerRow(columns: Int, n: Int, m: Int) -> Int { groupCount(columns: columns, m: m) * n }
    public static func indexBytesPerRow(columns: Int, n: Int, m: Int) -> Int { (slotsPerRow(columns: columns, n: n, m: m) + 3) / 4 }

    public var slotsPerRow: Int { Self.slotsPerRow(columns: columns, n: n, m: m) }
    public var indexBytesPerRow: Int { Self.indexBytesPerRow(columns: columns, n: n, m: m) }

    /// Index of slot j of row o.
    @inline(__always) public func index(row o: Int, slot j: Int) -> Int {
        (Int(indices[o * indexBytesPerRow + j / 4]) >> (2 * (j % 4))) & 3
    }
}

/// Which layout a sparse weight matrix uses (an enum with payloads, not a protocol: no existentials).
public enum SparseLayout {
    case csr(SparseCSR)
    case nm(SparseNM)

    public var rows: Int {
        switch self { case .csr(let c): return c.rows; case .nm(let s): return s.rows }
    }
    public var columns: Int {
        switch self { case .csr(let c): return c.columns; case .nm(let s): return s.columns }
    }
    /// Stored values (CSR: the nonzeros; N:M: every slot, zeros included).
    public var valueCount: Int {
        switch self { case .csr(let c): return c.nonzeroCount; case .nm(let s): return s.rows * s.slotsPerRow }
    }
}
