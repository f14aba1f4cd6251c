import NibbleCodec
import NibbleFormat
@testable import NibbleRuntime
import XCTest

/// Channel concats by row bands (`BandPlan.make`, `.concat`) and chains of direct folds (`CodecPlacement.folds`): a
/// DenseNet layer's concat of its block's coded maps runs band by band, with its batch norm (scale, shift), ReLU and
/// 1×1 conv on the concat's bands, so neither the concat nor those maps exist whole, coded or raw.
extension CodecSessionTests {
    /// x[1,8,H,19] → c1 = Conv3x3 pad 1 (8→6) → k = Concat(x, c1) → s = k·scale → a = s + shift → r = Relu(a) → c2 =
    /// Conv1x1 (14→8) → c3 = Conv3x3 pad 1 (8→4) → k2 = Concat(x, c1, c3) → s2 = k2·scale2 → y = GlobalAveragePool(s2):
    /// two dense layers of a DenseNet block, each map read by the concats after it.
    private struct DenseBlock {
        var h = GraphHarness()
        let concat: Int, concat2: Int
        var coded: [Int] = []
        let y: Int
        let height: Int
        init(height: Int) {
            self.height = height
            var rng = SeededValues(state: 41)
            let w = 19
            let x = h.input("x", [1, 8, height, w])
            let pad: [Attribute] = [Attribute(.pads, ints: [1, 1, 1, 1])]
            let c1 = h.node(.conv, [x, h.constant("w1", [6, 8, 3, 3], rng.next(6 * 72, 0.3))], [1, 6, height, w], pad)
            let channels: [Attribute] = [Attribute(.axis, ints: [1])]
            let k = h.node(.concat, [x, c1], [1, 14, height, w], channels)
            concat = h.graph.nodes.count - 1
            let s = h.node(.mul, [k, h.constant("scale", [1, 14, 1, 1], rng.next(14, 1))], [1, 14, height, w])
            let a = h.node(.add, [s, h.constant("shift", [1, 14, 1, 1], rng.next(14, 0.5))], [1, 14, height, w])
            let r = h.node(.relu, [a], [1, 14, height, w])
            let c2 = h.node(.conv, [r, h.constant("w2", [8, 14, 1, 1], rng.next(8 * 14, 0.4))], [1, 8, height, w])
            let c3 = h.node(.conv, [c2, h.constant("w3", [4, 8, 3, 3], rng.next(4 * 72, 0.3))], [1, 4, height, w], pad)
            let k2 = h.node(.concat, [x, c1, c3], [1, 18, height, w], channels)
            concat2 = h.graph.nodes.count - 1
            let s2 = h.node(.mul, [k2, h.constant("scale2", [1, 18, 1, 1], rng.next(18, 1))], [1, 18, height, w])
            y = h.node(.globalAveragePool, [s2], [1, 18, 1, 1])
            coded = [c1, k, s, a, r, c2, c3, k2, s2]
        }

        func input(_ seed: UInt64) -> [Float] {
            var rng = SeededValues(state: seed)
            return rng.next(8 * height * 19, 2)
        }

        mutating func model(bits: Int) throws -> Model {
            let samples = try CodecSessionTests.samples(h, outputs: [y], coded: coded, inputs: (1...3).map { input($0) })
            h.graph.codecTables = try coded.indices.map {
                var entry = try CodecSessionTests.entry(tensor: coded[$0], bits: bits, values: samples[$0], signed: samples[$0].contains { $0 < 0 })
                entry.expectedBytes = samples[$0].count / 3 * bits / 8
                return entry
            }
            return try h.model(outputs: [y])
        }
    }

    func testConcatsRunByBandsWithTheirLayersBatchNormAndConvFolded() throws {
        for (bits, height) in [(8, 23), (4, 30)] {
            var block = DenseBlock(height: height)
            let m = try block.model(bits: bits)
            let p = try XCTUnwrap(m.codecPlacement)
            let label = "bits \(bits) height \(height)"
            let first = try XCTUnwrap(p.bands[block.concat], "the concat runs by bands: \(label)")
            XCTAssertEqual(first.inputs.map(\.tensor), m.graph.nodes[block.concat].inputs, label)
            var chain: [Int] = []
            var q = first.folded.first
            while let f = q {
                chain.append(f.node)
                q = f.folded.first
            }
            XCTAssertEqual(chain, Array(block.concat + 1...block.concat + 4), "scale, shift, ReLU and the 1×1 conv run on its bands: \(label)")
            for t in block.coded[1...4] { XCTAssertNil(p.codedIndex(of: t), "the concat, scale, shift and ReLU maps are never held: \(label)") }
            XCTAssertNotNil(p.codedIndex(of: block.coded[5]), label)
            XCTAssertEqual(p.bands[block.concat2]?.inputs.count, 3, label)
            XCTAssertEqual(p.bands[block.concat2]?.folded.first?.node, block.concat2 + 1, label)
            // A whole concat needed its output and its decoded inputs as floats: k2 alone is 18 channels of floats.
            XCTAssertLessThan(p.plannedActivationBytes, 2 * 4 * 18 * height * 19, label)
            let raw = try Session(model: m)
            for threads in [1, 2] {
                let cat = try Session(model: m, codec: .cat, threads: threads)
                for seed in [51, 52] as [UInt64] {
                    let x = block.input(seed)
                    XCTAssertEqual(try run(cat, x).map(\.bitPattern), try emulate(p, raw, x).output.map(\.bitPattern),
                                   "\(label) threads \(threads) seed \(seed)")
                }
                XCTAssertEqual(cat.codecFailures, 0, label)
            }
        }
    }

    /// A concat naming one map twice reads it through one window; a concat along the width runs whole. Both equal
    /// the emulation.
    func testConcatsOfARepeatedInputAndAlongTheWidth() throws {
        var h = GraphHarness()
        var rng = SeededValues(state: 43)
        let x = h.input("x", [1, 3, 17, 11])
        let c = h.node(.conv, [x, h.constant("w", [5, 3, 3, 3], rng.next(5 * 27, 0.4))], [1, 5, 17, 11], [Attribute(.pads, ints: [1, 1, 1, 1])])
        let twice = h.node(.concat, [c, c], [1, 10, 17, 11], [Attribute(.axis, ints: [1])])
        let r = h.node(.relu, [twice], [1, 10, 17, 11])
        let wide = h.node(.concat, [r, r], [1, 10, 17, 22], [Attribute(.axis, ints: [3])])
        let y = h.node(.globalAveragePool, [wide], [1, 10, 1, 1])
        let coded = [c, twice, r, wide]
        let inputs = (1...3).map { (s: UInt64) -> [Float] in var g = SeededValues(state: s); return g.next(3 * 17 * 11, 1) }
        let samples = try Self.samples(h, outputs: [y], coded: coded, inputs: inputs)
        h.graph.codecTables = try coded.indices.map {
            try Self.entry(tensor: coded[$0], bits: 6, values: samples[$0], signed: samples[$0].contains { $0 < 0 })
        }
        let m = try h.model(outputs: [y])
        let p = try XCTUnwrap(m.codecPlacement)
        XCTAssertEqual(p.bands[1]?.inputs.map(\.tensor), [c], "one window for the repeated input")
        XCTAssertNil(p.bands[3], "a concat along the width runs whole")
        let raw = try Session(model: m), cat = try Session(model: m, codec: .cat)
        for seed in [7, 8] as [UInt64] {
            var g = SeededValues(state: seed)
            let xs = g.next(3 * 17 * 11, 1)
            XCTAssertEqual(try run(cat, xs).map(\.bitPattern), try emulate(p, raw, xs).output.map(\.bitPattern), "seed \(seed)")
        }
        XCTAssertEqual(cat.codecFailures, 0)
    }
}
