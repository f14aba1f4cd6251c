/// The `.nib` layout constants: docs/FORMAT.md in code. Everything little-endian.
public enum Layout {
    /// "NIBL"
    public static let magic: [UInt8] = [0x4E, 0x49, 0x42, 0x4C]
    /// The format version this runtime reads and writes. A file with a higher version is refused.
    public static let formatVersion: UInt32 = 1
    public static let headerSize = 64
    public static let sectionEntrySize = 32
    /// Every section and every constant tensor starts on this boundary, so weights can be used in place
    /// by SIMD kernels straight from an mmap'ed file or a caller's buffer.
    public static let alignment = 64
    /// Bounds that keep a malformed file from asking for absurd allocations.
    public static let maxSections = 64
    public static let maxRank = 8
    public static let maxNameLength = 4096
    /// Largest element count of one tensor (also checked for overflow while reading shapes).
    public static let maxElements = 1 << 40
    /// Largest kernel scratch (in elements) and arena (in bytes) a model may ask for: far beyond any real
    /// model, small enough that sizes computed from them never overflow.
    public static let maxScratchElements = 1 << 36
    public static let maxArenaBytes = 1 << 44
    /// Most residual edges one ternary node may have, and the highest level an edge may carry
    /// (docs/FORMAT.md §4.4): bounds that keep per-session level tables tiny.
    public static let maxResidualEdges = 16
    public static let maxResidualLevel = 65535

    public enum SectionKind: UInt32 {
        case graph = 1
        case weights = 2
        case metadata = 3
        /// Feature-map codec tables (docs/FORMAT.md §6), optional.
        case codecTables = 4
        // Reserved (docs/FORMAT.md §3): 6 sparse indices. Kind 5 (residual-edge levels) stays
        // unused: the levels live in each ternary node's `edge_levels` attribute, next to the edges they gate.
    }

    @inline(__always)
    public static func alignUp(_ n: Int, _ a: Int = alignment) -> Int { (n + a - 1) / a * a }
}
