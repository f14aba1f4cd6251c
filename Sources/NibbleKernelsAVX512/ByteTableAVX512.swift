// AVX-512 only (this module alone compiles this file): a 256-entry byte table looked up 64 bytes at a time with
// VBMI's two-table byte permute (vpermi2b takes an index's low 7 bits over 128 table bytes), one permute per table
// half and a blend on the index's top bit. A CAT window maps every decoded symbol to its int8 conv's input byte
// this way (`BandInput.byteMap`): the scalar lookup was 7 % of a CAT MobileNet's run.
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

public enum ByteTable {
    /// dst[i] = table[src[i]] for i < count; `table` holds 256 bytes; `dst` may be `src`.
    public static func map(_ src: UnsafePointer<UInt8>, count: Int, table: UnsafePointer<UInt8>, into dst: UnsafeMutablePointer<UInt8>) {
        var i = 0
        #if arch(x86_64)
        let t0 = UnsafeRawPointer(table).loadUnaligned(as: __m512i.self)
        let t1 = UnsafeRawPointer(table + 64).loadUnaligned(as: __m512i.self)
        let t2 = UnsafeRawPointer(table + 128).loadUnaligned(as: __m512i.self)
        let t3 = UnsafeRawPointer(table + 192).loadUnaligned(as: __m512i.self)
        @inline(__always) func look(_ index: __m512i) -> __m512i {
            let low = _mm512_permutex2var_epi8(t0, index, t1), high = _mm512_permutex2var_epi8(t2, index, t3)
            return _mm512_mask_blend_epi8(_mm512_movepi8_mask(index), low, high)
        }
        while i &+ 64 <= count {
            let index = UnsafeRawPointer(src + i).loadUnaligned(as: __m512i.self)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: look(index), as: __m512i.self)
            i &+= 64
        }
        if i < count {
            // The last 1–63 bytes through masked loads and stores (a line buffer's rows are often 8–32 bytes).
            let mask: UInt64 = ~0 &>> UInt64(64 &- (count &- i))
            let index = _mm512_maskz_loadu_epi8(mask, src + i)
            _mm512_mask_storeu_epi8(dst + i, mask, look(index))
            i = count
        }
        #endif
        while i < count {
            dst[i] = table[Int(src[i])]
            i &+= 1
        }
    }
}
