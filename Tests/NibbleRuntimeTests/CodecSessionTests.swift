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

    /// Fits `bits`-bit quantizers and Huffman tables on a few inputs, as the converter does.
    static func tables(_ f: Fixture, bits: Int) throws -> [CodecTableEntry] {
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
        return try f.coded.enumerated().map { k, t in
            let signed = values[k].contains { $0 < 0 }
            let q = try XCTUnwrap(values[k].withUnsafeBufferPointer { ActivationQuantizer.calibrated(samples: $0, bits: bits, signed: signed) })
            var stats = try XCTUnwrap(CodeStatistics(bits: bits, zeroSymbol: q.zeroPoint))
            values[k].withUnsafeBufferPointer { TensorCodec.forEachTile($0, quantizer: q) { stats.add(tile: $0) } }
            let table = HuffmanTable(statistics: stats)
            return CodecTableEntry(tensor: t, bits: bits, step: q.step, zeroPoint: q.zeroPoint,
                                   expectedBytes: 100, table: table.serialized())
        }
    }

    func model(_ f: Fixture, bits: Int = 4) throws -> Model {
        var f = f
        f.harness.graph.codecTables = try Self.tables(f, bits: bits)
        return try f.harness.model(outputs: [f.output])
    }

    func run(_ s: Session, _ x: [Float]) throws -> [Float] {
        try x.withUnsafeBufferPointer { try s.setInput(0, floats: $0) }
        s.run()
        return Array(s.output(0).bindMemory(to: Float.self))
    }

    /// CAT output == the raw model with each coded tensor replaced by dequantize(quantize(x)) where it is made,
    /// bit for bit (the entropy code is lossless on the symbols); and close to the unquantized output.
    func testCatEqualsQuantizeDequantizeOfEachCodedTensor() throws {
        let f = Fixture()
        for bits in [8, 4, 2] {
            let m = try model(f, bits: bits)
            XCTAssertEqual(m.codecPlacement?.coded.count, 5)
            let cat = try Session(model: m, codec: .cat)
            let raw = try Session(model: m)
            for seed in [11, 12] as [UInt64] {
                let x = Self.input(seed: seed)
                let y = try run(cat, x)
                // Emulation on the raw session: quantize→dequantize each coded tensor before its first reader.
                try x.withUnsafeBufferPointer { try raw.setInput(0, floats: $0) }
                var done = Set<Int>()
                raw.run { n in
                    for i in m.graph.nodes[n].inputs where !done.contains(i) {
                        guard let k = m.codecPlacement!.codedIndex(of: i) else { continue }
                        done.insert(i)
                        let q = m.codecPlacement!.coded[k].codec.quantizer
                        let v = UnsafeMutableBufferPointer(mutating: raw.tensorFloats(i)!)
                        for j in v.indices { v[j] = q.dequantize(q.quantize(v[j])) }
                    }
                }
                let emulated = Array(raw.output(0).bindMemory(to: Float.self))
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
            guard case .unsupported(let msg) = e as! NibbleError else { return XCTFail("\(e)") }
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
            guard case .malformedModel(let msg) = e as! NibbleError else { return XCTFail("\(e)") }
            XCTAssertTrue(msg.contains("codec section: tensor \(f.coded[1])") && msg.contains("Huffman table is invalid"), msg)
        }
    }
}
