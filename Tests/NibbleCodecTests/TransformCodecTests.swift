import Foundation
@testable import NibbleCodec
import XCTest

/// The transform codec (issue 6): DCT basis, in-place transform, and whole maps bit-exact with
/// forward → quantize → dequantize → inverse, whatever the shape; damaged slots refused.
final class TransformCodecTests: XCTestCase {
    /// Channels that share a few latent factors (correlated, as real feature maps are) plus noise, NCHW.
    static func correlated(shape: [Int], factors: Int = 2, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        let c = shape[1], pixels = shape.count == 4 ? shape[2] * shape[3] : 1
        let mix = (0..<c * factors).map { _ in Float(rng.unit() * 2 - 1) }
        var x = [Float](repeating: 0, count: shape.reduce(1, *))
        for i in 0..<shape[0] {
            for p in 0..<pixels {
                let z = (0..<factors).map { _ in Float(rng.unit() * 4 - 2) }
                for ch in 0..<c {
                    var v = Float(rng.unit() * 0.1)
                    for j in 0..<factors { v += mix[ch * factors + j] * z[j] }
                    x[(i * c + ch) * pixels + p] = v + Float(ch % 3)
                }
            }
        }
        return x
    }

    /// A random orthonormal basis (Gram-Schmidt in Double), so the codec is tested on more than the DCT.
    static func randomBasis(_ n: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var rows: [[Double]] = []
        while rows.count < n {
            var v = (0..<n).map { _ in rng.unit() * 2 - 1 }
            for r in rows {
                let d = zip(v, r).reduce(0) { $0 + $1.0 * $1.1 }
                for i in 0..<n { v[i] -= d * r[i] }
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 1e-3 { rows.append(v.map { $0 / norm }) }
        }
        return rows.flatMap { $0.map(Float.init) }
    }

    static func channelMeans(_ x: [Float], shape: [Int]) -> [Float] {
        let c = shape[1], pixels = x.count / shape[0] / c
        return (0..<c).map { ch in
            var s: Double = 0
            for i in 0..<shape[0] { for p in 0..<pixels { s += Double(x[(i * c + ch) * pixels + p]) } }
            return Float(s / Double(x.count / c))
        }
    }

    /// A codec for `shape` whose quantizer and table are fitted on `fit`'s coefficients.
    static func codec(_ t: ChannelTransform, shape: [Int], bits: Int, fit: [Float]) throws -> TransformCodec {
        let (images, pixels) = try XCTUnwrap(t.geometry(shape: shape))
        var y = fit
        var scratch = [Float](repeating: 0, count: t.scratchFloats)
        y.withUnsafeMutableBufferPointer { v in scratch.withUnsafeMutableBufferPointer { t.forward(v.baseAddress!, images: images, pixels: pixels, scratch: $0.baseAddress!) } }
        let q = try XCTUnwrap(y.withUnsafeBufferPointer { ActivationQuantizer.calibrated(samples: $0, bits: bits, signed: true) })
        var stats = try XCTUnwrap(CodeStatistics(bits: bits, zeroSymbol: q.zeroPoint))
        y.withUnsafeBufferPointer { TensorCodec.forEachTile($0, quantizer: q) { stats.add(tile: $0) } }
        return try XCTUnwrap(TransformCodec(transform: t, quantizer: q, table: HuffmanTable(statistics: stats), shape: shape))
    }

    /// Encodes a copy of `x` (the codec transforms in place), checks the bound, decodes into a fresh buffer.
    static func roundTrip(_ c: TransformCodec, _ x: [Float]) -> (bytes: [UInt8], decoded: [Float]?) {
        var work = x
        var slot = [UInt8](repeating: 0xAA, count: c.coefficients.worstCaseBytes)
        var scratch = [UInt8](repeating: 0, count: c.scratchBytes)
        guard let n = work.withUnsafeMutableBufferPointer({ v in slot.withUnsafeMutableBytes { s in
            scratch.withUnsafeMutableBufferPointer { c.encode(v.baseAddress!, into: s, scratch: $0.baseAddress!) } } }) else { return ([], nil) }
        let bytes = Array(slot[0..<n])
        return (bytes, decode(c, bytes))
    }

    static func decode(_ c: TransformCodec, _ bytes: [UInt8]) -> [Float]? {
        var out = [Float](repeating: .nan, count: c.coefficients.count)
        var scratch = [UInt8](repeating: 0, count: c.scratchBytes)
        let ok = bytes.withUnsafeBytes { s in out.withUnsafeMutableBufferPointer { o in
            scratch.withUnsafeMutableBufferPointer { c.decode(s, into: o.baseAddress!, scratch: $0.baseAddress!) } } }
        return ok ? out : nil
    }

    /// forward → quantize → dequantize → inverse in plain Swift (`ChannelTransform.quantized`).
    static func reference(_ c: TransformCodec, _ x: [Float]) -> [Float] {
        var y = x
        var scratch = [Float](repeating: 0, count: c.transform.scratchFloats)
        y.withUnsafeMutableBufferPointer { v in scratch.withUnsafeMutableBufferPointer {
            c.transform.quantized(v.baseAddress!, images: c.images, pixels: c.pixels, quantizer: c.coefficients.quantizer, scratch: $0.baseAddress!) } }
        return y
    }

    func testDCTBasisIsOrthonormalAndMatchesCosine() throws {
        for n in [1, 2, 3, 7, 16, 64, 255] {
            let t = try XCTUnwrap(ChannelTransform.dct(mean: [Float](repeating: 0, count: n)))
            for k in 0..<n {
                for c in 0..<n {
                    let s = (k == 0 ? 1.0 / Double(n) : 2.0 / Double(n)).squareRoot()
                    XCTAssertEqual(Double(t.basis[k * n + c]), s * cos(Double.pi * Double((2 * c + 1) * k) / Double(2 * n)), accuracy: 1e-6)
                }
                for j in k..<n {
                    let d = (0..<n).reduce(0.0) { $0 + Double(t.basis[k * n + $1]) * Double(t.basis[j * n + $1]) }
                    XCTAssertEqual(d, k == j ? 1 : 0, accuracy: 1e-5, "C \(n) rows \(k), \(j)")
                }
            }
        }
    }

    /// Random and edge shapes (C = 1, odd C, H·W not a multiple of the tile, several images, [N, C]), DCT and
    /// a random orthonormal basis, 2…8 bits: decode is bit-exact with the plain-Swift reference, the slot
    /// within the bound, and the error per pixel at most √C·step/2 where no coefficient is clipped.
    func testRoundTripIsBitExactWithTheReference() throws {
        let shapes: [[Int]] = [[1, 1, 5, 5], [1, 3, 7, 9], [2, 5, 33, 31], [1, 16, 70, 70], [3, 16], [1, 64, 9, 9]]
        for (s, shape) in shapes.enumerated() {
            let x = Self.correlated(shape: shape, seed: UInt64(s + 1))
            let mean = Self.channelMeans(x, shape: shape)
            let transforms = [try XCTUnwrap(ChannelTransform.dct(mean: mean)),
                              try XCTUnwrap(ChannelTransform(mean: mean, basis: Self.randomBasis(shape[1], seed: UInt64(s))))]
            for (tk, t) in transforms.enumerated() {
                for bits in [2, 4, 8] {
                    let c = try Self.codec(t, shape: shape, bits: bits, fit: x)
                    let (bytes, decoded) = Self.roundTrip(c, x)
                    let d = try XCTUnwrap(decoded, "shape \(shape) transform \(tk) bits \(bits)")
                    XCTAssertLessThanOrEqual(bytes.count, c.coefficients.worstCaseBytes)
                    let ref = Self.reference(c, x)
                    XCTAssertEqual(d.map(\.bitPattern), ref.map(\.bitPattern), "shape \(shape) transform \(tk) bits \(bits)")
                    if bits == 8 { try assertErrorBounded(c, x, d) }
                }
            }
        }
    }

    /// ‖x − x̂‖ ≤ √C·step/2 (+ float rounding) at every pixel whose coefficients were all inside the clip range:
    /// the basis is orthonormal, so the pixel's error is its coefficients' rounding error.
    func assertErrorBounded(_ c: TransformCodec, _ x: [Float], _ d: [Float]) throws {
        let n = c.transform.channels, q = c.coefficients.quantizer
        var y = x
        var scratch = [Float](repeating: 0, count: c.transform.scratchFloats)
        y.withUnsafeMutableBufferPointer { v in scratch.withUnsafeMutableBufferPointer { c.transform.forward(v.baseAddress!, images: c.images, pixels: c.pixels, scratch: $0.baseAddress!) } }
        let limit = Float(q.maxSymbol - q.zeroPoint) * q.step
        var checked = 0
        for i in 0..<c.images {
            for p in 0..<c.pixels {
                let idx = (0..<n).map { (i * n + $0) * c.pixels + p }
                guard idx.allSatisfy({ abs(y[$0]) <= limit - q.step }) else { continue }
                let e = idx.reduce(Float(0)) { $0 + (x[$1] - d[$1]) * (x[$1] - d[$1]) }.squareRoot()
                XCTAssertLessThanOrEqual(e, Float(n).squareRoot() * q.step / 2 * 1.01 + 1e-4)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 0)
    }

    /// All-zero maps (every coefficient −B·mean, constant per channel) and values far beyond the fitted
    /// range (escapes, clipped coefficients, raw-fallback tiles) stay bit-exact too.
    func testZeroMapsAndEscapesAreBitExact() throws {
        let shape = [1, 8, 40, 41]
        let x = Self.correlated(shape: shape, seed: 3)
        let t = try XCTUnwrap(ChannelTransform(mean: Self.channelMeans(x, shape: shape), basis: Self.randomBasis(8, seed: 4)))
        let c = try Self.codec(t, shape: shape, bits: 4, fit: x)
        var rng = SplitMix64(seed: 5)
        let zeros = [Float](repeating: 0, count: x.count)
        let wild = x.map { _ in rng.unit() < 0.1 ? Float(rng.unit() * 400 - 200) : 0 }
        let noise = x.map { _ in Float(rng.unit() * 40 - 20) }
        for (name, input) in [("zeros", zeros), ("wild", wild), ("noise", noise)] {
            let (bytes, decoded) = Self.roundTrip(c, input)
            XCTAssertEqual(try XCTUnwrap(decoded, name).map(\.bitPattern), Self.reference(c, input).map(\.bitPattern), name)
            XCTAssertLessThanOrEqual(bytes.count, c.coefficients.worstCaseBytes, name)
        }
        // Noise is stored raw: exactly the bound.
        XCTAssertEqual(Self.roundTrip(c, noise).bytes.count, c.coefficients.worstCaseBytes)
    }

    /// Damaged or truncated slots are refused (or decode to something) without reading outside the slot.
    func testDamagedSlotsAreRefused() throws {
        let shape = [1, 6, 50, 50]
        let x = Self.correlated(shape: shape, seed: 8)
        let c = try Self.codec(try XCTUnwrap(ChannelTransform.dct(mean: Self.channelMeans(x, shape: shape))), shape: shape, bits: 4, fit: x)
        let bytes = Self.roundTrip(c, x).bytes
        XCTAssertNil(Self.decode(c, Array(bytes.dropLast())), "truncated")
        XCTAssertNil(Self.decode(c, Array(bytes.prefix(3))), "shorter than the directory")
        var bad = bytes
        bad[0] = 0xFF; bad[1] = 0xFF
        XCTAssertNil(Self.decode(c, bad), "directory end past the slot")
        var rng = SplitMix64(seed: 11)
        for _ in 0..<200 {
            var b = bytes
            b[rng.below(b.count)] ^= UInt8(1 << rng.below(8))
            _ = Self.decode(c, b)
        }
    }

    func testMismatchedShapesAndQuantizersAreRefused() throws {
        let t = try XCTUnwrap(ChannelTransform.dct(mean: [0, 0, 0]))
        let q = try XCTUnwrap(ActivationQuantizer(bits: 4, step: 0.1, zeroPoint: 8))
        var stats = try XCTUnwrap(CodeStatistics(bits: 4, zeroSymbol: 8))
        XCTAssertTrue(stats.add(tile: [8, 8, 9, 7]))
        let table = HuffmanTable(statistics: stats)
        XCTAssertNotNil(TransformCodec(transform: t, quantizer: q, table: table, shape: [1, 3, 2, 2]))
        XCTAssertNil(TransformCodec(transform: t, quantizer: q, table: table, shape: [1, 4, 2, 2]), "channels")
        XCTAssertNil(TransformCodec(transform: t, quantizer: q, table: table, shape: [1, 3, 2]), "rank 3")
        XCTAssertNil(TransformCodec(transform: t, quantizer: ActivationQuantizer(bits: 4, step: 0.1)!, table: table, shape: [3, 3]), "unsigned")
        XCTAssertNil(ChannelTransform(mean: [0, 0], basis: [1, 0, 0]), "basis size")
    }
}
