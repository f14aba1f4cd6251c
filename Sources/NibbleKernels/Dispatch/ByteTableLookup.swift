// dst[i] = table[src[i]] at the level the session runs: AVX-512's byte permutes (`ByteTable`), else one lookup per
// byte (AVX2's 16-entry pshufb would need 16 lookups and blends for a 256-entry table).
#if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
import NibbleKernelsAVX512
#endif

public enum ByteTableLookup {
    /// dst[i] = table[src[i]] for i < count; `table` holds 256 bytes; `dst` may be `src`.
    public static func map(_ src: UnsafePointer<UInt8>, count: Int, table: UnsafePointer<UInt8>, into dst: UnsafeMutablePointer<UInt8>,
                           isa: KernelISA = KernelISA.current) {
        #if canImport(NibbleKernelsAVX2) && canImport(NibbleKernelsAVX512)
        if isa == .avx512 {
            NibbleKernelsAVX512.ByteTable.map(src, count: count, table: table, into: dst)
            return
        }
        #endif
        for i in 0..<count { dst[i] = table[Int(src[i])] }
    }
}
