// Module-specific (not shared): the native vector the shared kernels are written against.
// Compiled with -target-cpu haswell, so FVec is one ymm register.

typealias FVec = SIMD8<Float>
/// pmaddubsw would saturate, so AVX2 widens to int16 and multiplies with vpmaddwd (exact).
#if arch(x86_64)
typealias Int8Microkernel = Int8MicrokernelMaddwd
/// Ternary × uint8 tiles: vpmaddubsw is exact for |w| ≤ 64 (SmallWeightMicrokernelMaddubs).
typealias TernaryMicrokernel = SmallWeightMicrokernelMaddubs
typealias TernaryTile = SmallWeightMicrokernelMaddubs
/// Mask bits to 0/−1 bytes for the few-pixel ternary dot products: vpshufb + vpand + vpcmpeqb.
typealias TernaryByteMasks = ShuffleByteMasks
/// Int8ConvIndirect's tile: int16 image, vpmaddwd.
typealias Int8IndirectMicrokernel = Int8MicrokernelIndirect
#else
typealias Int8Microkernel = Int8MicrokernelGeneric
typealias TernaryMicrokernel = SmallWeightMicrokernelGeneric
typealias TernaryTile = SmallWeightMicrokernelGeneric
#endif
/// The few-pixel ternary dot products (TernaryConvDirect): `TernaryMicrokernel.maskDot8`.
typealias TernaryMaskDot = EightRowMaskDot

/// Identifies this build of the shared kernels.
public enum ModuleISA { public static let name = "avx2" }

/// acc + a·b as one fused multiply-add instruction (this module's target has FMA).
@inline(__always) func madd(_ acc: FVec, _ a: FVec, _ b: FVec) -> FVec { acc.addingProduct(a, b) }
@inline(__always) func madd(_ acc: Float, _ a: Float, _ b: Float) -> Float { acc.addingProduct(a, b) }
