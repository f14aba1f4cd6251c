// AVX2 only (this module alone compiles this file): the binary tile's popcount. Haswell has POPCNT
// (one word per instruction) and pshufb nibble lookups (four words per ymm, then vpsadbw); the choice
// below is the one measured faster here (see BinaryMicrokernel.name and `nibble bench kernels`).
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

typealias BinaryLanes = SIMD4<UInt64>

/// Per-lane popcount via the pshufb nibble table: bytes counted by two lookups, summed per word by vpsadbw.
@inline(__always) func popcountLanes(_ v: BinaryLanes) -> BinaryLanes {
    #if arch(x86_64)
    let table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4)
    let low = _mm256_set1_epi8(0x0F)
    let x = unsafeBitCast(v, to: __m256i.self)
    let lo = _mm256_shuffle_epi8(table, _mm256_and_si256(x, low))
    let hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(x, 4), low))
    let bytes = _mm256_add_epi8(lo, hi)
    return unsafeBitCast(_mm256_sad_epu8(bytes, _mm256_setzero_si256()), to: BinaryLanes.self)
    #else
    return v.nonzeroBitCount
    #endif
}

/// The tile BinaryConvTiled runs in this module.
enum BinaryMicrokernel {
    static let useScalar = false
    static let tileRows = 4
    static let panelWidth = useScalar ? 4 : 2 * BinaryLanes.scalarCount
    static let name = useScalar ? "popcnt 4x4" : "pshufb 4x8"

    @inline(__always)
    static func tile(k: Int, w: UnsafePointer<UInt64>, ldw: Int, rows: Int, panel: UnsafePointer<UInt64>,
                     xor: Bool, out: UnsafeMutablePointer<Int32>) {
        if useScalar {
            BinaryTiles.scalar(k: k, w: w, ldw: ldw, rows: rows, panel: panel, xor: xor, out: out)
        } else {
            BinaryTiles.vector(k: k, w: w, ldw: ldw, rows: rows, panel: panel, xor: xor, out: out)
        }
    }
}
