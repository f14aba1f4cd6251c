// Shared source (symlinked into every kernel module). Batch-1 FC is a GEMV bound by streaming W once,
// so 4 weight rows share each x vector load and two accumulators per row hide FMA latency.

/// y[b][o] = Σ_i W[o][i]·x[b][i] + bias[o], W row-major [out][in], clamped.
public enum FP32FullyConnectedTiled {
    public static func run(inFeatures: Int, outFeatures: Int, batch: Int, input: UnsafePointer<Float>,
                           weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           output: UnsafeMutablePointer<Float>, outputMin: Float, outputMax: Float) {
        let vw = FVec.scalarCount
        let n = inFeatures
        let vEnd = n &- n % (2 &* vw)
        for bi in 0..<batch {
            let x = UnsafeRawPointer(input + bi &* n)
            let xs = input + bi &* n
            let y = output + bi &* outFeatures
            var o0 = 0
            while o0 < outFeatures {
                let rows = Swift.min(4, outFeatures &- o0)
                let w0 = weights + o0 &* n
                let w1 = weights + (o0 &+ Swift.min(1, rows &- 1)) &* n
                let w2 = weights + (o0 &+ Swift.min(2, rows &- 1)) &* n
                let w3 = weights + (o0 &+ Swift.min(3, rows &- 1)) &* n
                let r0 = UnsafeRawPointer(w0), r1 = UnsafeRawPointer(w1)
                let r2 = UnsafeRawPointer(w2), r3 = UnsafeRawPointer(w3)
                var s0a = FVec(), s0b = FVec(), s1a = FVec(), s1b = FVec()
                var s2a = FVec(), s2b = FVec(), s3a = FVec(), s3b = FVec()
                var i = 0
                while i < vEnd {
                    let off = i &* 4, off2 = (i &+ vw) &* 4
                    let xa = x.loadUnaligned(fromByteOffset: off, as: FVec.self)
                    let xb = x.loadUnaligned(fromByteOffset: off2, as: FVec.self)
                    s0a = madd(s0a, r0.loadUnaligned(fromByteOffset: off, as: FVec.self), xa)
                    s0b = madd(s0b, r0.loadUnaligned(fromByteOffset: off2, as: FVec.self), xb)
                    s1a = madd(s1a, r1.loadUnaligned(fromByteOffset: off, as: FVec.self), xa)
                    s1b = madd(s1b, r1.loadUnaligned(fromByteOffset: off2, as: FVec.self), xb)
                    s2a = madd(s2a, r2.loadUnaligned(fromByteOffset: off, as: FVec.self), xa)
                    s2b = madd(s2b, r2.loadUnaligned(fromByteOffset: off2, as: FVec.self), xb)
                    s3a = madd(s3a, r3.loadUnaligned(fromByteOffset: off, as: FVec.self), xa)
                    s3b = madd(s3b, r3.loadUnaligned(fromByteOffset: off2, as: FVec.self), xb)
                    i &+= 2 &* vw
                }
                var t0 = (s0a + s0b).sum(), t1 = (s1a + s1b).sum()
                var t2 = (s2a + s2b).sum(), t3 = (s3a + s3b).sum()
                while i < n {
                    let xi = xs[i]
                    t0 = madd(t0, w0[i], xi); t1 = madd(t1, w1[i], xi)
                    t2 = madd(t2, w2[i], xi); t3 = madd(t3, w3[i], xi)
                    i &+= 1
                }
                if let bias {
                    t0 += bias[o0]
                    if rows > 1 { t1 += bias[o0 &+ 1] }
                    if rows > 2 { t2 += bias[o0 &+ 2] }
                    if rows > 3 { t3 += bias[o0 &+ 3] }
                }
                y[o0] = Swift.max(Swift.min(t0, outputMax), outputMin)
                if rows > 1 { y[o0 &+ 1] = Swift.max(Swift.min(t1, outputMax), outputMin) }
                if rows > 2 { y[o0 &+ 2] = Swift.max(Swift.min(t2, outputMax), outputMin) }
                if rows > 3 { y[o0 &+ 3] = Swift.max(Swift.min(t3, outputMax), outputMin) }
                o0 &+= 4
            }
        }
    }
}
