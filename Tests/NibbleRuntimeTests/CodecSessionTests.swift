import NibbleCodec
import NibbleFormat
@testable import NibbleRuntime
import XCTest

/// Sessions holding feature maps compressed with the CAT codec (issue 6): exactly the model with every coded
/// tensor quantized, smaller planned peak when maps stay live across steps, codec switching and bad tables.
final class CodecSessionTests: XCTestCase {
    /// x[1,8,16,16] → s = HardSwish(x) (signed) → a = Relu(s) → b = Clip(a, 0, 1) → c = Sigmoid(b) → d = a + c
    /// → y = GlobalAveragePool(d). `a` stays live across two steps (a residual edge), so with raw maps three are
    /// live at the Sigmoid and at the Add.
    struct Fixture {
        var harness = GraphHarness()
        var coded: [Int] = []
        var output = 0
        init() {
            let shape = [1, 8, 16, 16]
            let x = harness.input("x", shape)
            let s = harness.node(.hardSwish, [x], shape)
            let a = harness.node(.relu, [s], shape)
            let b = harness.node(.clip, [a], shape, [Attribute(.outputMin, floats: [0]), Attribute(.outputMax, floats: [1])])
            let c = harness.node(.sigmoid, [b], shape)
            let d = harness.node(.add, [a, c], shape)
            output = harness.node(.globalAveragePool, [d], [1, 8, 1, 1])
            coded = [s, a, b, c, d]
        }
    }

    static func input(seed: UInt64) -> [Float] {
        var state = seed
        return (0..<(8 * 16 * 16)).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(state >> 40) % 4001 - 2000) / 500  // [-4, 4]
        }
    }

    /// The values of each coded tensor on a few inputs (3 samples back to back).
    static func values(_ f: Fixture) throws -> [[Float]] {
        let model = try f.harness.model(outputs: [f.output])
        let session = try Session(model: model)
        // Tensors share arena bytes once dead, so collect each at its first reader.
        var values = [[Float]](repeating: [], count: f.coded.count)
        for seed in 1...3 {
            try input(seed: UInt64(seed)).withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
            var seen = Set<Int>()
            session.run { n in
                for i in model.graph.nodes[n].inputs {
                    if let k = f.coded.firstIndex(of: i), !seen.contains(i) { seen.insert(i); values[k] += session.tensorFloats(i)! }
                }
            }
        }
        return values
    }

    /// An entry with a `bits`-bit quantizer and Huffman table fitted on `values`, as the converter does.
    static func entry(tensor: Int, bits: Int, values: [Float], signed: Bool, transform: ChannelTransformEntry? = nil) throws -> CodecTableEntry {
        let q = try XCTUnwrap(values.withUnsafeBufferPointer { ActivationQuantizer.calibrated(samples: $0, bits: bits, signed: signed) })
        var stats = try XCTUnwrap(CodeStatistics(bits: bits, zeroSymbol: q.zeroPoint))
        values.withUnsafeBufferPointer { TensorCodec.forEachTile($0, quantizer: q) { stats.add(tile: $0) } }
        return CodecTableEntry(tensor: tensor, bits: bits, step: q.step, zeroPoint: q.zeroPoint,
                               expectedBytes: 100, table: HuffmanTable(statistics: stats).serialized(), transform: transform)
    }

    /// Fits `bits`-bit CAT entries for every coded tensor.
    static func tables(_ f: Fixture, bits: Int) throws -> [CodecTableEntry] {
        let values = try values(f)
        return try f.coded.enumerated().map { k, t in
            try entry(tensor: t, bits: bits, values: values[k], signed: values[k].contains { $0 < 0 })
        }
    }

    /// CAT entries for every coded tensor plus transform entries for s (DCT), a (a Householder reflection as
    /// its "PCA" basis) and d (DCT): b and c stay CAT under the transform codec.
    static func transformTables(_ f: Fixture, bits: Int) throws -> [CodecTableEntry] {
        let values = try values(f)
        var entries = try tables(f, bits: bits)
        let v: [Double] = [1, -2, 0.5, 3, 0, 1, -1, 2]
        let vv = v.reduce(0) { $0 + $1 * $1 }
        let householder = (0..<64).map { Float(($0 / 8 == $0 % 8 ? 1 : 0) - 2 * v[$0 / 8] * v[$0 % 8] / vv) }
        for (k, kind) in [(0, ChannelTransformEntry.dctKind), (1, ChannelTransformEntry.pcaKind), (4, ChannelTransformEntry.dctKind)] {
            let mean = (0..<8).map { c in Float(c) * 0.1 - 0.2 }
            let basis = kind == ChannelTransformEntry.pcaKind ? householder : []
            let t = try XCTUnwrap(kind == ChannelTransformEntry.pcaKind ? ChannelTransform(mean: mean, basis: basis) : ChannelTransform.dct(mean: mean))
            var y = values[k]
            var scratch = [Float](repeating: 0, count: t.scratchFloats)
            y.withUnsafeMutableBufferPointer { yb in scratch.withUnsafeMutableBufferPointer { t.forward(yb.baseAddress!, images: 3, pixels: 256, scratch: $0.baseAddress!) } }
            entries.append(try entry(tensor: f.coded[k], bits: bits, values: y, signed: true,
                                     transform: ChannelTransformEntry(kind: kind, mean: mean, basis: basis)))
        }
        return entries
    }

    func model(_ f: Fixture, bits: Int = 4, transform: Bool = false) throws -> Model {
        var f = f
        f.harness.graph.codecTables = try transform ? Self.transformTables(f, bits: bits) : Self.tables(f, bits: bits)
        return try f.harness.model(outputs: [f.output])
    }

    func run(_ s: Session, _ x: [Float]) throws -> [Float] {
        try x.withUnsafeBufferPointer { try s.setInput(0, floats: $0) }
        s.run()
        return Array(s.output(0).bindMemory(to: Float.self))
    }

    /// Runs `x` on the raw session `raw` with each tensor `p` codes replaced, before its first reader, by what
    /// its codec gives back: dequantize(quantize(x)) (CAT) or forward → quantize → dequantize → inverse
    /// (transform, counted in `transformed`), in plain Swift.
    func emulate(_ p: CodecPlacement, _ raw: Session, _ x: [Float]) throws -> (output: [Float], transformed: Int) {
        try x.withUnsafeBufferPointer { try raw.setInput(0, floats: $0) }
        var done = Set<Int>()
        var count = 0
        raw.run { n in
            for i in raw.model.graph.nodes[n].inputs where !done.contains(i) {
                if let c = p.lineCodec(of: i) {
                    // A line-buffered map: quantized on its grid on the way into the ring.
                    done.insert(i)
                    let v = UnsafeMutablePointer(mutating: raw.tensorFloats(i)!.baseAddress!)
                    for j in 0..<c.count { v[j] = c.quantizer.dequantize(c.quantizer.quantize(v[j])) }
                    continue
                }
                guard let k = p.codedIndex(of: i) else { continue }
                done.insert(i)
                let v = UnsafeMutablePointer(mutating: raw.tensorFloats(i)!.baseAddress!)
                switch p.coded[k].codec {
                case .cat(let c):
                    for j in 0..<c.count { v[j] = c.quantizer.dequantize(c.quantizer.quantize(v[j])) }
                case .transform(let t):
                    count += 1
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: t.transform.scratchFloats)
                    defer { scratch.deallocate() }
                    t.transform.quantized(v, images: t.images, pixels: t.pixels, quantizer: t.coefficients.quantizer, scratch: scratch)
                }
            }
        }
        return (Array(raw.output(0).bindMemory(to: Float.self)), count)
    }

    /// CAT output == the raw model with each coded tensor replaced by dequantize(quantize(x)) where it is made,
    /// bit for bit (the entropy code is lossless on the symbols); and close to the unquantized output.
    func testCatEqualsQuantizeDequantizeOfEachCodedTensor() throws {
        let f = Fixture()
        for bits in [8, 4, 2] {
            let m = try model(f, bits: bits)
            XCTAssertEqual(m.codecPlacement?.coded.map(\.tensor), [f.coded[1], f.coded[4]],
                           "s = HardSwish(x) folds its Relu; b = Clip(a) its Sigmoid, then the Add on the same bands: s, b, c never exist")
            let cat = try Session(model: m, codec: .cat)
            let raw = try Session(model: m)
            for seed in [11, 12] as [UInt64] {
                let x = Self.input(seed: seed)
                let y = try run(cat, x)
                let emulated = try emulate(m.codecPlacement!, raw, x).output
                XCTAssertEqual(y.map(\.bitPattern), emulated.map(\.bitPattern), "bits \(bits) seed \(seed)")
                let exact = try run(try Session(model: m), x)
                let err = zip(y, exact).map { abs($0 - $1) }.max()!
                let tolerance: Float = bits == 8 ? 0.01 : bits == 4 ? 0.2 : 1
                XCTAssertLessThan(err, tolerance, "bits \(bits): max |cat − fp32| \(err)")
                if bits == 8 { XCTAssertNotEqual(y, exact, "quantization must change something") }
            }
            XCTAssertEqual(cat.codecFailures, 0)
            for (k, c) in m.codecPlacement!.coded.enumerated() {
                XCTAssertLessThanOrEqual(cat.compressedBytes(coded: k), c.codec.worstCaseBytes)
                XCTAssertGreaterThan(cat.compressedBytes(coded: k), c.codec.directoryBytes)
            }
        }
    }

    /// With `a` live across steps, the CAT plan's worst-case peak is below the raw peak.
    func testPlannedPeakBelowRawWhenMapsStayLive() throws {
        let m = try model(Fixture(), bits: 4)
        let p = try XCTUnwrap(m.codecPlacement)
        XCTAssertEqual(p.rawActivationBytes, 3 * 8 * 16 * 16 * 4)
        XCTAssertLessThan(p.plannedActivationBytes, p.rawActivationBytes)
        XCTAssertLessThanOrEqual(p.expectedActivationBytes, p.plannedActivationBytes)
        XCTAssertLessThan(p.totalBytes, m.plan.totalBytes)
    }

    /// setCodec switches without reloading, back and forth; the outputs follow the codec.
    func testSwitchingCodecs() throws {
        let m = try model(Fixture(), bits: 3)
        let s = try Session(model: m)
        let x = Self.input(seed: 5)
        let raw1 = try run(s, x)
        XCTAssertEqual(s.arenaUsed, m.plan.totalBytes)
        try s.setCodec(.cat)
        XCTAssertEqual(s.codec, .cat)
        XCTAssertEqual(s.arenaUsed, m.codecPlacement!.totalBytes)
        let cat1 = try run(s, x)
        XCTAssertNotEqual(raw1, cat1)
        try s.setCodec(.none)
        XCTAssertEqual(try run(s, x), raw1)
        try s.setCodec(.cat)
        XCTAssertEqual(try run(s, x), cat1)
        XCTAssertThrowsError(try s.setCodec(.transform)) { e in
            XCTAssertTrue((e as! NibbleError).message.contains("transform"), "\(e)")
        }
    }

    /// A caller arena sized for CAT runs CAT but refuses the larger raw plan, naming both sizes.
    func testCallerArenaSizedForOneCodec() throws {
        let m = try model(Fixture(), bits: 4)
        let catBytes = m.codecPlacement!.totalBytes
        XCTAssertEqual(m.arenaBytesForAllCodecs, max(catBytes, m.plan.totalBytes))
        let arena = UnsafeMutableRawBufferPointer.allocate(byteCount: catBytes, alignment: Layout.alignment)
        defer { arena.deallocate() }
        XCTAssertThrowsError(try Session(model: m, arena: arena)) { e in
            XCTAssertEqual(e as? NibbleError, .insufficientMemory("arena too small: needed \(m.plan.totalBytes) bytes, got \(catBytes)"))
        }
        let s = try Session(model: m, arena: arena, codec: .cat)
        XCTAssertThrowsError(try s.setCodec(.none)) { e in
            XCTAssertEqual(e as? NibbleError, .insufficientMemory("arena too small for codec 'none': needed \(m.plan.totalBytes) bytes, got \(catBytes)"))
        }
        XCTAssertEqual(s.codec, .cat)
        _ = try run(s, Self.input(seed: 1))
        XCTAssertEqual(s.codecFailures, 0)
    }

    func testModelWithoutTablesRefusesCat() throws {
        let f = Fixture()
        let m = try f.harness.model(outputs: [f.output])
        XCTAssertNil(m.codecPlacement)
        XCTAssertThrowsError(try Session(model: m).setCodec(.cat)) { e in
            guard case .unsupported(let msgMessage) = e as! NibbleError else { return XCTFail("\(e)") }
            let msg = msgMessage.text
            XCTAssertTrue(msg.contains("codec tables"), msg)
        }
    }

    /// A table that parses but is not a prefix code (Kraft sum above 1) is refused at load, naming the tensor.
    func testInvalidHuffmanTableIsRefusedAtLoad() throws {
        var f = Fixture()
        var entries = try Self.tables(f, bits: 4)
        // Every value symbol but the zero symbol gets a 1-bit code: 15 codes of length 1.
        for i in 4..<(4 + 16) { entries[1].table[i] = 1 }
        entries[1].table[4] = 0
        f.harness.graph.codecTables = entries
        XCTAssertThrowsError(try f.harness.model(outputs: [f.output])) { e in
            guard case .malformedModel(let msgMessage) = e as! NibbleError else { return XCTFail("\(e)") }
            let msg = msgMessage.text
            XCTAssertTrue(msg.contains("codec section: tensor \(f.coded[1])") && msg.contains("Huffman table is invalid"), msg)
        }
    }

    /// Transform output == the raw model with each transform-coded tensor replaced by forward → quantize →
    /// dequantize → inverse and each other coded tensor by its CAT quantize→dequantize, bit for bit.
    func testTransformEqualsItsEmulation() throws {
        let f = Fixture()
        for bits in [8, 4] {
            let m = try model(f, bits: bits, transform: true)
            let p = try XCTUnwrap(m.transformPlacement)
            XCTAssertEqual(p.coded.count, 5, "the Clip reads a transform-coded map: it runs whole, nothing is folded")
            XCTAssertEqual(m.codecPlacement?.coded.count, 2, "CAT: s, b and c are folded away (their only readers run on their bands)")
            var transformed = 0
            let session = try Session(model: m, codec: .transform)
            let raw = try Session(model: m)
            for seed in [21, 22] as [UInt64] {
                let x = Self.input(seed: seed)
                let y = try run(session, x)
                let (emulated, count) = try emulate(p, raw, x)
                transformed += count
                XCTAssertEqual(y.map(\.bitPattern), emulated.map(\.bitPattern), "bits \(bits) seed \(seed)")
                let exact = try run(try Session(model: m), x)
                let err = zip(y, exact).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(err, bits == 8 ? 0.05 : 0.5, "bits \(bits): max |transform − fp32| \(err)")
            }
            XCTAssertEqual(transformed, 6, "s, a and d are transform-coded in both runs")
            XCTAssertEqual(session.codecFailures, 0)
            for (k, c) in p.coded.enumerated() {
                XCTAssertLessThanOrEqual(session.compressedBytes(coded: k), c.codec.worstCaseBytes)
                XCTAssertGreaterThan(session.compressedBytes(coded: k), c.codec.directoryBytes)
            }
        }
    }

    /// none ↔ cat ↔ transform in one session, no reload; each codec gives the same output every time.
    func testSwitchingBetweenAllThreeCodecs() throws {
        let m = try model(Fixture(), bits: 4, transform: true)
        XCTAssertEqual(m.arenaBytesForAllCodecs, max(m.plan.totalBytes, m.codecPlacement!.totalBytes, m.transformPlacement!.totalBytes))
        let s = try Session(model: m)
        let x = Self.input(seed: 9)
        var outputs: [FeatureMapCodec: [Float]] = [:]
        for codec in [FeatureMapCodec.none, .cat, .transform, .none, .transform, .cat, .transform] {
            try s.setCodec(codec)
            XCTAssertEqual(s.arenaUsed, m.arenaBytes(codec: codec))
            let y = try run(s, x)
            if let first = outputs[codec] { XCTAssertEqual(y, first, codec.name) } else { outputs[codec] = y }
        }
        XCTAssertNotEqual(outputs[.cat], outputs[.transform])
        XCTAssertNotEqual(outputs[.none], outputs[.transform])
        XCTAssertEqual(s.codecFailures, 0)
    }
}
