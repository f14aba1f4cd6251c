import NibbleCodec
import NibbleFormat
@testable import NibbleRuntime
import XCTest

/// Folded consumers (`CodecPlacement.folds`): which nodes fold and which must not, and bit-exact outputs when they do.
extension CodecSessionTests {
    /// x[1,4,12,10] → c1 = Conv3x3 pad 1 (4→8) → c2 = Conv3x3 pad 1 (c1) → d = Conv3x3 pad 1 (c2) → p = Conv1x1 (c1)
    /// → a = d + p → r = Conv1x1 (a) → g = Relu(r) → c3 = Conv3x3 pad 1 (g) → c4 = Conv1x1 (c3)
    /// → y = GlobalAveragePool(c4). Maps of 8×12×10 are two bands of 6 rows. Must not fold: c2 into d (a 3×3 band
    /// reads rows of the bands around it), d into a (a's other input p is made after d), g into c3. Folds: p into a,
    /// then r (a 1×1 conv) and g on the same bands (a chain of direct folds), c3 into c4 (a 1×1 conv on c3's two bands).
    func testFoldsOnlyWhereEveryOtherInputExistsAndRowsMatch() throws {
        var h = GraphHarness()
        var rng = SeededValues(state: 9)
        func values(_ n: Int, _ scale: Float) -> [Float] { rng.next(n, scale) }
        let s = [1, 8, 12, 10]
        let pad1 = [Attribute(.pads, ints: [1, 1, 1, 1])]
        let x = h.input("x", [1, 4, 12, 10])
        let c1 = h.node(.conv, [x, h.constant("w1", [8, 4, 3, 3], values(288, 0.4))], s, pad1)
        let c2 = h.node(.conv, [c1, h.constant("w2", [8, 8, 3, 3], values(576, 0.3))], s, pad1)
        let d = h.node(.conv, [c2, h.constant("wd", [8, 8, 3, 3], values(576, 0.3))], s, pad1)
        let p = h.node(.conv, [c1, h.constant("wp", [8, 8, 1, 1], values(64, 0.5))], s)
        let a = h.node(.add, [d, p], s)
        let r = h.node(.conv, [a, h.constant("wr", [8, 8, 1, 1], values(64, 0.5)), h.constant("br", [8], values(8, 0.2))], s)
        let g = h.node(.relu, [r], s)
        let c3 = h.node(.conv, [g, h.constant("w3", [8, 8, 3, 3], values(576, 0.3))], s, pad1)
        let c4 = h.node(.conv, [c3, h.constant("w4", [8, 8, 1, 1], values(64, 0.5))], s)
        let y = h.node(.globalAveragePool, [c4], [1, 8, 1, 1])
        let coded = [c1, c2, d, p, a, r, g, c3, c4]
        func input(_ seed: UInt64) -> [Float] {
            var st = seed
            return (0..<(4 * 12 * 10)).map { _ in
                st = st &* 6364136223846793005 &+ 1442695040888963407
                return Float(Int(st >> 40) % 4001 - 2000) / 1000
            }
        }
        let plain = try h.model(outputs: [y])
        let raw = try Session(model: plain)
        var samples = [[Float]](repeating: [], count: coded.count)
        for seed in 1...3 as ClosedRange<UInt64> {
            try input(seed).withUnsafeBufferPointer { try raw.setInput(0, floats: $0) }
            var seen = Set<Int>()
            raw.run { n in
                for i in plain.graph.nodes[n].inputs {
                    if let k = coded.firstIndex(of: i), !seen.contains(i) { seen.insert(i); samples[k] += raw.tensorFloats(i)! }
                }
            }
        }
        for bits in [8, 4] {
            var hb = h
            hb.graph.codecTables = try coded.indices.map {
                try Self.entry(tensor: coded[$0], bits: bits, values: samples[$0], signed: samples[$0].contains { $0 < 0 })
            }
            let m = try hb.model(outputs: [y])
            let pl = try XCTUnwrap(m.codecPlacement)
            // With chains, p → a → r → g run in p's step; without, a folds into p and g into r. The session keeps the
            // placement with the lower peak; both compute the same.
            let tables = pl.coded.map { (tensor: $0.tensor, codec: $0.codec, expectedBytes: $0.expectedBytes) }
            let chained = CodecPlacement.folds(graph: m.graph, codecs: tables, lineBuffers: false)
            XCTAssertEqual(chained.indices.filter { chained[$0] >= 0 }.map { chained[$0] }, [4, 5, 6, 8], "bits \(bits)")
            let unchained = CodecPlacement.folds(graph: m.graph, codecs: tables, lineBuffers: false, chains: false)
            XCTAssertEqual(unchained.indices.filter { unchained[$0] >= 0 }.map { unchained[$0] }, [4, 6, 8], "bits \(bits)")
            let folded = pl.runsFolded.indices.filter { pl.runsFolded[$0] }
            XCTAssertTrue(folded == [4, 5, 6, 8] || folded == [4, 6, 8], "bits \(bits): \(folded)")
            XCTAssertEqual(pl.coded.map(\.tensor), folded.count == 4 ? [c1, c2, d, g, c4] : [c1, c2, d, a, g, c4], "p, r and c3 (and a, chained) are folded away")
            XCTAssertEqual(pl.bands[7]?.folded.first?.bands.count, 2, "c4 runs on c3's two bands")
            XCTAssertEqual(pl.bands[7]?.folded.first?.inPlaceInput, -1, "a conv consumer writes its own band buffer")
            let unfoldedRaw = try Session(model: m)
            for threads in [1, 2] {
                let cat = try Session(model: m, codec: .cat, threads: threads)
                for seed in [41, 42] as [UInt64] {
                    let xs = input(seed)
                    XCTAssertEqual(try run(cat, xs).map(\.bitPattern), try emulate(pl, unfoldedRaw, xs).output.map(\.bitPattern),
                                   "bits \(bits) threads \(threads) seed \(seed)")
                }
                XCTAssertEqual(cat.codecFailures, 0)
            }
        }
    }
}
