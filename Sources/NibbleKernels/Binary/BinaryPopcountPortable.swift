// Portable build only (not shared): baseline x86-64 has no POPCNT, so nonzeroBitCount is a SWAR sequence;
// the scalar 4x4 tile keeps it simple and equally correct on any target.

typealias BinaryLanes = SIMD2<UInt64>

@inline(__always) func popcountLanes(_ v: BinaryLanes) -> BinaryLanes { v.nonzeroBitCount }

/// The tile BinaryConvTiled runs in the portable build.
enum BinaryMicrokernel {
    /// Plane pairs run one tile call each.
    static let fusesPlanes = false
    /// No panel runs pixel by pixel (`BinaryTiles.pixelPlanes` writes an 8-row tile).
    static let pixelColumns = 0
    static let tileRows = 4
    static let panelWidth = 4
    static let name = "scalar 4x4"

    /// `columns` (the panel's live pixels) is unused: this tile always counts its whole panel.
    @inline(__always)
    static func tile(k: Int, w: UnsafePointer<UInt64>, ldw: Int, rows: Int, panel: UnsafePointer<UInt64>,
                     columns: Int, xor: Bool, out: UnsafeMutablePointer<Int32>) {
        BinaryTiles.scalar(k: k, w: w, ldw: ldw, rows: rows, panel: panel, xor: xor, out: out)
    }
}
