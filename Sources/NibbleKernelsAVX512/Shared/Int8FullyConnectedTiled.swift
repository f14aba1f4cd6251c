// Shared source (symlinked into every kernel module). Batch rows are quantized once, then the
// module's Int8Microkernel.dot4 streams four weight rows against them.

/// Int8 fully connected: y[b][o] = dequantize(Σ_i (q[b][i] - zp)·W[o][i]), W int8 row-major [out][in].
/// `rowSums` (Σ_i W[o][i], `Int8Quantization.rowSums`), when the caller computed them once at load: counted here
/// they are a second pass over every weight on every run (G1: 0.082 → 0.052 ms without it).
public enum Int8FullyConnectedTiled {
    public static func scratchByteCount(inFeatures: Int, outFeatures: Int, batch: Int) -> Int {
        ((batch &* inFeatures &+ 63) & ~63) &+ outFeatures &* 4 &+ 128
    }

    public static func run(inFeatures: Int, outFeatures: Int, batch: Int, input: UnsafePointer<Float>,
                           inputScale: Float, inputZeroPoint: Int32, weights: UnsafePointer<Int8>,
                           weightScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           output: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer,
                           outputMin: Float, outputMax: Float, rowSums precomputed: UnsafePointer<Int32>? = nil) {
        let n = inFeatures
        let q = scratch.assumingMemoryBound(to: UInt8.self)
        let counted = (scratch + ((batch &* n &+ 63) & ~63)).assumingMemoryBound(to: Int32.self)
        let rowSums = precomputed ?? UnsafePointer(counted)
        Int8Quantization.quantize(input, count: batch &* n, scale: inputScale, zeroPoint: inputZeroPoint, into: q)
        for bi in 0..<batch {
            let x = UnsafePointer(q) + bi &* n
            let y = output + bi &* outFeatures
            var o0 = 0
            while o0 < outFeatures {
                let rows = Swift.min(4, outFeatures &- o0)
                let w0 = weights + o0 &* n
                let w1 = weights + (o0 &+ Swift.min(1, rows &- 1)) &* n
                let w2 = weights + (o0 &+ Swift.min(2, rows &- 1)) &* n
                let w3 = weights + (o0 &+ Swift.min(3, rows &- 1)) &* n
                // The rows' weight sums just before their dot products, so `dot4` finds the rows in cache: a pass over
                // all the weights first streamed them from memory twice (G1: 0.104 → 0.081 ms).
                if bi == 0 && precomputed == nil { Int8Quantization.rowSums(w0, rows: rows, length: n, into: counted + o0) }
                let d = Int8Microkernel.dot4(n: n, x: x, w0, w1, w2, w3)
                for r in 0..<rows {
                    let o = o0 &+ r
                    let acc = d[r] &- inputZeroPoint &* rowSums[o]
                    y[o] = Int8Quantization.dequantize(acc, scale: inputScale * weightScales[o], bias: bias?[o] ?? 0,
                                                       outputMin: outputMin, outputMax: outputMax)
                }
                o0 &+= 4
            }
        }
    }
}
