// Module-specific (not shared): the native vector the shared kernels are written against.
// Compiled with -target-cpu icelake-server, so FVec is one zmm register.

typealias FVec = SIMD16<Float>
#if arch(x86_64)
typealias Int8Microkernel = Int8MicrokernelVNNI
/// Ternary × uint8: weight expansion and few-pixel dot products on ymm (SmallWeightMicrokernelMaddubs), the GEMM
/// tile on vpdpbusd.
typealias TernaryMicrokernel = SmallWeightMicrokernelMaddubs
typealias TernaryTile = TernaryTileVNNI
/// Mask bits to 0/−1 bytes for the few-pixel ternary dot products: one vpmovm2b (`MoveByteMasks`).
typealias TernaryByteMasks = MoveByteMasks
/// The few-pixel ternary dot products: 16 channels × 64 indices, vpdpbusd.
typealias TernaryMaskDot = TernaryMaskDotVNNI
/// Int8ConvIndirect's tile: byte image, vpdpbusd.
typealias Int8IndirectMicrokernel = Int8MicrokernelIndirectVNNI
#else
typealias Int8Microkernel = Int8MicrokernelGeneric
typealias TernaryMicrokernel = SmallWeightMicrokernelGeneric
typealias TernaryTile = SmallWeightMicrokernelGeneric
typealias TernaryMaskDot = EightRowMaskDot
#endif

/// Identifies this build of the shared kernels.
public enum ModuleISA { public static let name = "avx512" }

/// acc + a·b as one fused multiply-add instruction (this module's target has FMA).
@inline(__always) func madd(_ acc: FVec, _ a: FVec, _ b: FVec) -> FVec { acc.addingProduct(a, b) }
@inline(__always) func madd(_ acc: Float, _ a: Float, _ b: Float) -> Float { acc.addingProduct(a, b) }
