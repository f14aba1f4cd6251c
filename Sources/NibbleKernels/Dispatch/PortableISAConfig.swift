// Module-specific (not shared): NibbleKernels is compiled without -target-cpu, so the shared kernels
// here are the portable build (SSE2 on x86-64, NEON on arm64) with 128-bit vectors.

typealias FVec = SIMD4<Float>
typealias Int8Microkernel = Int8MicrokernelGeneric

/// acc + a·b unfused: the baseline target has no FMA instruction, and addingProduct would become a
/// correctly rounded libm call per lane.
@inline(__always) func madd(_ acc: FVec, _ a: FVec, _ b: FVec) -> FVec { acc + a * b }
@inline(__always) func madd(_ acc: Float, _ a: Float, _ b: Float) -> Float { acc + a * b }
