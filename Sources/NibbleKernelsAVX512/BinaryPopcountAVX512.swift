// AVX-512 only (this module alone compiles this file): VPOPCNTDQ counts 8 words per instruction, so the
// binary tile is 8 output channels × 16 pixels (two zmm of pixel lanes, 16 zmm sums of 32 registers).
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

typealias BinaryLanes = SIMD8<UInt64>

/// Per-lane popcount: one vpopcntq.
@inline(__always) func popcountLanes(_ v: BinaryLanes) -> BinaryLanes {
    #if arch(x86_64)
    unsafeBitCast(_mm512_popcnt_epi64(unsafeBitCast(v, to: __m512i.self)), to: BinaryLanes.self)
    #else
    v.nonzeroBitCount
    #endif
}

/// The tile BinaryConvTiled runs in this module.
enum BinaryMicrokernel {
    /// Multi-bit operands run every plane pair in one call (`BinaryTiles.vectorPlanes`), summed in registers.
    static let fusesPlanes = true
    /// Panels with at most this many live pixels run them one at a time, words along the lanes
    /// (`BinaryTiles.pixelPlanes`, K a multiple of 8 words): a 7² map's 49th pixel had taken a half panel of 8 lanes
    /// (Zen 4 L4 w2a2 0.443 → 0.408 ms, w1a1 0.133 → 0.124).
    static let pixelColumns = 2
    static let tileRows = 8
    static let panelWidth = 2 * BinaryLanes.scalarCount
    static let name = "vpopcntq 8x16"
    /// With vpopcntq the bit-serial tile keeps up to 4 plane pairs (Zen 4, L3: w2a2 0.44 ms against 0.70 on bytes);
    /// from 8 on (w4a2, w4a4: 1.69 against 0.69 ms) LowBitByteConv's multiply-adds win.
    static let bytePlanePairs = 8

    @inline(__always)
    static func tile(k: Int, w: UnsafePointer<UInt64>, ldw: Int, rows: Int, panel: UnsafePointer<UInt64>,
                     columns: Int, xor: Bool, out: UnsafeMutablePointer<Int32>) {
        BinaryTiles.vector(k: k, w: w, ldw: ldw, rows: rows, panel: panel, columns: columns, xor: xor, out: out)
    }
}
