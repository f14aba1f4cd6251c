/// Channel statistics of a feature map over calibration pixels, and the principal directions they give
/// (issue 6, "PCA basis fitted at convert time on calibration data"): the basis of the transform codec that
/// packs most of a layer's energy into its first coefficients (Karhunen–Loève).
struct ChannelPCA {
    let channels: Int
    private(set) var pixels = 0
    private var sum: [Double]
    /// Σ x·xᵀ over pixels, row-major C×C.
    private var cross: [Double]

    init(channels: Int) {
        self.channels = channels
        sum = [Double](repeating: 0, count: channels)
        cross = [Double](repeating: 0, count: channels * channels)
    }

    /// Adds every pixel of `images` blocks of [C][pixels] (NCHW).
    mutating func add(_ values: UnsafeBufferPointer<Float>, images: Int, pixels p: Int) {
        let n = channels
        var x = [Double](repeating: 0, count: n)
        for i in 0..<images {
            for q in 0..<p {
                for c in 0..<n { x[c] = Double(values[(i * n + c) * p + q]) }
                for a in 0..<n {
                    sum[a] += x[a]
                    for b in a..<n { cross[a * n + b] += x[a] * x[b] }
                }
            }
        }
        pixels += images * p
    }

    var mean: [Double] { sum.map { $0 / Double(max(pixels, 1)) } }

    /// The sample covariance, symmetric C×C.
    var covariance: [Double] {
        let n = channels, m = mean, count = Double(max(pixels, 1))
        var cov = [Double](repeating: 0, count: n * n)
        for a in 0..<n {
            for b in a..<n {
                cov[a * n + b] = cross[a * n + b] / count - m[a] * m[b]
                cov[b * n + a] = cov[a * n + b]
            }
        }
        return cov
    }

    /// Eigenvectors of the covariance as rows, by decreasing eigenvalue: orthonormal in Float64, then rounded
    /// to Float (well within the reader's tolerance). Also the eigenvalues (the coefficients' variances).
    func principalBasis() -> (basis: [Float], variances: [Double]) {
        let n = channels
        let (values, vectors) = ChannelPCA.symmetricEigen(covariance, n)
        let order = (0..<n).sorted { values[$0] > values[$1] }
        var basis = [Float](repeating: 0, count: n * n)
        for (row, k) in order.enumerated() {
            for c in 0..<n { basis[row * n + c] = Float(vectors[c * n + k]) }
        }
        return (basis, order.map { values[$0] })
    }

    /// Cyclic Jacobi eigenvalue algorithm for a symmetric n×n matrix (Golub & Van Loan, Matrix Computations,
    /// §8.5): rotations zero each off-diagonal entry in turn until the off-diagonal norm is negligible. Returns
    /// the eigenvalues and the eigenvectors as the columns of a row-major n×n matrix. Plenty fast for the channel
    /// counts of feature maps (C ≤ 1024), and needs no LAPACK.
    static func symmetricEigen(_ matrix: [Double], _ n: Int) -> (values: [Double], vectors: [Double]) {
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        let total = a.reduce(0) { $0 + $1 * $1 }
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<n { off += a[p * n + q] * a[p * n + q] } }
            if off <= 1e-24 * max(total, 1e-300) { break }
            for p in 0..<n {
                for q in (p + 1)..<n where a[p * n + q] != 0 {
                    let apq = a[p * n + q]
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq
                        v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<n).map { a[$0 * n + $0] }, v)
    }
}
