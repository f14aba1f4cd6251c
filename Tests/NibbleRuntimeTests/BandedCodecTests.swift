import NibbleCodec
import NibbleFormat
@testable import NibbleRuntime
import XCTest

/// Row-band execution of coded maps (issue 6, "placement", `BandPlan`): convs (stride 2, padding, depthwise),
/// pools, elementwise steps and a residual add run band by band, bit for bit what the whole-tensor codec
/// computes (the raw model with each coded map quantized where it is made), with a lower planned peak.
extension CodecSessionTests {
    /// x[1,3,20,33] → c1 = Conv3x3 pad 1 (3→8) → r1 = Relu → c2 = Conv3x3 stride 2 pad 1 → dw = depthwise
    /// Conv3x3 pad 1 → a = c2 + dw (c2 live across dw) → m = MaxPool3x3 stride 1 pad 1 → p = AveragePool3x3
    /// stride 2 pad [1, 0, 1, 1] (count_include_pad 0) → h = HardSwish(p) · k (per-channel constant) → y = GlobalAveragePool.
    struct ConvFixture {
        var harness = GraphHarness()
        var coded: [Int] = []
        var output = 0
        init() {
            var rng = SeededValues(state: 5)
            func values(_ n: Int, _ scale: Float) -> [Float] { rng.next(n, scale) }
            let x = harness.input("x", [1, 3, 20, 33])
            let w1 = harness.constant("w1", [8, 3, 3, 3], values(8 * 27, 0.5)), b1 = harness.constant("b1", [8], values(8, 0.2))
            let pad1: [Attribute] = [Attribute(.pads, ints: [1, 1, 1, 1])]
            let c1 = harness.node(.conv, [x, w1, b1], [1, 8, 20, 33], pad1)
            let r1 = harness.node(.relu, [c1], [1, 8, 20, 33])
            let w2 = harness.constant("w2", [8, 8, 3, 3], values(8 * 72, 0.3))
            let c2 = harness.node(.conv, [r1, w2], [1, 8, 10, 17], pad1 + [Attribute(.strides, ints: [2, 2])])
            let wd = harness.constant("wd", [8, 1, 3, 3], values(72, 0.5))
            let dw = harness.node(.conv, [c2, wd], [1, 8, 10, 17], pad1 + [Attribute(.group, ints: [8])])
            let a = harness.node(.add, [c2, dw], [1, 8, 10, 17])
            let m = harness.node(.maxPool, [a], [1, 8, 10, 17], pad1 + [Attribute(.kernelShape, ints: [3, 3])])
            let p = harness.node(.averagePool, [m], [1, 8, 5, 8], [Attribute(.kernelShape, ints: [3, 3]), Attribute(.strides, ints: [2, 2]),
                                                                  Attribute(.pads, ints: [1, 0, 1, 1])])
            let hs = harness.node(.hardSwish, [p], [1, 8, 5, 8])
            let k = harness.constant("k", [1, 8, 1, 1], values(8, 1))
            let h = harness.node(.mul, [hs, k], [1, 8, 5, 8])
            output = harness.node(.globalAveragePool, [h], [1, 8, 1, 1])
            coded = [c1, r1, c2, dw, a, m, p, hs, h]
        }
        static let inputCount = 3 * 20 * 33
    }

    static func convInput(seed: UInt64) -> [Float] {
        var state = seed
        return (0..<ConvFixture.inputCount).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(state >> 40) % 4001 - 2000) / 1000
        }
    }

    func convModel(bits: Int, codedOnly: Set<Int>? = nil) throws -> (Model, ConvFixture) {
        var f = ConvFixture()
        let plain = try f.harness.model(outputs: [f.output])
        let session = try Session(model: plain)
        var values = [[Float]](repeating: [], count: f.coded.count)
        for seed in 1...3 {
            try Self.convInput(seed: UInt64(seed)).withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
            var seen = Set<Int>()
            session.run { n in
                for i in plain.graph.nodes[n].inputs {
                    if let k = f.coded.firstIndex(of: i), !seen.contains(i) { seen.insert(i); values[k] += session.tensorFloats(i)! }
                }
            }
        }
        f.harness.graph.codecTables = try f.coded.enumerated().compactMap { k, t in
            if let codedOnly, !codedOnly.contains(k) { return nil }
            return try Self.entry(tensor: t, bits: bits, values: values[k], signed: values[k].contains { $0 < 0 })
        }
        return (try f.harness.model(outputs: [f.output]), f)
    }

    /// Every conv, pool and elementwise node runs by bands; outputs equal the emulation bit for bit at 1 and 2
    /// threads, and the planned peak is below what whole-tensor buffers needed.
    func testBandedConvsPoolsAndAddsEqualTheEmulation() throws {
        for bits in [8, 5, 3] {
            let (m, f) = try convModel(bits: bits)
            let p = try XCTUnwrap(m.codecPlacement)
            XCTAssertEqual(p.bandedNodes, [0, 2, 3, 5, 6, 9], "every node, the global pool too, runs by bands, in its own step or folded")
            XCTAssertEqual(p.runsFolded.indices.filter { p.runsFolded[$0] }, [1, 4, 7, 8],
                           "the Relu, the Add, the HardSwish and its Mul run folded (the average pool does not line-buffer: the peak would not drop)")
            XCTAssertTrue(p.bands[m.graph.nodes.count - 1]!.reducesRows)
            XCTAssertGreaterThan(p.bands[0]!.bands.count, 3)
            XCTAssertGreaterThan(p.bands[2]!.bands.count, 1, "the stride-2 conv")
            let raw = try Session(model: m)
            for threads in [1, 2] {
                let cat = try Session(model: m, codec: .cat, threads: threads)
                for seed in [21, 22] as [UInt64] {
                    let x = Self.convInput(seed: seed)
                    let y = try run(cat, x)
                    let emulated = try emulate(p, raw, x).output
                    XCTAssertEqual(y.map(\.bitPattern), emulated.map(\.bitPattern), "bits \(bits) threads \(threads) seed \(seed)")
                }
                XCTAssertEqual(cat.codecFailures, 0)
                for (k, c) in p.coded.enumerated() {
                    XCTAssertGreaterThan(cat.compressedBytes(coded: k), c.codec.directoryBytes)
                    XCTAssertLessThanOrEqual(cat.compressedBytes(coded: k), c.codec.worstCaseBytes)
                }
            }
            // Whole-tensor placement needed the raw input and output of the widest step (c1's 8×20×33 output
            // with x's window, r1 in and out): bands keep a few rows of each.
            let widest = 2 * 8 * 20 * 33 * 4
            XCTAssertLessThan(p.plannedActivationBytes, widest, "bits \(bits)")
            XCTAssertLessThanOrEqual(p.expectedActivationBytes, p.plannedActivationBytes)
            _ = f
        }
    }

    /// An elementwise node that is the only reader of a banded node's output runs on that node's bands
    /// (`CodecPlacement.folds`): dw's output feeds only a = c2 + dw (the skip c2 exists before dw), p's only
    /// HardSwish(p). Those two maps are never held, coded or raw; the outputs are the emulation's without their
    /// quantization (`testBandedConvsPoolsAndAddsEqualTheEmulation`). Whether the peak drops depends on the sizes:
    /// the Add's output slot and skip window join dw's step, t's slot goes (measured on real nets in the docs).
    func testElementwiseConsumersFoldIntoTheirProducersBands() throws {
        for bits in [8, 4] {
            let (m, f) = try convModel(bits: bits)
            let p = try XCTUnwrap(m.codecPlacement)
            let unfolded = try oneTilePlacement(m, tallerBands: true, folding: false)
            XCTAssertEqual(unfolded.coded.map(\.tensor), f.coded)
            XCTAssertEqual(p.coded.map(\.tensor), f.coded.enumerated().filter { ![0, 3, 6, 7].contains($0.offset) }.map(\.element),
                           "c1's, dw's, p's and the HardSwish's outputs are folded away")
            XCTAssertEqual(unfolded.bandedNodes, Array(0..<m.graph.nodes.count))
            XCTAssertEqual(p.bands[3]?.folded.first?.node, 4)
            XCTAssertEqual(p.bands[6]?.folded.first?.node, 7)
            XCTAssertEqual(p.bands[6]?.folded.first?.folded.first?.node, 8, "the HardSwish's Mul on the same bands")
            // A folded node allocates nothing of its own; the Add reads its skip c2 as bytes (`BinaryStep.symbols`),
            // folded or not.
            XCTAssertFalse(p.live.contains { $0.stepBuffer && ($0.first == 4 || $0.first == 7) })
            let skip = try XCTUnwrap(p.bands[3]?.folded.first?.inputs.first { $0.tensor == f.coded[2] })
            XCTAssertTrue(skip.byteMapIsIdentity && skip.byteMap != nil, "the skip's window holds symbols")
            XCTAssertEqual(unfolded.bands[4]?.inputs.filter { $0.byteMap != nil }.count, 1, "one byte window for the unfolded Add")
            XCTAssertLessThanOrEqual(p.plannedActivationBytes, unfolded.plannedActivationBytes, "bits \(bits)")
            func planned(_ q: CodecPlacement, _ n: Int) -> Int {
                q.live.filter { $0.first <= n && n <= $0.last }.reduce(0) { $0 + ($1.coded >= 0 ? q.coded[$1.coded].codec.worstCaseBytes : $1.size) }
            }
            print("bits \(bits): planned bytes at dw and the Add \(max(planned(unfolded, 3), planned(unfolded, 4))) -> \(max(planned(p, 3), planned(p, 4))) B")
            // A consumer with an input made after its producer (the Add reading dw and a later map) is not folded:
            // covered by the structure, checked here on the ResNet-style order c2 → dw → a.
            XCTAssertFalse(p.runsFolded[3], "dw reads c2, which the stride-2 conv makes: dw itself is not an elementwise fold")
        }
    }

    /// Some maps coded, others not: banded nodes copy rows from uncoded inputs and into uncoded outputs.
    func testBandsBetweenCodedAndUncodedMaps() throws {
        let (m, _) = try convModel(bits: 4, codedOnly: [0, 3, 6])  // c1, dw, p
        let p = try XCTUnwrap(m.codecPlacement)
        XCTAssertFalse(p.bandedNodes.isEmpty)
        let raw = try Session(model: m), cat = try Session(model: m, codec: .cat)
        for seed in [31, 32] as [UInt64] {
            let x = Self.convInput(seed: seed)
            XCTAssertEqual(try run(cat, x).map(\.bitPattern), try emulate(p, raw, x).output.map(\.bitPattern), "seed \(seed)")
        }
        XCTAssertEqual(cat.codecFailures, 0)
    }

    /// int8 convs (padded-grid stride 1, im2col stride 2, depthwise) read their CAT inputs as bytes on their own
    /// input grid (`BandInput.byteMap`): windows of one byte per value, outputs bit for bit the emulation's.
    func testInt8ConvsReadCodedWindowsAsBytes() throws {
        var h = GraphHarness()
        var state: UInt64 = 9
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 40) }
        func int8Conv(_ input: Int, inC: Int, outC: Int, group: Int = 1, stride: Int, out: [Int], zp: Int64) -> Int {
            let w = h.add(TensorDesc(name: "w\(h.graph.tensors.count)", dtype: .int8, shape: [outC, inC / group, 3, 3], role: .constant),
                          (0..<(outC * inC / group * 9)).map { _ in UInt8(bitPattern: Int8(next() % 255 - 127)) })
            let bias = h.constant("b\(h.graph.tensors.count)", [outC], (0..<outC).map { _ in Float(next() % 200 - 100) / 100 })
            let scales = h.constant("s\(h.graph.tensors.count)", [outC], (0..<outC).map { _ in Float(next() % 7 + 1) / 2000 })
            let y = h.node(.conv, [input, w, bias, scales], out, [
                Attribute(.kernelShape, ints: [3, 3]), Attribute(.strides, ints: [Int64(stride), Int64(stride)]),
                Attribute(.pads, ints: [1, 1, 1, 1]), Attribute(.group, ints: [Int64(group)]),
                Attribute(.inputScale, floats: [0.03]), Attribute(.inputZeroPoint, ints: [zp])])
            h.graph.nodes[h.graph.nodes.count - 1].precision = .int8
            return y
        }
        let x = h.input("x", [1, 3, 20, 33])
        let c1 = int8Conv(x, inC: 3, outC: 8, stride: 1, out: [1, 8, 20, 33], zp: 128)
        let r1 = h.node(.relu, [c1], [1, 8, 20, 33])
        let c2 = int8Conv(r1, inC: 8, outC: 8, stride: 2, out: [1, 8, 10, 17], zp: 0)
        let dw = int8Conv(c2, inC: 8, outC: 8, group: 8, stride: 1, out: [1, 8, 10, 17], zp: 128)
        let output = h.node(.globalAveragePool, [dw], [1, 8, 1, 1])
        let coded = [c1, r1, c2, dw]
        let plain = try h.model(outputs: [output])
        let session = try Session(model: plain)
        var values = [[Float]](repeating: [], count: coded.count)
        for seed in 1...3 {
            try Self.convInput(seed: UInt64(seed)).withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
            session.run { n in for (k, t) in coded.enumerated() where plain.graph.nodes[n].outputs.contains(t) { values[k] += session.tensorFloats(t)! } }
        }
        // (8, true): r1 coded on c2's own input grid (step 0.03, zero point 0), so its byte map is the identity.
        for (bits, ownGrid) in [(8, false), (4, false), (8, true)] {
            h.graph.codecTables = try coded.enumerated().map { k, t in
                var e = try Self.entry(tensor: t, bits: bits, values: values[k], signed: values[k].contains { $0 < 0 })
                if ownGrid && t == r1 { e.step = 0.03; e.zeroPoint = 0 }
                return e
            }
            let m = try h.model(outputs: [output])
            let p = try XCTUnwrap(m.codecPlacement)
            XCTAssertEqual(try XCTUnwrap(p.bands[2]).inputs[0].byteMapIsIdentity, ownGrid)
            for conv in [2, 3] {  // c2 and dw: CAT inputs (c1 reads the uncoded model input)
                let plan = try XCTUnwrap(p.bands[conv])
                XCTAssertNotNil(plan.inputs[0].byteMap, "node \(conv)")
                XCTAssertEqual(plan.windowBytes(plan.inputs[0]), plan.inputs[0].channels * plan.windowRows * plan.inputs[0].width)
            }
            XCTAssertNil(try XCTUnwrap(p.bands[0]).inputs[0].byteMap, "an uncoded input stays float")
            let gap = try XCTUnwrap(p.bands[4], "the global average pool reads dw by its tile rows")
            XCTAssertTrue(gap.reducesRows)
            XCTAssertGreaterThan(gap.bands.count, 1)
            let raw = try Session(model: m)
            for threads in [1, 2] {
                let cat = try Session(model: m, codec: .cat, threads: threads)
                for seed in [51, 52] as [UInt64] {
                    let xs = Self.convInput(seed: seed)
                    XCTAssertEqual(try run(cat, xs).map(\.bitPattern), try emulate(p, raw, xs).output.map(\.bitPattern),
                                   "bits \(bits) threads \(threads) seed \(seed)")
                }
                XCTAssertEqual(cat.codecFailures, 0)
            }
        }
    }

    /// A slot overwritten from outside between steps is counted in `codecFailures` and read as zeros, never a trap
    /// or an overrun, in a banded consumer.
    func testCorruptSlotInABandedConsumer() throws {
        let (m, f) = try convModel(bits: 4)
        let p = try XCTUnwrap(m.codecPlacement)
        let cat = try Session(model: m, codec: .cat)
        let x = Self.convInput(seed: 41)
        try x.withUnsafeBufferPointer { try cat.setInput(0, floats: $0) }
        let r1 = try XCTUnwrap(p.codedIndex(of: f.coded[1]))
        cat.run { n in
            // Before c2 reads r1: damage r1's directory.
            if n == 2 { (cat.arena.baseAddress! + p.coded[r1].slotOffset).storeBytes(of: UInt32.max, toByteOffset: 0, as: UInt32.self) }
        }
        XCTAssertGreaterThan(cat.codecFailures, 0)
        XCTAssertTrue(Array(cat.output(0).bindMemory(to: Float.self)).allSatisfy { $0.isFinite })
    }
}
