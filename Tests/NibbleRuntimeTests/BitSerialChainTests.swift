import XCTest
import NibbleFormat
import NibbleKernels
@testable import NibbleRuntime

/// Bit-serial layers chained through packed tensors (Model.chainingBitSerial): a run gives the same bits as the
/// steps that keep every map as floats (what an observer run takes), at 1, 2 and 3 threads; a tensor read twice,
/// a graph output or a multi-bit consumer stays float.
final class BitSerialChainTests: XCTestCase {
    /// One bit-serial node reading `x` (shape [1, inC, h, w]) with random weights; returns its output tensor.
    static func conv(_ h: inout GraphHarness, _ x: Int, inC: Int, hw: (Int, Int), outC: Int, k: Int, stride: Int,
                     encoding: BitPlaneEncoding, bits: Int, step: Float, rng: inout SplitMix) -> (Int, (Int, Int)) {
        let pad = k / 2
        let out = ((hw.0 + 2 * pad - k) / stride + 1, (hw.1 + 2 * pad - k) / stride + 1)
        let wl = BitPlaneLayout.weights(outChannels: outC, inChannels: inC, kernelH: k, kernelW: k, encoding: .bipolar, bits: 1)
        let q = (0..<(outC * inC * k * k)).map { _ in Int8(rng.next() & 1 == 0 ? -1 : 1) }
        var words = [UInt64](repeating: 0, count: wl.wordCount)
        BitPacking.packWeights(values: q, outChannels: outC, layout: wl, into: &words)
        let wi = h.add(TensorDesc(name: "w\(h.graph.tensors.count)", dtype: .bits64, shape: [1, wl.vectors, wl.wordsPerVector], role: .constant),
                       words.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
        // Scales of both signs (one zero), so the packed bit rises with the sum in some channels and falls in others.
        let bi = h.constant("b\(h.graph.tensors.count)", [outC], (0..<outC).map { _ in Float(Int(rng.next() % 21) - 10) / 10 })
        let si = h.constant("s\(h.graph.tensors.count)", [outC], (0..<outC).map { o in o == 2 ? 0 : Float(Int(rng.next() % 41) - 20) / 400 })
        let attrs = [Attribute(.weightBits, ints: [1]), Attribute(.weightEncoding, ints: [Int64(BitPlaneEncoding.bipolar.rawValue)]),
                     Attribute(.activationBits, ints: [Int64(bits)]), Attribute(.activationEncoding, ints: [Int64(encoding.rawValue)]),
                     Attribute(.activationStep, floats: [step]),
                     Attribute(.kernelShape, ints: [Int64(k), Int64(k)]), Attribute(.strides, ints: [Int64(stride), Int64(stride)]),
                     Attribute(.pads, ints: [Int64(pad), Int64(pad), Int64(pad), Int64(pad)])]
        let y = h.node(.conv, [x, wi, bi, si], [1, outC, out.0, out.1], attrs)
        h.graph.nodes[h.graph.nodes.count - 1].precision = .bitSerial
        return (y, out)
    }

    /// x → a → b → c → Add(c, d) where d = conv(b'): a feeds only b (chained), b feeds only c (chained; b is also
    /// a consumer), c feeds the Add (float). A second branch reads one tensor twice (not chained).
    func testChainedRunEqualsFloatSteps() throws {
        for (encoding, bits) in [(BitPlaneEncoding.bipolar, 1), (.unsigned, 1)] {
            var rng = SplitMix(9)
            var h = GraphHarness()
            let x = h.input("x", [1, 70, 9, 11])
            let (a, sa) = Self.conv(&h, x, inC: 70, hw: (9, 11), outC: 130, k: 3, stride: 1, encoding: encoding, bits: bits, step: 0.25, rng: &rng)
            let (b, sb) = Self.conv(&h, a, inC: 130, hw: sa, outC: 33, k: 3, stride: 2, encoding: encoding, bits: bits, step: 0.5, rng: &rng)
            let (c, sc) = Self.conv(&h, b, inC: 33, hw: sb, outC: 64, k: 1, stride: 1, encoding: encoding, bits: bits, step: 0.3, rng: &rng)
            let (d, _) = Self.conv(&h, c, inC: 64, hw: sc, outC: 64, k: 3, stride: 1, encoding: encoding, bits: bits, step: 0.3, rng: &rng)
            let sum = h.node(.add, [c, d], [1, 64, sc.0, sc.1])
            let model = try h.model(outputs: [sum])
            // a → b and b → c are chained; c is read twice and stays float.
            let chained = model.chainedSteps.compactMap { step -> (Bool, Bool)? in
                if case .bitSerial(let s) = step { return (s.packsNext != nil, s.inputIsPacked) } else { return nil }
            }
            if KernelISA.current != .reference {
                XCTAssertEqual(chained.map { $0.0 }, [true, true, false, false], "\(encoding)")
                XCTAssertEqual(chained.map { $0.1 }, [false, true, true, false], "\(encoding)")
            }
            let input = (0..<(70 * 9 * 11)).map { _ in Float(Int(rng.next() % 2000) - 700) / 700 }
            var expected: [Float] = []
            for threads in [1, 2, 3] {
                let session = try Session(model: model, threads: threads)
                try input.withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
                session.run(observer: { _ in })   // every map as floats
                let floatSteps = Array(session.output(0).bindMemory(to: Float.self))
                session.run()
                let fast = Array(session.output(0).bindMemory(to: Float.self))
                if expected.isEmpty { expected = floatSteps }
                XCTAssertEqual(floatSteps.map(\.bitPattern), expected.map(\.bitPattern), "\(encoding) threads \(threads)")
                XCTAssertEqual(fast.map(\.bitPattern), expected.map(\.bitPattern), "\(encoding) threads \(threads)")
            }
            XCTAssertTrue(expected.contains { $0 != 0 }, "a degenerate output proves nothing")
        }
    }

    /// Residual Adds folded into the bit-serial epilogue (Model.foldingResidualAdds): a chained conv whose packed input
    /// may share bytes with the Add's output, the conv as either operand, ReLU and Clip clamps; a conv output that is
    /// also a graph output and a broadcast Add stay unfolded; the folded convs hand the next convs their packed input
    /// (Model.handingOffPackedInputs). The run equals the float steps at 1, 2 and 3 threads.
    func testResidualAddsFoldIntoTheConvBefore() throws {
        for (encoding, bits) in [(BitPlaneEncoding.bipolar, 1), (.unsigned, 1)] {
            var rng = SplitMix(17)
            var h = GraphHarness()
            let hw = (7, 9)
            let x = h.input("x", [1, 64, 7, 9])
            let (a, _) = Self.conv(&h, x, inC: 64, hw: hw, outC: 64, k: 3, stride: 1, encoding: encoding, bits: bits, step: 0.25, rng: &rng)
            let (b, _) = Self.conv(&h, a, inC: 64, hw: hw, outC: 64, k: 3, stride: 1, encoding: encoding, bits: bits, step: 0.5, rng: &rng)
            let s1 = h.node(.add, [b, x], [1, 64, 7, 9], [Attribute(.outputMin, floats: [0])])
            let (c, _) = Self.conv(&h, s1, inC: 64, hw: hw, outC: 64, k: 1, stride: 1, encoding: encoding, bits: bits, step: 0.3, rng: &rng)
            let s2 = h.node(.add, [s1, c], [1, 64, 7, 9], [Attribute(.outputMin, floats: [-0.5]), Attribute(.outputMax, floats: [0.75])])
            let (d, _) = Self.conv(&h, s2, inC: 64, hw: hw, outC: 64, k: 3, stride: 1, encoding: encoding, bits: bits, step: 0.3, rng: &rng)
            let s3 = h.node(.add, [d, s2], [1, 64, 7, 9])
            let (e, _) = Self.conv(&h, s3, inC: 64, hw: hw, outC: 1, k: 3, stride: 1, encoding: encoding, bits: bits, step: 0.3, rng: &rng)
            let s4 = h.node(.add, [e, s3], [1, 64, 7, 9])
            let model = try h.model(outputs: [s4, d, s2])
            let folded = model.chainedSteps.compactMap { step -> Bool? in
                if case .bitSerial(let s) = step { return s.residualAdd != nil } else { return nil }
            }
            let addsFolded = model.chainedSteps.compactMap { step -> Bool? in
                if case .binary(let s) = step { return s.isFolded } else { return nil }
            }
            if KernelISA.current != .reference {
                XCTAssertEqual(folded, [false, true, true, false, false], "\(encoding)")
                XCTAssertEqual(addsFolded, [true, true, false, false], "\(encoding)")
                // The plan puts s1 over a's bytes (a is dead after b): b copies its packed input first.
                if case .bitSerial(let bStep) = model.chainedSteps[1] { XCTAssertTrue(bStep.inputIsPacked && bStep.copiesPackedInput) }
                // b packs s1 for c, c (reading it) packs s2 for d in the other region; e reads an unfolded Add's output.
                let handoff = model.chainedSteps.compactMap { step -> (Int?, Int?)? in
                    if case .bitSerial(let s) = step { return (s.packsCopy?.scratchOffset, s.packedInputOffset) } else { return nil }
                }
                XCTAssertEqual(handoff.map { $0.0 != nil }, [false, true, true, false, false], "\(encoding)")
                XCTAssertEqual(handoff.map { $0.1 != nil }, [false, false, true, true, false], "\(encoding)")
                XCTAssertEqual(handoff[1].0, handoff[2].1)
                XCTAssertEqual(handoff[2].0, handoff[3].1)
                XCTAssertNotEqual(handoff[2].0, handoff[2].1)
            }
            let input = (0..<(64 * 7 * 9)).map { _ in Float(Int(rng.next() % 2000) - 700) / 700 }
            var expected: [[Float]] = []
            for threads in [1, 2, 3] {
                let session = try Session(model: model, threads: threads)
                try input.withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
                session.run(observer: { _ in })   // every step as its own node
                let floatSteps = (0..<3).map { Array(session.output($0).bindMemory(to: Float.self)) }
                session.run()
                let fast = (0..<3).map { Array(session.output($0).bindMemory(to: Float.self)) }
                if expected.isEmpty { expected = floatSteps }
                for o in 0..<3 {
                    XCTAssertEqual(floatSteps[o].map(\.bitPattern), expected[o].map(\.bitPattern), "\(encoding) threads \(threads)")
                    XCTAssertEqual(fast[o].map(\.bitPattern), expected[o].map(\.bitPattern), "\(encoding) threads \(threads)")
                }
            }
            XCTAssertTrue(expected[0].contains { $0 != 0 } && expected[2].contains { $0 == 0.75 } && expected[2].contains { $0 == -0.5 }
                          && expected[2].contains { $0 > -0.5 && $0 < 0.75 }, "a degenerate output proves nothing")
        }
    }

    /// A map read by the next conv and again three convs later: the late reader packs for itself, because the region
    /// the map's producer wrote is written again by the producer after next.
    func testHandOffReadersRunBeforeTheirRegionIsReused() throws {
        var rng = SplitMix(23)
        var h = GraphHarness()
        let x = h.input("x", [1, 40, 6, 7])
        func conv(_ input: Int, _ step: Float) -> Int {
            Self.conv(&h, input, inC: 40, hw: (6, 7), outC: 40, k: 3, stride: 1, encoding: .unsigned, bits: 1, step: step, rng: &rng).0
        }
        let t0 = conv(x, 0.2), t1 = conv(t0, 0.3), t2 = conv(t1, 0.4), t3 = conv(t2, 0.5), late = conv(t0, 0.3)
        let model = try h.model(outputs: [t1, t2, t3, late])
        let readsHandOff = model.chainedSteps.compactMap { step -> Bool? in
            if case .bitSerial(let s) = step { return s.packedInputOffset != nil } else { return nil }
        }
        if KernelISA.current != .reference { XCTAssertEqual(readsHandOff, [false, true, true, true, false]) }
        let input = (0..<(40 * 6 * 7)).map { _ in Float(Int(rng.next() % 2000) - 700) / 700 }
        let session = try Session(model: model)
        try input.withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
        session.run(observer: { _ in })
        let floatSteps = (0..<4).map { Array(session.output($0).bindMemory(to: Float.self)) }
        session.run()
        for o in 0..<4 {
            let fast = Array(session.output(o).bindMemory(to: Float.self))
            XCTAssertEqual(zip(fast, floatSteps[o]).filter { $0.bitPattern != $1.bitPattern }.count, 0, "output \(o)")
        }
        XCTAssertTrue(floatSteps[3].contains { $0 != 0 }, "a degenerate output proves nothing")
    }

    /// A two-bit consumer and a graph output are never chained.
    func testMultiBitConsumerAndGraphOutputStayFloat() throws {
        var rng = SplitMix(4)
        var h = GraphHarness()
        let x = h.input("x", [1, 8, 6, 6])
        let (a, sa) = Self.conv(&h, x, inC: 8, hw: (6, 6), outC: 16, k: 3, stride: 1, encoding: .unsigned, bits: 1, step: 0.5, rng: &rng)
        let (b, sb) = Self.conv(&h, a, inC: 16, hw: sa, outC: 16, k: 3, stride: 1, encoding: .unsigned, bits: 2, step: 0.5, rng: &rng)
        let (c, _) = Self.conv(&h, b, inC: 16, hw: sb, outC: 16, k: 1, stride: 1, encoding: .unsigned, bits: 1, step: 0.5, rng: &rng)
        let model = try h.model(outputs: [c, b])
        for step in model.chainedSteps {
            if case .bitSerial(let s) = step { XCTAssertNil(s.packsNext); XCTAssertFalse(s.inputIsPacked) }
        }
    }
}
