// AVX2 only (this module alone compiles this file): the binary tile's popcount. Haswell-class cores have
// no vector popcount; pshufb nibble lookups count four words per ymm. The tile folds two k steps into one
// carry-save adder first (Harley–Seal, "Faster population counts using AVX2", Muła, Kurz & Lemire 2018,
// §3), so it pays one nibble lookup per k step instead of two: measured 1.3× over a lookup per word on Zen 3.
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

typealias BinaryLanes = SIMD4<UInt64>

/// Per-lane popcount via the pshufb nibble table: bytes counted by two lookups, summed per word by vpsadbw.
@inline(__always) func popcountLanes(_ v: BinaryLanes) -> BinaryLanes {
    #if arch(x86_64)
    unsafeBitCast(_mm256_sad_epu8(byteCounts(unsafeBitCast(v, to: __m256i.self)), _mm256_setzero_si256()),
                  to: BinaryLanes.self)
    #else
    v.nonzeroBitCount
    #endif
}

#if arch(x86_64)
/// Popcount of each byte (0…8) by two 16-entry pshufb lookups.
@inline(__always) private func byteCounts(_ x: __m256i) -> __m256i {
    let table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4)
    let low = _mm256_set1_epi8(0x0F)
    let lo = _mm256_shuffle_epi8(table, _mm256_and_si256(x, low))
    let hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(x, 4), low))
    return _mm256_add_epi8(lo, hi)
}

/// Per-word sums of byte counts.
@inline(__always) private func wordSums(_ bytes: __m256i) -> __m256i { _mm256_sad_epu8(bytes, _mm256_setzero_si256()) }

/// One pixel-lane accumulator of the CSA tile: `ones` holds the sum bits of the carry-save adder, `twos`
/// the byte counts of its carries (≤ 8 per fold, so ≤ 31 folds before they are widened into `wide`).
private struct CarrySaveLanes {
    var ones = _mm256_setzero_si256(), twos = _mm256_setzero_si256(), wide = _mm256_setzero_si256()

    /// Adds pop(a) + pop(b): the full adder of ones, a, b keeps the sum bits and counts the carries.
    @inline(__always) mutating func add(_ a: __m256i, _ b: __m256i) {
        let u = _mm256_xor_si256(ones, a)
        let carry = _mm256_or_si256(_mm256_and_si256(ones, a), _mm256_and_si256(u, b))
        ones = _mm256_xor_si256(u, b)
        twos = _mm256_add_epi8(twos, byteCounts(carry))
    }

    @inline(__always) mutating func widen() {
        wide = _mm256_add_epi64(wide, wordSums(twos))
        twos = _mm256_setzero_si256()
    }

    /// Σ pop of everything added, per word: 2 · carries + pop(ones).
    @inline(__always) func total() -> __m256i {
        let w = _mm256_add_epi64(wide, wordSums(twos))
        return _mm256_add_epi64(_mm256_add_epi64(w, w), wordSums(byteCounts(ones)))
    }
}

/// The bit operation of a tile, as a type so each tile loop is compiled without a branch on it.
private protocol LaneOperation { static func apply(_ x: __m256i, _ b: __m256i) -> __m256i }
private enum XorLanes: LaneOperation {
    @inline(__always) static func apply(_ x: __m256i, _ b: __m256i) -> __m256i { _mm256_xor_si256(x, b) }
}
private enum AndLanes: LaneOperation {
    @inline(__always) static func apply(_ x: __m256i, _ b: __m256i) -> __m256i { _mm256_and_si256(x, b) }
}

/// out[r·8 + c] = Σ_k pop(w[r][k] op panel[k][c]) for 2 weight rows × 8 pixels, two k steps per fold.
@inline(__always)
private func carrySaveRows<Op: LaneOperation>(_: Op.Type, k: Int, w0: UnsafePointer<UInt64>, w1: UnsafePointer<UInt64>,
                                              panel: UnsafePointer<UInt64>, out: UnsafeMutablePointer<Int32>) {
    @inline(__always) func op(_ x: __m256i, _ b: __m256i) -> __m256i { Op.apply(x, b) }
    @inline(__always) func load(_ kk: Int, _ half: Int) -> __m256i {
        UnsafeRawPointer(panel + (kk &* 8 &+ half &* 4)).loadUnaligned(as: __m256i.self)
    }
    var a00 = CarrySaveLanes(), a01 = CarrySaveLanes(), a10 = CarrySaveLanes(), a11 = CarrySaveLanes()
    var kk = 0, folds = 0
    while kk &+ 2 <= k {
        let b00 = load(kk, 0), b01 = load(kk, 1), b10 = load(kk &+ 1, 0), b11 = load(kk &+ 1, 1)
        let x0 = _mm256_set1_epi64x(Int64(bitPattern: w0[kk])), y0 = _mm256_set1_epi64x(Int64(bitPattern: w0[kk &+ 1]))
        a00.add(op(x0, b00), op(y0, b10)); a01.add(op(x0, b01), op(y0, b11))
        let x1 = _mm256_set1_epi64x(Int64(bitPattern: w1[kk])), y1 = _mm256_set1_epi64x(Int64(bitPattern: w1[kk &+ 1]))
        a10.add(op(x1, b00), op(y1, b10)); a11.add(op(x1, b01), op(y1, b11))
        kk &+= 2
        folds &+= 1
        if folds == 31 { a00.widen(); a01.widen(); a10.widen(); a11.widen(); folds = 0 }
    }
    if kk < k {  // odd k: the last step folds with zero
        let z = _mm256_setzero_si256(), b0 = load(kk, 0), b1 = load(kk, 1)
        let x0 = _mm256_set1_epi64x(Int64(bitPattern: w0[kk])), x1 = _mm256_set1_epi64x(Int64(bitPattern: w1[kk]))
        a00.add(op(x0, b0), z); a01.add(op(x0, b1), z); a10.add(op(x1, b0), z); a11.add(op(x1, b1), z)
    }
    // Totals are < 2^31 (k · 64 bits), so the low dword of each qword is the count. One 32-byte store per row:
    // the epilogue reloads the row as one vector, and two 16-byte stores would not forward to it.
    let narrow = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6), upper = _mm256_setr_epi32(0, 0, 0, 0, -1, -1, -1, -1)
    @inline(__always) func store(_ left: CarrySaveLanes, _ right: CarrySaveLanes, _ at: Int) {
        let l = _mm256_permutevar8x32_epi32(left.total(), narrow), r = _mm256_permutevar8x32_epi32(right.total(), narrow)
        UnsafeMutableRawPointer(out + at).storeBytes(of: _mm256_blendv_epi8(l, r, upper), as: __m256i.self)
    }
    store(a00, a01, 0); store(a10, a11, 8)
}
#endif

/// The tile BinaryConvTiled runs in this module.
enum BinaryMicrokernel {
    /// Plane pairs run one tile call each (from 4 pairs on LowBitByteConv takes them anyway).
    static let fusesPlanes = false
    /// No panel runs pixel by pixel (`BinaryTiles.pixelPlanes` writes an 8-row tile).
    static let pixelColumns = 0
    #if arch(x86_64)
    static let tileRows = 4
    static let panelWidth = 8
    static let name = "pshufb csa 4x8"
    /// From 4 plane pairs on (w2a2, w1a4, w4a4, …) LowBitByteConv's vpmaddubsw beats these pshufb counts.
    static let bytePlanePairs = 4
    #else
    // Off x86 this module is built but never dispatched to; it keeps the portable tile.
    static let tileRows = 4
    static let panelWidth = 4
    static let name = "scalar 4x4"
    static let bytePlanePairs = Int.max
    #endif

    /// `columns` (the panel's live pixels) is unused: this tile always counts its whole panel.
    @inline(__always)
    static func tile(k: Int, w: UnsafePointer<UInt64>, ldw: Int, rows: Int, panel: UnsafePointer<UInt64>,
                     columns: Int, xor: Bool, out: UnsafeMutablePointer<Int32>) {
        #if arch(x86_64)
        // Missing rows repeat the last real one; their sums are computed and ignored.
        let w1 = w + (rows > 1 ? 1 : 0) &* ldw
        let w2 = w + (rows > 2 ? 2 : rows &- 1) &* ldw
        let w3 = w + (rows > 3 ? 3 : rows &- 1) &* ldw
        if xor {
            carrySaveRows(XorLanes.self, k: k, w0: w, w1: w1, panel: panel, out: out)
            if rows > 2 { carrySaveRows(XorLanes.self, k: k, w0: w2, w1: w3, panel: panel, out: out + 16) }
        } else {
            carrySaveRows(AndLanes.self, k: k, w0: w, w1: w1, panel: panel, out: out)
            if rows > 2 { carrySaveRows(AndLanes.self, k: k, w0: w2, w1: w3, panel: panel, out: out + 16) }
        }
        #else
        BinaryTiles.scalar(k: k, w: w, ldw: ldw, rows: rows, panel: panel, xor: xor, out: out)
        #endif
    }
}
