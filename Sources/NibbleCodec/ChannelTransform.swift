/// A per-layer orthonormal linear transform along channels (issue 6, "transform coding"): at every pixel of a
/// map, the coefficients are y = B·(x − mean), and x = Bᵀ·y + mean gives the values back. With B the principal
/// directions of the layer's channels (PCA, fitted at convert time) or the DCT-II basis, the energy gathers in
/// the first coefficients, so most of the rest quantize to zero and code as long zero runs.
///
/// Maps are NCHW (or [N, C]): each of the `images` blocks is [C][pixels], and the coefficients replace the
/// values in place in the same layout, coefficient-major ([C][pixels]), so a low-variance coefficient's
/// zeros are consecutive. Nothing here allocates; the caller hands in `scratchFloats` floats.
public struct ChannelTransform: Sendable, Equatable {
    public let channels: Int
    public let mean: [Float]
    /// Row-major C×C, row k = the k-th basis vector; orthonormal (checked by the .nib reader for PCA).
    public let basis: [Float]

    /// Nil unless there is at least one channel and the basis is C×C.
    public init?(mean: [Float], basis: [Float]) {
        guard !mean.isEmpty, basis.count == mean.count * mean.count else { return nil }
        self.channels = mean.count
        self.mean = mean
        self.basis = basis
    }

    /// The orthonormal DCT-II basis (B[k][c] = s_k·cos(π(2c + 1)k / 2C), s_0 = √(1/C), s_k = √(2/C)), the
    /// fixed transform that needs no fitting (Ahmed, Natarajan, Rao 1974).
    public static func dct(mean: [Float]) -> ChannelTransform? {
        let n = mean.count
        var basis = [Float](repeating: 0, count: n * n)
        for k in 0..<n {
            let scale = (k == 0 ? 1.0 / Double(n) : 2.0 / Double(n)).squareRoot()
            for c in 0..<n {
                // The angle as a multiple m of π/2C, reduced mod 4C (a full turn) before any rounding.
                let m = ((2 * c + 1) * k) % (4 * n)
                basis[k * n + c] = Float(scale * cosine(Double.pi * Double(m) / Double(2 * n)))
            }
        }
        return ChannelTransform(mean: mean, basis: basis)
    }

    /// cos x for x in [0, 2π) without libm (the runtime core links no math library): reduce to [0, π/2]
    /// by symmetry, then the Taylor series, whose terms there fall below 1e-17 by the 11th.
    static func cosine(_ x: Double) -> Double {
        var a = x > Double.pi ? 2 * Double.pi - x : x
        var sign = 1.0
        if a > Double.pi / 2 { a = Double.pi - a; sign = -1 }
        var term = 1.0, sum = 1.0
        for i in stride(from: 2, through: 24, by: 2) {
            term *= -a * a / Double((i - 1) * i)
            sum += term
        }
        return sign * sum
    }

    /// (images, pixels) of an NCHW or [N, C] shape whose dim 1 is `channels`; nil otherwise.
    public func geometry(shape: [Int]) -> (images: Int, pixels: Int)? {
        guard shape.count == 2 || shape.count == 4, shape[1] == channels, shape.allSatisfy({ $0 >= 1 }) else { return nil }
        return (shape[0], shape.count == 4 ? shape[2] * shape[3] : 1)
    }

    /// Floats of scratch `forward` and `inverse` need: the pixel's values and its output.
    public var scratchFloats: Int { 2 * channels }

    /// y = B·(x − mean) at every pixel, in place over `images` blocks of [C][pixels].
    public func forward(_ values: UnsafeMutablePointer<Float>, images: Int, pixels: Int, scratch: UnsafeMutablePointer<Float>) {
        let n = channels
        mean.withUnsafeBufferPointer { mean in
            basis.withUnsafeBufferPointer { b in
                for i in 0..<images {
                    let block = values + i * n * pixels
                    for p in 0..<pixels {
                        for c in 0..<n { scratch[c] = block[c * pixels + p] - mean[c] }
                        for k in 0..<n {
                            var s: Float = 0
                            for c in 0..<n { s += b[k * n + c] * scratch[c] }
                            block[k * pixels + p] = s
                        }
                    }
                }
            }
        }
    }

    /// x = Bᵀ·y + mean at every pixel, in place: the inverse of `forward` (B is orthonormal). Zero
    /// coefficients, most of them after quantization, are skipped.
    public func inverse(_ values: UnsafeMutablePointer<Float>, images: Int, pixels: Int, scratch: UnsafeMutablePointer<Float>) {
        let n = channels
        let out = scratch + n
        mean.withUnsafeBufferPointer { mean in
            basis.withUnsafeBufferPointer { b in
                for i in 0..<images {
                    let block = values + i * n * pixels
                    for p in 0..<pixels {
                        for c in 0..<n { out[c] = mean[c] }
                        for k in 0..<n {
                            let y = block[k * pixels + p]
                            if y == 0 { continue }
                            for c in 0..<n { out[c] += b[k * n + c] * y }
                        }
                        for c in 0..<n { block[c * pixels + p] = out[c] }
                    }
                }
            }
        }
    }

    /// What the transform codec gives back for `values`, in place: forward, quantize→dequantize every
    /// coefficient, inverse — exactly the session's decode, since the entropy code is lossless on the symbols.
    /// The converter measures and searches with it; no allocation.
    public func quantized(_ values: UnsafeMutablePointer<Float>, images: Int, pixels: Int, quantizer: ActivationQuantizer,
                          scratch: UnsafeMutablePointer<Float>) {
        forward(values, images: images, pixels: pixels, scratch: scratch)
        for j in 0..<images * channels * pixels { values[j] = quantizer.dequantize(quantizer.quantize(values[j])) }
        inverse(values, images: images, pixels: pixels, scratch: scratch)
    }
}
