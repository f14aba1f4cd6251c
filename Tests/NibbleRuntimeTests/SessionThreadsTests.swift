import Foundation
import XCTest
import NibbleCodec
import NibbleFormat
import NibbleKernels
@testable import NibbleRuntime

/// Sessions with intra-op threads (issue 5): outputs are bit-identical to one thread for any thread count,
/// on the models in Tests/c (fp32 with depthwise convs, int8, ternary, CAT-coded) and on single nodes whose
/// channel counts do not divide by the task count.
final class SessionThreadsTests: XCTestCase {
    static let modelsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("c")

    static func inputs(_ model: Model, seed: UInt64) -> [[Float]] {
        var rng = seed
        return (0..<model.inputCount).map { i in
            (0..<model.input(i).elementCount).map { _ in
                rng = rng &* 6364136223846793005 &+ 1442695040888963407
                return Float(Int(rng >> 40) % 2001 - 1000) / 400
            }
        }
    }

    /// Every output's bytes after two runs (the second on other inputs, so stale scratch would show).
    static func outputs(_ model: Model, threads: Int, codec: FeatureMapCodec = .none) throws -> [[UInt8]] {
        let session = try Session(model: model, codec: codec, threads: threads)
        var result: [[UInt8]] = []
        for seed in [1, 2] as [UInt64] {
            for (i, x) in inputs(model, seed: seed).enumerated() {
                try x.withUnsafeBufferPointer { try session.setInput(i, floats: $0) }
            }
            session.run()
            for o in 0..<model.outputCount { result.append(Array(session.output(o))) }
        }
        return result
    }

    func checkThreadCounts(_ model: Model, codec: FeatureMapCodec = .none, _ label: String) throws {
        let one = try Self.outputs(model, threads: 1, codec: codec)
        for threads in [0, 2, 3, 4] {
            XCTAssertEqual(try Self.outputs(model, threads: threads, codec: codec), one, "\(label): \(threads) threads vs 1")
        }
    }

    func testModelsMatchOneThreadBitForBit() throws {
        for name in ["mobilenetv3_block.nib", "mobilenetv3_block.int8.nib", "digits_cnn.ternary.nib", "tiny.nib"] {
            let bytes = try [UInt8](Data(contentsOf: Self.modelsDir.appendingPathComponent(name)))
            try checkThreadCounts(try Model(copying: bytes), name)
        }
    }

    func testCatCodedSessionMatchesOneThread() throws {
        let bytes = try [UInt8](Data(contentsOf: Self.modelsDir.appendingPathComponent("digits_cnn.ternary.cat.nib")))
        try checkThreadCounts(try Model(copying: bytes), codec: .cat, "digits_cnn.ternary.cat.nib (CAT)")
    }

    /// Bit-serial convs and FCs with output channels that are not a multiple of the 4-row tile or of the task count,
    /// and maps large enough to be split by output pixels (a count that is not a multiple of the 8-pixel blocks).
    func testBitSerialOddChannelCounts() throws {
        typealias Case = BitSerialStepTests.Case
        var cases: [(Case, String)] = []
        for outC in [1, 5, 7, 13] {
            cases.append((Case(outC: outC), "w2a2 conv outC \(outC)"))
            cases.append((Case(inC: 70, outC: outC, weightBits: 1, activationBits: 1, weightEncoding: .bipolar, activationEncoding: .bipolar, clamp: nil),
                          "w1a1 conv outC \(outC)"))
        }
        cases.append((Case(inC: 130, outC: 11, weightBits: 3, activationBits: 2, fc: true), "w3a2 fc outC 11"))
        cases.append((Case(inC: 70, h: 17, w: 15, outC: 7), "w2a2 conv 17x15 (pixel split)"))
        cases.append((Case(inC: 70, h: 17, w: 15, outC: 6, stride: 2, weightBits: 1, activationBits: 1, weightEncoding: .bipolar,
                           activationEncoding: .bipolar, clamp: nil), "w1a1 conv 17x15 stride 2"))
        cases.append((Case(inC: 33, h: 19, w: 23, outC: 5, weightBits: 1, activationBits: 1, weightEncoding: .bipolar,
                           activationEncoding: .bipolar, clamp: nil), "w1a1 conv 19x23 (pixel split)"))
        for (t, label) in cases {
            let (h, y, _, _) = try BitSerialStepTests.build(t)
            try checkThreadCounts(try h.model(outputs: [y]), label)
        }
    }

    /// fp32 dense, grouped and depthwise convs (3 channels: fewer than two per task), an FC, and pools, all with
    /// odd channel counts.
    func testFloatStepsWithOddChannelCounts() throws {
        func values(_ n: Int, _ k: Int) -> [Float] { (0..<n).map { Float(($0 * k) % 23) / 23 - 0.4 } }
        let conv: [Attribute] = [Attribute(.kernelShape, ints: [3, 3]), Attribute(.pads, ints: [1, 1, 1, 1])]
        var h = GraphHarness()
        let x = h.input("x", [1, 9, 11, 10])
        let dense = h.node(.conv, [x, h.constant("w", [7, 9, 3, 3], values(7 * 9 * 9, 7))], [1, 7, 11, 10], conv)
        let grouped = h.node(.conv, [x, h.constant("wg", [6, 3, 3, 3], values(6 * 27, 5)), h.constant("bg", [6], values(6, 3))],
                             [1, 6, 11, 10], conv + [Attribute(.group, ints: [3])])
        let narrow = h.node(.conv, [grouped, h.constant("wn", [3, 6, 1, 1], values(18, 11))], [1, 3, 11, 10],
                            [Attribute(.kernelShape, ints: [1, 1])])
        let depthwise = h.node(.conv, [narrow, h.constant("wd", [3, 1, 3, 3], values(27, 13))], [1, 3, 11, 10],
                               conv + [Attribute(.group, ints: [3])])
        let maxPool = h.node(.maxPool, [dense], [1, 7, 6, 5], [Attribute(.kernelShape, ints: [3, 3]), Attribute(.strides, ints: [2, 2]),
                                                               Attribute(.pads, ints: [1, 1, 1, 1])])
        let avgPool = h.node(.averagePool, [depthwise], [1, 3, 5, 5], [Attribute(.kernelShape, ints: [2, 2]), Attribute(.strides, ints: [2, 2])])
        let flat = h.node(.reshape, [maxPool], [1, 210])
        let fc = h.node(.fullyConnected, [flat, h.constant("wf", [13, 210], values(13 * 210, 17)), h.constant("bf", [13], values(13, 2))], [1, 13])
        let model = try h.model(outputs: [fc, avgPool])
        XCTAssertTrue(model.kernelNames.contains { $0.hasPrefix("fp32 depthwise conv") }, "\(model.kernelNames)")
        try checkThreadCounts(model, "fp32 graph")
    }

    /// int8 convs with few output channels and many pixels, which split by output pixels: stride 2 (im2col) and
    /// stride 1 (padded grid), with a pixel count that is not a multiple of the 16-pixel blocks.
    func testInt8ConvsSplitByPixels() throws {
        var h = GraphHarness()
        let x = h.input("x", [1, 3, 37, 35])
        func int8Conv(_ input: Int, inC: Int, outC: Int, k: Int, stride: Int, out: [Int]) -> Int {
            let w = h.add(TensorDesc(name: "w\(h.graph.tensors.count)", dtype: .int8, shape: [outC, inC, k, k], role: .constant),
                          (0..<(outC * inC * k * k)).map { UInt8(bitPattern: Int8(($0 * 37) % 255 - 127)) })
            let bias = h.constant("b\(h.graph.tensors.count)", [outC], (0..<outC).map { Float($0 % 5) / 10 - 0.2 })
            let scales = h.constant("s\(h.graph.tensors.count)", [outC], (0..<outC).map { Float($0 % 7 + 1) / 900 })
            let y = h.node(.conv, [input, w, bias, scales], out, [
                Attribute(.kernelShape, ints: [Int64(k), Int64(k)]), Attribute(.strides, ints: [Int64(stride), Int64(stride)]),
                Attribute(.pads, ints: [Int64(k / 2), Int64(k / 2), Int64(k / 2), Int64(k / 2)]),
                Attribute(.inputScale, floats: [0.02]), Attribute(.inputZeroPoint, ints: [120])])
            h.graph.nodes[h.graph.nodes.count - 1].precision = .int8
            return y
        }
        let stem = int8Conv(x, inC: 3, outC: 13, k: 7, stride: 2, out: [1, 13, 19, 18])
        let y = int8Conv(stem, inC: 13, outC: 9, k: 3, stride: 1, out: [1, 9, 19, 18])
        let model = try h.model(outputs: [y])
        XCTAssertTrue(model.kernelNames.allSatisfy { $0.hasPrefix("int8 conv") }, "\(model.kernelNames)")
        try checkThreadCounts(model, "int8 convs")
    }

    /// An int8 fully connected step, whose weight sums the model counts once at load, gives the reference kernel's
    /// bits at 1 and 3 threads (each task starts inside the sums), with a nonzero input zero point so the sums count.
    func testInt8FullyConnectedMatchesReference() throws {
        let inF = 300, outF = 37, zp: Int32 = 120, inputScale: Float = 0.02
        var h = GraphHarness()
        let x = h.input("x", [1, inF])
        let weights = (0..<(outF * inF)).map { Int8(($0 * 37) % 255 - 127) }
        let w = h.add(TensorDesc(name: "w", dtype: .int8, shape: [outF, inF], role: .constant), weights.map { UInt8(bitPattern: $0) })
        let bias = (0..<outF).map { Float($0 % 5) / 10 - 0.2 }, scales = (0..<outF).map { Float($0 % 7 + 1) / 900 }
        let y = h.node(.fullyConnected, [x, w, h.constant("b", [outF], bias), h.constant("s", [outF], scales)], [1, outF],
                       [Attribute(.inputScale, floats: [inputScale]), Attribute(.inputZeroPoint, ints: [Int64(zp)])])
        h.graph.nodes[h.graph.nodes.count - 1].precision = .int8
        let model = try h.model(outputs: [y])
        XCTAssertEqual(model.kernelNames.first?.hasPrefix("int8 fully connected"), true, "\(model.kernelNames)")
        for seed: UInt64 in [1, 2] {
            let input = Self.inputs(model, seed: seed)[0]
            var expected = [Float](repeating: 0, count: outF)
            Int8FullyConnectedReference.run(inFeatures: inF, outFeatures: outF, batch: 1, input: input, inputScale: inputScale,
                                            inputZeroPoint: zp, weights: weights, weightScales: scales, bias: bias,
                                            output: &expected, outputMin: -.infinity, outputMax: .infinity)
            let bytes = expected.withUnsafeBytes { Array($0) }
            for threads in [1, 3] {
                let session = try Session(model: model, threads: threads)
                try input.withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
                session.run()
                XCTAssertEqual(Array(session.output(0)), bytes, "seed \(seed), \(threads) threads")
            }
        }
    }

    /// Elementwise steps large enough to be split (>= 16 Ki values, a count not a multiple of 16 × tasks), same-shape
    /// and broadcast.
    func testLargeElementwiseSteps() throws {
        var h = GraphHarness()
        let shape = [1, 7, 50, 49]
        let x = h.input("x", shape)
        let r = h.node(.relu, [x], shape)
        let s = h.node(.sigmoid, [x], shape)
        let broadcast = h.node(.mul, [r, h.constant("c", [7, 1, 1], [0.5, -1, 2, 3, -0.25, 1.5, 7])], shape)
        let y = h.node(.sub, [broadcast, s], shape)
        let model = try h.model(outputs: [y])
        XCTAssertTrue(model.steps.allSatisfy { $0.splitsIntoTasks })
        try checkThreadCounts(model, "elementwise graph")
    }

    func testThreadCountAndScratch() throws {
        let bytes = try [UInt8](Data(contentsOf: Self.modelsDir.appendingPathComponent("mobilenetv3_block.nib")))
        let model = try Model(copying: bytes)
        let one = try Session(model: model, threads: 1)
        XCTAssertEqual(one.threads, 1)
        XCTAssertEqual(one.threadScratchBytes, 0)
        let three = try Session(model: model, threads: 3)
        XCTAssertEqual(three.threads, 3)
        XCTAssertEqual(three.threadScratchBytes, 2 * Layout.alignUp(model.taskScratchBytes))
        XCTAssertEqual(three.arenaUsed, one.arenaUsed, "per-thread scratch lives outside the arena")
        // A caller arena of the model's size works with threads too.
        let arena = UnsafeMutableRawBufferPointer.allocate(byteCount: model.arenaBytesForAllCodecs, alignment: Layout.alignment)
        defer { arena.deallocate() }
        XCTAssertEqual(try Session(model: model, arena: arena, threads: 2).threads, 2)
        XCTAssertThrowsError(try Session(model: model, threads: -1)) { e in
            XCTAssertTrue("\(e)".contains("threads -1 outside 0...\(Session.maxThreads)"), "\(e)")
        }
    }
}
