import NibbleCodec
import NibbleFormat
@testable import NibbleRuntime
import XCTest

/// Line-buffered consumers (`BandPlan.lineRows`): an inverted residual's expansion → depthwise → projection runs in
/// the expansion's step, its depthwise conv reading the expansion's rows from a ring of a few byte rows; a conv's
/// pool (or an fp32 depthwise conv) reads its rows from a ring of float rows.
extension CodecSessionTests {
    /// x[1,16,H,32] → e = int8 Conv1x1 (16→48, ReLU6 clamp) → d = int8 depthwise Conv3x3 pad 1 (stride s) → p = int8
    /// Conv1x1 (48→16) [→ a = p + x when s = 1] → y = GlobalAveragePool. The expansion map e is the largest; with a
    /// line buffer it never exists, and d's output (folded into p) neither. One-row tiles, as on real maps (a
    /// 512-value tile of a narrow map is many rows, and its bands as tall), and tall enough that the whole expansion
    /// map costs more than the line-buffered step's windows and one-row float bands (`CodecPlacement.init`).
    private func invertedResidual(stride s: Int, height: Int) -> (GraphHarness, x: Int, e: Int, d: Int, p: Int, a: Int, y: Int) {
        var h = GraphHarness()
        var state: UInt64 = 17
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 40) }
        func int8Conv(_ input: Int, inC: Int, outC: Int, k: Int, group: Int = 1, stride: Int, out: [Int], zp: Int64, clip: Bool) -> Int {
            let w = h.add(TensorDesc(name: "w\(h.graph.tensors.count)", dtype: .int8, shape: [outC, inC / group, k, k], role: .constant),
                          (0..<(outC * inC / group * k * k)).map { _ in UInt8(bitPattern: Int8(next() % 255 - 127)) })
            let bias = h.constant("b\(h.graph.tensors.count)", [outC], (0..<outC).map { _ in Float(next() % 200 - 100) / 100 })
            let scales = h.constant("s\(h.graph.tensors.count)", [outC], (0..<outC).map { _ in Float(next() % 7 + 1) / 1000 })
            var attributes = [Attribute(.kernelShape, ints: [Int64(k), Int64(k)]), Attribute(.strides, ints: [Int64(stride), Int64(stride)]),
                              Attribute(.pads, ints: Array(repeating: Int64(k / 2), count: 4)), Attribute(.group, ints: [Int64(group)]),
                              Attribute(.inputScale, floats: [0.04]), Attribute(.inputZeroPoint, ints: [zp])]
            if clip { attributes += [Attribute(.outputMin, floats: [0]), Attribute(.outputMax, floats: [6])] }
            let y = h.node(.conv, [input, w, bias, scales], out, attributes)
            h.graph.nodes[h.graph.nodes.count - 1].precision = .int8
            return y
        }
        let w = 32, oh = (height - 1) / s + 1, ow = (w - 1) / s + 1
        let x = h.input("x", [1, 16, height, w])
        let e = int8Conv(x, inC: 16, outC: 48, k: 1, stride: 1, out: [1, 48, height, w], zp: 128, clip: true)
        let d = int8Conv(e, inC: 48, outC: 48, k: 3, group: 48, stride: s, out: [1, 48, oh, ow], zp: 0, clip: true)
        let p = int8Conv(d, inC: 48, outC: 16, k: 1, stride: 1, out: [1, 16, oh, ow], zp: 0, clip: false)
        let a = s == 1 ? h.node(.add, [p, x], [1, 16, oh, ow]) : p
        let y = h.node(.globalAveragePool, [a], [1, 16, 1, 1])
        return (h, x, e, d, p, a, y)
    }

    /// Each `coded` map's values over runs of `h`'s model without codec tables on `inputs`, as a calibration sees them.
    static func samples(_ h: GraphHarness, outputs: [Int], coded: [Int], inputs: [[Float]]) throws -> [[Float]] {
        let plain = try h.model(outputs: outputs)
        let raw = try Session(model: plain)
        var samples = [[Float]](repeating: [], count: coded.count)
        for x in inputs {
            try x.withUnsafeBufferPointer { try raw.setInput(0, floats: $0) }
            raw.run { n in for (k, t) in coded.enumerated() where plain.graph.nodes[n].outputs.contains(t) { samples[k] += raw.tensorFloats(t)! } }
        }
        return samples
    }

    static func residualInput(_ seed: UInt64, height: Int) -> [Float] {
        var st = seed
        return (0..<(16 * height * 32)).map { _ in
            st = st &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(st >> 40) % 4001 - 2000) / 1000
        }
    }

    func testInvertedResidualRunsInTheExpansionsStepThroughALineBuffer() throws {
        for (s, height) in [(1, 40), (2, 41)] {
            let net = invertedResidual(stride: s, height: height)
            var h = net.0
            let (e, d, p, a, y) = (net.e, net.d, net.p, net.a, net.y)
            let coded = s == 1 ? [e, d, p, a] : [e, d, p]
            let samples = try Self.samples(h, outputs: [y], coded: coded, inputs: (1...3).map { Self.residualInput(UInt64($0), height: height) })
            // With a table for e (quantized on its grid on the way into the ring) and without (on d's own grid).
            for (bits, eCoded) in [(8, true), (4, true), (4, false)] {
                h.graph.codecTables = try coded.indices.filter { eCoded || coded[$0] != e }.map {
                    var entry = try Self.entry(tensor: coded[$0], bits: bits, values: samples[$0], signed: samples[$0].contains { $0 < 0 })
                    entry.expectedBytes = samples[$0].count / 3 * bits / 8  // values·bits/8 per sample: the choice sees real sizes
                    return entry
                }
                let m = try h.model(outputs: [y])
                let pl = try XCTUnwrap(m.codecPlacement)
                let label = "stride \(s) height \(height) bits \(bits) e coded \(eCoded)"
                let expansion = try XCTUnwrap(pl.bands[0], label)
                XCTAssertGreaterThan(expansion.lineRows, 0, label)
                XCTAssertLessThanOrEqual(expansion.lineRows, try XCTUnwrap(expansion.folded.first).windowRows + expansion.bandRows, label)
                XCTAssertEqual(expansion.folded.first?.node, 1, label)
                XCTAssertEqual(expansion.folded.first?.folded.first?.node, 2, "the projection runs on the depthwise conv's bands")
                XCTAssertEqual(pl.lineCodec(of: e) != nil, eCoded, label)
                XCTAssertNil(pl.codedIndex(of: e), "no slot for the expansion")
                XCTAssertNil(pl.codedIndex(of: d), "nor for the depthwise output")
                // With chains, the residual Add (stride 1) runs on the projection's bands too, and p is never held; the
                // session keeps that placement unless the one without chains has the lower peak.
                let addFolded = pl.runsFolded[3] && s == 1
                XCTAssertEqual(pl.codedIndex(of: p) == nil, addFolded, label)
                XCTAssertEqual(expansion.folded.first?.folded.first?.folded.first?.node, addFolded ? 3 : nil, label)
                XCTAssertNotNil(pl.codedIndex(of: a), label)
                XCTAssertEqual(Array(pl.runsFolded.prefix(3)), [false, true, true], label)
                if s == 1 {
                    let tables = pl.coded.map { (tensor: $0.tensor, codec: $0.codec, expectedBytes: $0.expectedBytes) }
                    XCTAssertEqual(CodecPlacement.folds(graph: m.graph, codecs: tables)[2], 3, "with chains the Add folds: \(label)")
                }
                let unfolded = try Session(model: m)
                for (threads, seeds) in [(1, [61, 62]), (3, [63])] as [(Int, [UInt64])] {
                    let cat = try Session(model: m, codec: .cat, threads: threads)
                    for seed in seeds {
                        let xs = Self.residualInput(seed, height: height)
                        XCTAssertEqual(try run(cat, xs).map(\.bitPattern), try emulate(pl, unfolded, xs).output.map(\.bitPattern),
                                       "\(label) threads \(threads) seed \(seed)")
                    }
                    XCTAssertEqual(cat.codecFailures, 0, label)
                }
                // The placement without line buffers holds e coded; both compute the same (an uncoded e is exact).
                var tables = pl.coded.map { (tensor: $0.tensor, codec: $0.codec, expectedBytes: $0.expectedBytes) }
                if eCoded { tables.append((tensor: e, codec: MapCodec.cat(try XCTUnwrap(pl.lineCodec(of: e))), expectedBytes: 0)) }
                let without = CodecPlacement(graph: m.graph, codecs: tables, kernelScratchBytes: 0, lineBuffers: false)
                XCTAssertTrue(without.bands.allSatisfy { ($0?.lineRows ?? 0) == 0 }, label)
                XCTAssertEqual(without.codedIndex(of: e) != nil, eCoded, label)
            }
        }
    }

    /// x → c1 = int8 Conv3x3 → j = int8 Conv1x1 (x) → c2 = int8 Conv3x3 (c1) → a = c2 + j → GAP: c2 line-buffers c1,
    /// but a cannot join that chain (its other input j is made after c1), while without the line buffer it folds
    /// into c2. The placement must not mix the two: the session equals the emulation whichever it keeps.
    func testAChainFoldsOnlyConsumersWhoseInputsExistBeforeItsProducer() throws {
        var h = GraphHarness()
        var state: UInt64 = 23
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 40) }
        func int8Conv(_ input: Int, k: Int, zp: Int64) -> Int {
            let w = h.add(TensorDesc(name: "w\(h.graph.tensors.count)", dtype: .int8, shape: [16, 16, k, k], role: .constant),
                          (0..<(256 * k * k)).map { _ in UInt8(bitPattern: Int8(next() % 255 - 127)) })
            let bias = h.constant("b\(h.graph.tensors.count)", [16], (0..<16).map { _ in Float(next() % 200 - 100) / 100 })
            let scales = h.constant("s\(h.graph.tensors.count)", [16], (0..<16).map { _ in Float(next() % 7 + 1) / 2000 })
            let y = h.node(.conv, [input, w, bias, scales], [1, 16, 40, 32], [
                Attribute(.kernelShape, ints: [Int64(k), Int64(k)]), Attribute(.pads, ints: Array(repeating: Int64(k / 2), count: 4)),
                Attribute(.inputScale, floats: [0.04]), Attribute(.inputZeroPoint, ints: [zp]),
                Attribute(.outputMin, floats: [0]), Attribute(.outputMax, floats: [6])])
            h.graph.nodes[h.graph.nodes.count - 1].precision = .int8
            return y
        }
        let x = h.input("x", [1, 16, 40, 32])
        let c1 = int8Conv(x, k: 3, zp: 128), j = int8Conv(x, k: 1, zp: 128), c2 = int8Conv(c1, k: 3, zp: 0)
        let a = h.node(.add, [c2, j], [1, 16, 40, 32])
        let y = h.node(.globalAveragePool, [a], [1, 16, 1, 1])
        let coded = [c1, j, c2, a]
        let samples = try Self.samples(h, outputs: [y], coded: coded, inputs: (1...2).map { Self.residualInput(UInt64($0), height: 40) })
        h.graph.codecTables = try coded.indices.map {
            var entry = try Self.entry(tensor: coded[$0], bits: 4, values: samples[$0], signed: false)
            entry.expectedBytes = samples[$0].count / 2 * 4 / 8
            return entry
        }
        let m = try h.model(outputs: [y])
        let pl = try XCTUnwrap(m.codecPlacement)
        XCTAssertGreaterThan(try XCTUnwrap(pl.bands[0]).lineRows, 0, "c1 → c2 line-buffered")
        XCTAssertNil(pl.bands[0]?.folded.first?.folded.first, "a is not in c1's chain")
        XCTAssertFalse(pl.isFolded(3), "nor folded into c2, which runs in c1's step")
        let cat = try Session(model: m, codec: .cat)
        for seed in [71, 72] as [UInt64] {
            let xs = Self.residualInput(seed, height: 40)
            XCTAssertEqual(try run(cat, xs).map(\.bitPattern), try emulate(pl, try Session(model: m), xs).output.map(\.bitPattern), "seed \(seed)")
        }
        XCTAssertEqual(cat.codecFailures, 0)
    }

    /// What reads the conv's output in `convThenWindows`.
    enum WindowReader { case maxPool, averagePool, depthwise, conv }

    /// x[1,8,H,30] → c = fp32 Conv3x3 pad 1 (8→16, ReLU) → m = `reader`: MaxPool3x3 stride 2 pad 1, AveragePool2x2
    /// stride 2, an fp32 depthwise Conv3x3 stride 2 pad 1, or an fp32 Conv3x3 stride 2 pad 1 → k = fp32 Conv1x1 → y =
    /// GlobalAveragePool: a stem's conv and pool, or an inverted residual's expansion and depthwise conv. The pools
    /// and the depthwise conv read c through a line buffer of float rows (through c's CAT grid when c has a table),
    /// so c is never held, and k runs on their bands; a dense fp32 conv reading c would not.
    private func convThenWindows(_ reader: WindowReader, height: Int) -> (GraphHarness, c: Int, m: Int, k: Int, y: Int) {
        var h = GraphHarness()
        var rng = SeededValues(state: 29)
        func values(_ n: Int, _ scale: Float) -> [Float] { rng.next(n, scale) }
        let x = h.input("x", [1, 8, height, 30])
        let w1 = h.constant("w1", [16, 8, 3, 3], values(16 * 72, 0.3)), b1 = h.constant("b1", [16], values(16, 0.2))
        let c = h.node(.conv, [x, w1, b1], [1, 16, height, 30], [Attribute(.pads, ints: [1, 1, 1, 1]), Attribute(.outputMin, floats: [0])])
        let oh = reader == .averagePool ? height / 2 : (height - 1) / 2 + 1
        let s2: [Attribute] = [Attribute(.strides, ints: [2, 2]), Attribute(.pads, ints: [1, 1, 1, 1])]
        let m: Int
        switch reader {
        case .conv:
            m = h.node(.conv, [c, h.constant("wm", [16, 16, 3, 3], values(16 * 144, 0.2))], [1, 16, oh, 15], s2)
        case .depthwise:
            m = h.node(.conv, [c, h.constant("wm", [16, 1, 3, 3], values(144, 0.5))], [1, 16, oh, 15],
                       s2 + [Attribute(.group, ints: [16])])
        case .maxPool:
            m = h.node(.maxPool, [c], [1, 16, oh, 15], s2 + [Attribute(.kernelShape, ints: [3, 3])])
        case .averagePool:
            m = h.node(.averagePool, [c], [1, 16, oh, 15], [Attribute(.kernelShape, ints: [2, 2]), Attribute(.strides, ints: [2, 2])])
        }
        let w2 = h.constant("w2", [16, 16, 1, 1], values(256, 0.5))
        let k = h.node(.conv, [m, w2], [1, 16, oh, 15])
        let y = h.node(.globalAveragePool, [k], [1, 16, 1, 1])
        return (h, c, m, k, y)
    }

    func testPoolsAndFP32DepthwiseConvsReadTheirProducerThroughAFloatLineBuffer() throws {
        for (reader, height) in [(WindowReader.maxPool, 41), (.averagePool, 40), (.depthwise, 41)] {
            let net = convThenWindows(reader, height: height)
            var h = net.0
            let coded = [net.c, net.m, net.k]
            let samples = try Self.samples(h, outputs: [net.y], coded: coded, inputs: (1...3).map { Self.poolInput(UInt64($0), height: height) })
            for (bits, cCoded) in [(8, true), (4, true), (4, false)] {
                h.graph.codecTables = try coded.indices.filter { cCoded || coded[$0] != net.c }.map {
                    var entry = try Self.entry(tensor: coded[$0], bits: bits, values: samples[$0], signed: samples[$0].contains { $0 < 0 })
                    entry.expectedBytes = samples[$0].count / 3 * bits / 8
                    return entry
                }
                let m = try h.model(outputs: [net.y])
                let pl = try XCTUnwrap(m.codecPlacement)
                let label = "\(reader) height \(height) bits \(bits) c coded \(cCoded)"
                let conv = try XCTUnwrap(pl.bands[0], label)
                XCTAssertGreaterThan(conv.lineRows, 0, label)
                XCTAssertEqual(conv.bands.count, height, "one-row bands: \(label)")
                let consumer = try XCTUnwrap(conv.folded.first, label)
                XCTAssertEqual(consumer.node, 1, label)
                XCTAssertNil(consumer.inputs[0].byteMap, "a float window: \(label)")
                XCTAssertEqual(pl.lineCodec(of: net.c) != nil, cCoded, label)
                XCTAssertNil(pl.codedIndex(of: net.c), "no slot for the conv's output: \(label)")
                XCTAssertEqual(consumer.folded.first?.node, 2, "the 1×1 conv runs on the reader's bands: \(label)")
                XCTAssertNil(pl.codedIndex(of: net.m), label)
                XCTAssertNotNil(pl.codedIndex(of: net.k), label)
                XCTAssertEqual(Array(pl.runsFolded.prefix(3)), [false, true, true], label)
                for seed in [41, 42] as [UInt64] {
                    try assertCatSessionsMatchTheEmulation(m, input: Self.poolInput(seed, height: height), "\(label) seed \(seed)")
                }
            }
        }
    }

    /// A dense fp32 conv reading more rows gets no line buffer: its producer's one-row bands would run the conv a row
    /// at a time against all of its weights (`BandPlan.readsLineBuffer`).
    func testDenseFP32ConvsReadTheirInputWithoutALineBuffer() throws {
        let net = convThenWindows(.conv, height: 41)
        var h = net.0
        let coded = [net.c, net.m, net.k]
        let samples = try Self.samples(h, outputs: [net.y], coded: coded, inputs: [Self.poolInput(1, height: 41)])
        h.graph.codecTables = try coded.indices.map {
            var entry = try Self.entry(tensor: coded[$0], bits: 4, values: samples[$0], signed: samples[$0].contains { $0 < 0 })
            entry.expectedBytes = samples[$0].count * 4 / 8
            return entry
        }
        let pl = try XCTUnwrap(try h.model(outputs: [net.y]).codecPlacement)
        XCTAssertEqual(pl.bands[0]?.lineRows ?? 0, 0)
        XCTAssertNotNil(pl.codedIndex(of: net.c), "the conv's output is held coded")
        XCTAssertFalse(pl.runsFolded[1])
    }

    /// x → c = fp32 Conv3x3 → s = Sigmoid(c) → e = c · s (Swish, as EfficientNet exports it) → fp32 depthwise Conv3x3
    /// stride 2 → GlobalAveragePool: the depthwise conv's producer is the multiply, whose one-row bands would decode
    /// each multi-row tile of c and s once per row, so it gets no float line buffer (`BandPlan.make`).
    func testElementwiseProducersFeedNoFloatLineBuffer() throws {
        var h = GraphHarness()
        var rng = SeededValues(state: 31)
        let x = h.input("x", [1, 8, 81, 30])
        let c = h.node(.conv, [x, h.constant("w", [16, 8, 3, 3], rng.next(16 * 72, 0.3))], [1, 16, 81, 30],
                       [Attribute(.pads, ints: [1, 1, 1, 1])])
        let sig = h.node(.sigmoid, [c], [1, 16, 81, 30])
        let e = h.node(.mul, [c, sig], [1, 16, 81, 30])
        let m = h.node(.conv, [e, h.constant("wd", [16, 1, 3, 3], rng.next(144, 0.5))], [1, 16, 41, 15],
                       [Attribute(.strides, ints: [2, 2]), Attribute(.pads, ints: [1, 1, 1, 1]), Attribute(.group, ints: [16])])
        let y = h.node(.globalAveragePool, [m], [1, 16, 1, 1])
        let coded = [c, sig, e, m]
        let samples = try Self.samples(h, outputs: [y], coded: coded, inputs: [Self.poolInput(1, height: 81)])
        h.graph.codecTables = try coded.indices.map {
            var entry = try Self.entry(tensor: coded[$0], bits: 8, values: samples[$0], signed: samples[$0].contains { $0 < 0 })
            entry.expectedBytes = samples[$0].count
            return entry
        }
        let model = try h.model(outputs: [y])
        let pl = try XCTUnwrap(model.codecPlacement)
        XCTAssertTrue(pl.bands.allSatisfy { ($0?.lineRows ?? 0) == 0 }, "no line buffer")
        XCTAssertNotNil(pl.codedIndex(of: e), "the multiply's output is held coded")
        try assertCatSessionsMatchTheEmulation(model, input: Self.poolInput(2, height: 81), "swish → depthwise")
    }

    static func poolInput(_ seed: UInt64, height: Int) -> [Float] {
        var st = seed
        return (0..<(8 * height * 30)).map { _ in
            st = st &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(st >> 40) % 4001 - 2000) / 1000
        }
    }

    /// A line buffer fed row by row holds a consumer's windows only when they never move back.
    func testLineBuffersNeedWindowsInRowOrder() {
        func consumer(_ rows: [Range<Int>]) -> [Band] { rows.enumerated().map { Band(variant: 0, inRows: $0.element, outRows: $0.offset..<$0.offset + 1) } }
        XCTAssertTrue(BandPlan.readsInOrder(consumer((0..<8).map { max(0, $0 - 1)..<min(8, $0 + 2) })), "3×3 stride 1")
        XCTAssertTrue(BandPlan.readsInOrder(consumer((0..<4).map { max(0, 2 * $0 - 1)..<min(8, 2 * $0 + 2) })), "3×3 stride 2")
        XCTAssertTrue(BandPlan.readsInOrder(consumer([0..<1, 2..<3, 4..<5])), "1×1 stride 2 skips rows")
        XCTAssertFalse(BandPlan.readsInOrder(consumer([0..<3, 1..<2])), "a window that ends earlier")
        XCTAssertFalse(BandPlan.readsInOrder(consumer([2..<4, 1..<5])), "a window that starts earlier")
    }
}
