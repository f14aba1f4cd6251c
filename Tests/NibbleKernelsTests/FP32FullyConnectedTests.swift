import XCTest
import NibbleKernels

/// Optimized fp32 fully connected at every level the host runs, against the reference.
final class FP32FullyConnectedTests: XCTestCase {
    func check(inF: Int, outF: Int, batch: Int, seed: UInt64, bias useBias: Bool, clamp: (Float, Float)) {
        var rng = SplitMix(seed: seed)
        let x = AlignedBuffer<Float>(count: batch * inF, fill: 0)
        let w = AlignedBuffer<Float>(count: outF * inF, fill: 0)
        let b = AlignedBuffer<Float>(count: outF, fill: 0)
        for i in 0..<x.count { x.pointer[i] = rng.float(-1, 1) }
        for i in 0..<w.count { w.pointer[i] = rng.float(-1, 1) }
        for i in 0..<b.count { b.pointer[i] = rng.float(-1, 1) }
        let n = batch * outF
        let expected = AlignedBuffer<Float>(count: n, fill: 0)
        FP32FullyConnectedReference.run(inFeatures: inF, outFeatures: outF, batch: batch, input: x.pointer,
                                        weights: w.pointer, bias: useBias ? b.pointer : nil, output: expected.pointer,
                                        outputMin: clamp.0, outputMax: clamp.1)
        var maxRef: Float = 0
        for i in 0..<n { maxRef = max(maxRef, abs(expected.pointer[i])) }
        for isa in KernelISA.supported {
            let out = AlignedBuffer<Float>(count: n, fill: .nan)
            FP32FullyConnected.run(inFeatures: inF, outFeatures: outF, batch: batch, input: x.pointer,
                                   weights: w.pointer, bias: useBias ? b.pointer : nil, output: out.pointer,
                                   outputMin: clamp.0, outputMax: clamp.1, isa: isa)
            var worst: Float = 0
            for i in 0..<n {
                let d = abs(out.pointer[i] - expected.pointer[i])
                if !(d <= worst) { worst = d.isNaN ? .infinity : d }
            }
            XCTAssertLessThanOrEqual(worst, 1e-4 * max(1, maxRef), "\(isa.name) \(inF)->\(outF) x\(batch)")
        }
    }

    func testRandomShapes() {
        var rng = SplitMix(seed: 3)
        for i in 0..<60 {
            check(inF: rng.int(1...300), outF: rng.int(1...37), batch: rng.int(1...3), seed: UInt64(i),
                  bias: i % 2 == 0, clamp: i % 3 == 0 ? (0, 6) : (-.infinity, .infinity))
        }
    }

    func testCanonicalG1() {
        let s = CanonicalLayers.g1
        check(inF: s.inFeatures, outF: s.outFeatures, batch: 1, seed: 4, bias: true, clamp: (-.infinity, .infinity))
    }
}
