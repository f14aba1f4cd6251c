// AVX-512 only (this module alone compiles this file): ShuffleByteMasks' bytes from a mask register. kmovd + vpmovm2b
// (AVX512BW + VL) replace vpbroadcastd + vpshufb + vpand + vpcmpeqb, two vector operations fewer per mask in the
// few-pixel ternary dot products (TernaryMaskDotAVX2, ~14 per channel and 32 weights).
#if arch(x86_64)
import _Builtin_intrinsics.intel

enum MoveByteMasks {
    /// Byte j is −1 where bit j of m is set, else 0.
    @inline(__always) static func lanes(_ m: UInt32) -> __m256i { _mm256_movm_epi8(m) }
}
#endif
