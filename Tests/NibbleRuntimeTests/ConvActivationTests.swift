import NibbleCodec
import NibbleFormat
@testable import NibbleRuntime
import XCTest

/// A Conv's `output_activation` (Swish, HardSwish after its clamp) gives the floats of the conv followed by the
/// activation node, fp32 and int8, split by channels or (int8 stem-like) by pixels; other ops and values are refused;
/// and with a codec the conv and its activation feed a depthwise conv through a line buffer.
final class ConvActivationTests: XCTestCase {
    /// x[1,4,H,W] → conv 3×3 pad 1 (4→outC), with `fused` as its output_activation, or followed by the node `separate`.
    private func model(outC: Int, height: Int, width: Int, int8: Bool, fused: Int64?, separate: OpType?, clamp: Bool) throws -> Model {
        var h = GraphHarness()
        var rng = SeededValues(state: 3)
        let x = h.input("x", [1, 4, height, width])
        var attributes = [Attribute(.pads, ints: [1, 1, 1, 1])]
        if clamp { attributes += [Attribute(.outputMin, floats: [-1]), Attribute(.outputMax, floats: [3])] }
        if let fused { attributes.append(Attribute(.outputActivation, ints: [fused])) }
        var inputs = [x]
        if int8 {
            inputs.append(h.add(TensorDesc(name: "w", dtype: .int8, shape: [outC, 4, 3, 3], role: .constant),
                                rng.next(outC * 36, 1).map { UInt8(bitPattern: Int8(($0 * 127).rounded())) }))
            inputs.append(h.constant("b", [outC], rng.next(outC, 0.5)))
            inputs.append(h.constant("s", [outC], (0..<outC).map { Float($0 % 5 + 1) / 400 }))
            attributes += [Attribute(.inputScale, floats: [0.02]), Attribute(.inputZeroPoint, ints: [128])]
        } else {
            inputs += [h.constant("w", [outC, 4, 3, 3], rng.next(outC * 36, 0.4)), h.constant("b", [outC], rng.next(outC, 0.5))]
        }
        var y = h.node(.conv, inputs, [1, outC, height, width], attributes)
        if int8 { h.graph.nodes[h.graph.nodes.count - 1].precision = .int8 }
        if let separate { y = h.node(separate, [y], [1, outC, height, width]) }
        return try h.model(outputs: [y])
    }

    private func run(_ m: Model, threads: Int, _ x: [Float]) throws -> [UInt32] {
        let s = try Session(model: m, threads: threads)
        try x.withUnsafeBufferPointer { try s.setInput(0, floats: $0) }
        s.run()
        return s.output(0).bindMemory(to: Float.self).map(\.bitPattern)
    }

    func testFusedActivationEqualsTheSeparateNode() throws {
        var rng = SeededValues(state: 11)
        for (code, op) in [(Int64(1), OpType.swish), (2, .hardSwish)] {
            for int8 in [false, true] {
                for clamp in [false, true] {
                    // 8 channels on 16×20 pixels: with 2 threads an int8 conv splits by pixels, an fp32 one by channels.
                    let label = "\(op.name) int8 \(int8) clamp \(clamp)"
                    let fused = try model(outC: 8, height: 16, width: 20, int8: int8, fused: code, separate: nil, clamp: clamp)
                    let twin = try model(outC: 8, height: 16, width: 20, int8: int8, fused: nil, separate: op, clamp: clamp)
                    XCTAssertEqual(fused.graph.nodes.count, 1)
                    let x = rng.next(4 * 16 * 20, 3)
                    for threads in [1, 2] {
                        XCTAssertEqual(try run(fused, threads: threads, x), try run(twin, threads: threads, x), "\(label) threads \(threads)")
                    }
                }
            }
        }
    }

    func testOutputActivationIsRefusedWhereNoStepAppliesIt() throws {
        XCTAssertThrowsError(try model(outC: 4, height: 5, width: 5, int8: false, fused: 3, separate: nil, clamp: false)) {
            XCTAssertTrue("\($0)".contains("output_activation"), "\($0)")
        }
        var h = GraphHarness()
        let x = h.input("x", [1, 4])
        let y = h.node(.fullyConnected, [x, h.constant("w", [2, 4], [1, 2, 3, 4, 5, 6, 7, 8])], [1, 2],
                       [Attribute(.outputActivation, ints: [1])])
        XCTAssertThrowsError(try h.model(outputs: [y])) { XCTAssertTrue("\($0)".contains("output_activation"), "\($0)") }
    }
}

extension CodecSessionTests {
    /// x[1,8,H,24] → e = Conv1x1 (8→24) with a fused Swish → d = depthwise Conv3x3 pad 1 → p = Conv1x1 (24→8) → GAP:
    /// the conv with its activation is a conv producer, so d reads e's rows through a float line buffer (e's map is
    /// never held), and the session equals the emulation bit for bit.
    func testAConvWithItsFusedActivationFeedsALineBuffer() throws {
        var h = GraphHarness()
        var rng = SeededValues(state: 19)
        let height = 40
        let x = h.input("x", [1, 8, height, 24])
        let e = h.node(.conv, [x, h.constant("we", [24, 8, 1, 1], rng.next(192, 0.5))], [1, 24, height, 24],
                       [Attribute(.outputActivation, ints: [1])])
        let d = h.node(.conv, [e, h.constant("wd", [24, 1, 3, 3], rng.next(216, 0.5))], [1, 24, height, 24],
                       [Attribute(.pads, ints: [1, 1, 1, 1]), Attribute(.group, ints: [24])])
        let p = h.node(.conv, [d, h.constant("wp", [8, 24, 1, 1], rng.next(192, 0.4))], [1, 8, height, 24])
        let y = h.node(.globalAveragePool, [p], [1, 8, 1, 1])
        let coded = [e, d, p]
        func input(_ seed: UInt64) -> [Float] { var g = SeededValues(state: seed); return g.next(8 * height * 24, 2) }
        let samples = try Self.samples(h, outputs: [y], coded: coded, inputs: (1...3).map { input($0) })
        for bits in [8, 4] {
            h.graph.codecTables = try coded.indices.map {
                var entry = try Self.entry(tensor: coded[$0], bits: bits, values: samples[$0], signed: samples[$0].contains { $0 < 0 })
                entry.expectedBytes = samples[$0].count / 3 * bits / 8
                return entry
            }
            let m = try h.model(outputs: [y])
            let pl = try XCTUnwrap(m.codecPlacement)
            XCTAssertGreaterThan(pl.bands[0]?.lineRows ?? 0, 0, "bits \(bits): the expansion with its Swish line-buffers the depthwise conv")
            XCTAssertNil(pl.codedIndex(of: e), "bits \(bits)")
            let raw = try Session(model: m), cat = try Session(model: m, codec: .cat)
            for seed in [5, 6] as [UInt64] {
                let xs = input(seed)
                XCTAssertEqual(try run(cat, xs).map(\.bitPattern), try emulate(pl, raw, xs).output.map(\.bitPattern), "bits \(bits) seed \(seed)")
            }
            XCTAssertEqual(cat.codecFailures, 0)
        }
    }
}
