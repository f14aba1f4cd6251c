// Module-specific (not shared): NibbleKernels is compiled without -target-cpu, so the shared kernels
// here are the portable build (SSE2 on x86-64, NEON on arm64) with 128-bit vectors.

typealias FVec = SIMD4<Float>
typealias Int8Microkernel = Int8MicrokernelGeneric
typealias TernaryMicrokernel = SmallWeightMicrokernelGeneric
/// The ternary GEMM tile (TernaryConvTiled); the x86 modules may choose another than TernaryMicrokernel's.
typealias TernaryTile = SmallWeightMicrokernelGeneric
/// The few-pixel ternary dot products (TernaryConvDirect): `TernaryMicrokernel.maskDot8`.
typealias TernaryMaskDot = EightRowMaskDot

#if arch(arm64)
/// Every ARMv8 core has fused multiply-add: addingProduct lowers to `fmla` (checked by scripts/test-arm).
@inline(__always) func madd(_ acc: FVec, _ a: FVec, _ b: FVec) -> FVec { acc.addingProduct(a, b) }
@inline(__always) func madd(_ acc: Float, _ a: Float, _ b: Float) -> Float { acc.addingProduct(a, b) }
#else
/// acc + a·b unfused: the x86-64 baseline has no FMA instruction, and addingProduct would become a
/// correctly rounded libm call per lane.
@inline(__always) func madd(_ acc: FVec, _ a: FVec, _ b: FVec) -> FVec { acc + a * b }
@inline(__always) func madd(_ acc: Float, _ a: Float, _ b: Float) -> Float { acc + a * b }
#endif
