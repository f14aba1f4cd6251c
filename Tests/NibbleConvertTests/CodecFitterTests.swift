import Foundation
@testable import NibbleConvert
import NibbleCodec
import NibbleFormat
import NibbleRuntime
import XCTest

/// `CodecFitter` (nibble convert --codec-bits): tables fitted on calibration data, written into the .nib, and a
/// CAT session of the result computing exactly the model with quantized feature maps.
final class CodecFitterTests: XCTestCase {
    func digits(recipe: Recipe) throws -> (nib: [UInt8], calib: CalibrationData, test: [Float], labels: [Int64]) {
        let dir = Fixtures.samplesDir
        let calib = try CalibrationData(try Fixtures.npy("digits_calib_img.npy", in: dir))
        let (nib, _) = try Converter.convert(onnxBytes: try Fixtures.bytes("digits_cnn.onnx", in: dir), recipe: recipe, calibration: calib)
        let test = try XCTUnwrap(try Fixtures.npy("digits_test_x_img.npy", in: dir).floats)
        guard case .int64(let y) = try Fixtures.npy("digits_test_y.npy", in: dir).storage else { throw XCTSkip("labels") }
        return (nib, calib, test, y)
    }

    func accuracy(_ session: Session, _ x: [Float], _ y: [Int64]) throws -> Double {
        var correct = 0
        for s in y.indices {
            try x.withUnsafeBufferPointer { try session.setInput(0, floats: UnsafeBufferPointer(rebasing: $0[(s * 64)..<((s + 1) * 64)])) }
            session.run()
            let o = session.output(0).bindMemory(to: Float.self)
            if o.indices.max(by: { o[$0] < o[$1] }) == Int(y[s]) { correct += 1 }
        }
        return Double(correct) / Double(y.count)
    }

    /// A session of `nib` with codec plan `placement` gives, on a few calibration samples, bit for bit what
    /// QuantizedRunner computes with each coded tensor replaced by what its codec decodes.
    func assertSessionMatchesEmulation(_ session: Session, _ placement: CodecPlacement, _ calib: CalibrationData, nib: [UInt8],
                                       samples: [Int] = [0, 5, 127], line: UInt = #line) throws {
        // Every codable map, quantized where the placement holds it (a transform session holds maps a CAT one folds).
        let runner = try QuantizedRunner(nib: nib, data: calib, foldedMaps: true)
        // A line-buffered map has no slot but is quantized on its way into the line buffer.
        let quantizers = runner.coded.map { t in
            placement.codedIndex(of: t).map { MapQuantizer(placement.coded[$0].codec) } ?? placement.lineCodec(of: t).map { MapQuantizer(.cat($0)) }
        }
        for s in samples {
            let emulated = try runner.run(sample: s, quantizers: quantizers)
            try calib.values.withUnsafeBufferPointer { try session.setInput(0, floats: UnsafeBufferPointer(rebasing: $0[(s * 64)..<((s + 1) * 64)])) }
            session.run()
            XCTAssertEqual(Array(session.output(0).bindMemory(to: Float.self)).map(\.bitPattern), emulated.map(\.bitPattern), "sample \(s)", line: line)
        }
    }

    /// int8 digits MLP (Gemm → Relu chains): every coded tensor feeds an int8 layer, so 8-bit tables on the
    /// consumers' own input grids leave the output bit-identical to the session without codec.
    func testEightBitTablesOnInt8ConsumerGridsAreLossless() throws {
        let dir = Fixtures.samplesDir
        let calib = try CalibrationData(try Fixtures.npy("digits_calib.npy", in: dir))
        let (plain, _) = try Converter.convert(onnxBytes: try Fixtures.bytes("digits_mlp.onnx", in: dir), recipe: .int8, calibration: calib)
        let (nib, report) = try CodecFitter.fit(nib: plain, data: calib, bits: .fixed(8))
        let m = try Model(copying: nib)
        XCTAssertFalse(report.layers.isEmpty)
        for t in CodecFitter.candidates(m.graph) {
            let grid = try XCTUnwrap(CodecFitter.consumerGrid(m.graph, tensor: t), m.graph.tensors[t].name)
            let entry = try XCTUnwrap(m.graph.codecTables.first { $0.tensor == t })
            XCTAssertEqual(entry.step, grid.step)
            XCTAssertEqual(entry.zeroPoint, grid.zeroPoint)
        }
        XCTAssertEqual(report.checkError, 0)
        let none = try Session(model: m), cat = try Session(model: m, codec: .cat)
        for s in 0..<calib.sampleCount {
            for session in [none, cat] {
                try calib.values.withUnsafeBufferPointer { try session.setInput(0, floats: UnsafeBufferPointer(rebasing: $0[(s * 64)..<((s + 1) * 64)])) }
                session.run()
            }
            XCTAssertEqual(Array(cat.output(0).bindMemory(to: Float.self)), Array(none.output(0).bindMemory(to: Float.self)), "sample \(s)")
        }
    }

    /// ResNet- and MobileNet-style nets (skip adds, depthwise convs, ReLU6) quantized by ONNX Runtime's
    /// quantize_static (scripts/train-cat-models.py): with 5-bit tables the CAT session equals the emulation
    /// bit for bit and keeps accuracy within 3 points (on the first 120 test samples).
    func testResidualAndDepthwiseQDQModels() throws {
        let dir = Fixtures.samplesDir
        // 32 calibration samples keep the debug-build fit short (24 fit, 8 held out).
        let calib = try CalibrationData(NPYArray(shape: [32, 1, 8, 8], floats: Array(try XCTUnwrap(try Fixtures.npy("digits_calib_img.npy", in: dir).floats).prefix(32 * 64))))
        let test = Array(try XCTUnwrap(try Fixtures.npy("digits_test_x_img.npy", in: dir).floats).prefix(120 * 64))
        guard case .int64(let all) = try Fixtures.npy("digits_test_y.npy", in: dir).storage else { throw XCTSkip("labels") }
        let labels = Array(all.prefix(120))
        for name in ["digits_resnet.qdq.onnx", "digits_mobilenet.qdq.onnx"] {
            let (plain, _) = try Converter.convert(onnxBytes: try Fixtures.bytes(name, in: dir), recipe: .fp32, calibration: calib)
            let (nib, _) = try CodecFitter.fit(nib: plain, data: calib, bits: .fixed(5))
            let m = try Model(copying: nib)
            let placement = try XCTUnwrap(m.codecPlacement, name)
            // Convs (depthwise, stride 2), pools and adds run by row bands; the emulation is the whole-tensor codec.
            let folded = m.graph.nodes.indices.filter { placement.isFolded($0) }
            XCTAssertGreaterThan(placement.bandedNodes.count + folded.count, m.graph.nodes.count / 2, name)
            let cat = try Session(model: m, codec: .cat)
            try assertSessionMatchesEmulation(cat, placement, calib, nib: nib, samples: [0, 27])
            let none = try accuracy(try Session(model: m), test, labels), coded = try accuracy(cat, test, labels)
            XCTAssertGreaterThan(coded, none - 0.03, "\(name): \(coded) vs \(none)")
            XCTAssertEqual(cat.codecFailures, 0)
        }
    }

    /// A ResNet trained with 4-bit activations (QAT, scripts/train-cat-models.py `_q4`) and exported with uint4/int4
    /// activation Q/DQ pairs: every map the model quantizes is coded on exactly its grid (16 symbols, the pair's
    /// step and zero point), so 8-bit tables add no loss beyond the model's own rounding, and the maps take under
    /// 2.5 bits per value (1.9–2.2 measured with the full calibration set); the session equals the emulation.
    func testQATModelIsCodedOnItsOwnActivationGrids() throws {
        let dir = Fixtures.samplesDir
        let calib = try CalibrationData(NPYArray(shape: [32, 1, 8, 8], floats: Array(try XCTUnwrap(try Fixtures.npy("digits_calib_img.npy", in: dir).floats).prefix(32 * 64))))
        let (plain, _) = try Converter.convert(onnxBytes: try Fixtures.bytes("digits_resnet_q4.qdq.onnx", in: dir), recipe: .fp32, calibration: calib)
        let (nib, report) = try CodecFitter.fit(nib: plain, data: calib, bits: .fixed(8))
        let m = try Model(copying: nib)
        var gridded = 0, gridded4 = 0
        for t in CodecFitter.candidates(m.graph) {
            guard let grid = CodecFitter.modelGrid(m.graph, tensor: t) else { continue }
            gridded += 1
            let entry = try XCTUnwrap(m.graph.codecTables.first { $0.tensor == t }, m.graph.tensors[t].name)
            XCTAssertTrue(grid.bits == 4 || grid.bits == 8, m.graph.tensors[t].name)  // 8: the pooled vector's uint8 pair
            gridded4 += grid.bits == 4 ? 1 : 0
            XCTAssertEqual(entry.bits, grid.bits)
            XCTAssertEqual(entry.step, grid.step)
            XCTAssertEqual(entry.zeroPoint, grid.zeroPoint)
        }
        // Some maps fold away (`CodecPlacement.folds`), so they are not candidates: b1.conv2's (its only reader, the
        // Add, runs on conv2's bands) and, on the 4×4 maps where one band is the whole map, b2.conv1's and b3.conv1's
        // (conv2 runs on conv1's single band; conv2's own output then stays, a folded node's output is not folded).
        XCTAssertGreaterThanOrEqual(gridded4, 8, "conv, projection and residual-add maps of the QAT ResNet")
        for name in ["b1.conv2", "b2.conv1", "b3.conv1"] {
            let t = try XCTUnwrap(m.graph.nodes.first { $0.name == name }).outputs[0]
            XCTAssertFalse(CodecFitter.candidates(m.graph).contains(t), name)
            XCTAssertNil(m.codecPlacement?.codedIndex(of: t), name)
        }
        XCTAssertNotNil(report.gridCheckError)
        let values = report.layers.reduce(0) { $0 + $1.fp32Bytes / 4 }
        let bits = report.layers.reduce(0.0) { $0 + $1.bitsPerValue * Double($1.fp32Bytes / 4) } / Double(values)
        XCTAssertLessThan(bits, 2.5)
        let placement = try XCTUnwrap(m.codecPlacement)
        try assertSessionMatchesEmulation(try Session(model: m, codec: .cat), placement, calib, nib: nib, samples: [0, 27])
    }

    /// Ternary and bit-serial convs run by row bands too (a variant per band geometry): the CAT session equals the
    /// emulation bit for bit, at 1 and 2 threads.
    func testBandedTernaryAndBitSerialConvs() throws {
        for recipe in [Recipe.ternary, .bitSerial] {
            let d = try digits(recipe: recipe)
            let (nib, _) = try CodecFitter.fit(nib: d.nib, data: d.calib, bits: .fixed(6))
            let m = try Model(copying: nib)
            let placement = try XCTUnwrap(m.codecPlacement)
            let precision: Precision = recipe == .ternary ? .ternary : .bitSerial
            XCTAssertTrue(placement.bandedNodes.contains { m.graph.nodes[$0].precision == precision }, "\(recipe)")
            for threads in [1, 2] {
                let cat = try Session(model: m, codec: .cat, threads: threads)
                try assertSessionMatchesEmulation(cat, placement, d.calib, nib: nib)
                XCTAssertEqual(cat.codecFailures, 0)
            }
        }
    }

    /// int8 digits CNN with 6-bit tables: every codable tensor has a table that loads; the CAT session equals
    /// the raw session with each coded tensor quantized (QuantizedRunner) bit for bit; accuracy stays close.
    func testFixedBitsOnTheDigitsCNN() throws {
        let d = try digits(recipe: .int8)
        let (nib, report) = try CodecFitter.fit(nib: d.nib, data: d.calib, bits: .fixed(6))
        let m = try Model(copying: nib)
        let placement = try XCTUnwrap(m.codecPlacement)
        XCTAssertEqual(placement.coded.map(\.tensor), CodecFitter.candidates(m.graph))
        XCTAssertEqual(report.layers.map(\.bits), [Int](repeating: 6, count: placement.coded.count))
        XCTAssertTrue(report.heldOut)
        XCTAssertEqual(report.fitSamples + report.checkSamples, d.calib.sampleCount)
        for l in report.layers {
            XCTAssertLessThanOrEqual(l.expectedBytes, l.worstCaseBytes)
            XCTAssertGreaterThan(l.entropy, 0)
        }

        // The int8 convs run by row bands.
        XCTAssertTrue(placement.bandedNodes.contains { m.graph.nodes[$0].op == .conv && m.graph.nodes[$0].precision == .int8 })
        let cat = try Session(model: m, codec: .cat)
        try assertSessionMatchesEmulation(cat, placement, d.calib, nib: nib)
        let none = try accuracy(try Session(model: m), d.test, d.labels)
        let coded = try accuracy(cat, d.test, d.labels)
        XCTAssertGreaterThan(coded, none - 0.03, "6-bit feature maps: \(coded) vs \(none)")
        XCTAssertEqual(cat.codecFailures, 0)
    }

    /// The `auto` search's peak model: lowering every map lowers the modelled peak; lowering only the pooled
    /// vector (live after the peak, 32 values) changes nothing, so the search credits it with 1/20 of its bytes only.
    func testPeakModelCreditsTheMapsAtThePeak() throws {
        let dir = Fixtures.samplesDir
        let calib = try CalibrationData(NPYArray(shape: [8, 1, 8, 8], floats: Array(try XCTUnwrap(try Fixtures.npy("digits_calib_img.npy", in: dir).floats).prefix(8 * 64))))
        let (nib, _) = try Converter.convert(onnxBytes: try Fixtures.bytes("digits_resnet_q4.qdq.onnx", in: dir), recipe: .fp32, calibration: calib)
        let g = try Model(copying: nib).graph
        let coded = CodecFitter.candidates(g)
        let peak = CodecFitter.peakModel(g, coded)
        let eight = [Int](repeating: 8, count: coded.count)
        XCTAssertLessThan(peak(eight.map { _ in 4 }), peak(eight))
        let pooled = try XCTUnwrap(coded.firstIndex { g.tensors[$0].shape.count == 4 && g.tensors[$0].shape[2] == 1 })
        var lowered = eight
        lowered[pooled] = 2
        XCTAssertEqual(peak(lowered), peak(eight))
    }

    /// auto: bits within 2...8, the calibration error within the budget the search kept, fewer bits than 8
    /// somewhere for a loose budget, and the held-out error reported.
    func testAutoBitsKeepTheBudget() throws {
        let d = try digits(recipe: .fp32)
        // 16 samples (12 searched, 4 held out) keep the debug-build test short.
        let calib = try CalibrationData(NPYArray(shape: [16, 1, 8, 8], floats: Array(d.calib.values[0..<(16 * 64)])))
        let budget = 0.05
        var lines: [String] = []
        let (nib, report) = try CodecFitter.fit(nib: d.nib, data: calib, bits: .auto(budget: budget), progress: { lines.append($0) })
        XCTAssertEqual(report.fitSamples, 12)
        XCTAssertEqual(lines.filter { $0.hasPrefix("auto bits, step ") }.count, report.searchSteps, "one progress line per step: \(lines)")
        XCTAssertTrue(lines.first?.hasPrefix("auto bits: ") == true, "\(lines)")
        XCTAssertTrue(report.layers.allSatisfy { (2...8).contains($0.bits) })
        XCTAssertTrue(report.layers.contains { $0.bits < 8 }, "\(report.layers.map(\.bits))")
        XCTAssertLessThanOrEqual(report.fitError, budget)
        XCTAssertGreaterThan(report.searchSteps, 0)
        XCTAssertTrue(report.checkError.isFinite)
        XCTAssertTrue(report.description.contains("auto: \(report.searchSteps) joint bit reductions"), report.description)
        let m = try Model(copying: nib)
        XCTAssertEqual(m.graph.codecTables.map(\.bits), report.layers.map(\.bits))
        // A tighter budget never chooses fewer bits in total.
        let (_, tight) = try CodecFitter.fit(nib: d.nib, data: calib, bits: .auto(budget: 0.005))
        XCTAssertGreaterThanOrEqual(tight.layers.map(\.bits).reduce(0, +), report.layers.map(\.bits).reduce(0, +))
    }

    /// The MobileNetV3 block (hard-swish, squeeze-excite: maps live across steps): the CAT plan's worst-case peak
    /// is below the raw one, and a real session's arena is smaller.
    func testCompressedPeakBelowRawOnMobileNetBlock() throws {
        let calib = try CalibrationData(try Fixtures.npy("mobilenetv3_block.input.npy"))
        let (plain, _) = try Converter.convert(onnxBytes: try Fixtures.bytes("mobilenetv3_block.onnx"), recipe: .fp32)
        let (nib, _) = try CodecFitter.fit(nib: plain, data: calib, bits: .fixed(4))
        let m = try Model(copying: nib)
        let p = try XCTUnwrap(m.codecPlacement)
        XCTAssertLessThan(p.plannedActivationBytes, p.rawActivationBytes)
        XCTAssertLessThan(p.totalBytes, m.plan.totalBytes)
        let s = try Session(model: m, codec: .cat)
        XCTAssertEqual(s.arenaUsed, p.totalBytes)
    }

    func testAttachReplacesTheSectionAndBadChoicesAreRefused() throws {
        let d = try digits(recipe: .fp32)
        let (nib, _) = try CodecFitter.fit(nib: d.nib, data: d.calib, bits: .fixed(3))
        let tables = try Model(copying: nib).graph.codecTables
        XCTAssertEqual(try Model(copying: try CodecFitter.attach(tables, to: d.nib)).graph.codecTables, tables)
        XCTAssertEqual(try CodecFitter.attach([], to: nib), d.nib, "removing the tables gives the plain file back")
        XCTAssertThrowsError(try CodecFitter.fit(nib: d.nib, data: d.calib, bits: .fixed(9))) { e in
            XCTAssertEqual(e as? ConvertError, .invalidInput("codec bits 9 outside 2...8"))
        }
        XCTAssertThrowsError(try CodecFitter.fit(nib: d.nib, data: d.calib, bits: .auto(budget: 0)))
    }

    /// --codec-transform pca on the int8 digits CNN: a transform entry next to every CAT entry (PCA basis
    /// orthonormal, stored mean = channel mean), the transform session equal to its emulation bit for bit, the
    /// report comparing both codecs per tensor; auto writes only the entries smaller than CAT's.
    func testTransformEntriesOnTheDigitsCNN() throws {
        let d = try digits(recipe: .int8)
        for choice in [CodecTransformChoice.pca, .dct] {
            let (nib, report) = try CodecFitter.fit(nib: d.nib, data: d.calib, bits: .fixed(6), transform: choice)
            let m = try Model(copying: nib)
            let transformEntries = m.graph.codecTables.filter { $0.transform != nil }
            XCTAssertEqual(transformEntries.count, CodecFitter.codable(m.graph).count, "folded maps too: the transform session holds them")
            XCTAssertTrue(transformEntries.allSatisfy { $0.transform!.kind == (choice == .pca ? 1 : 2) && $0.zeroPoint == 32 })
            let placement = try XCTUnwrap(m.transformPlacement)
            let session = try Session(model: m, codec: .transform)
            try assertSessionMatchesEmulation(session, placement, d.calib, nib: nib)
            let t = try XCTUnwrap(report.transform)
            XCTAssertEqual(t.kept, transformEntries.count)
            XCTAssertTrue(t.checkError.isFinite && t.checkError > 0)
            XCTAssertTrue(report.layers.allSatisfy { $0.transform?.kept == true && $0.transform!.bitsPerValue > 0 })
            XCTAssertTrue(report.description.contains("transform codec (\(choice.rawValue))"), report.description)
            let accuracy = try accuracy(session, d.test, d.labels)
            XCTAssertGreaterThan(accuracy, try self.accuracy(try Session(model: m), d.test, d.labels) - 0.05, "\(choice): \(accuracy)")
        }
        let (nib, report) = try CodecFitter.fit(nib: d.nib, data: d.calib, bits: .fixed(4), transform: .auto)
        let written = try Model(copying: nib).graph.codecTables.filter { $0.transform != nil }.map(\.tensor)
        let names = report.layers.filter { $0.transform?.kept == true }.map(\.tensor)
        XCTAssertEqual(written.count, names.count)
        for l in report.layers { if let x = l.transform { XCTAssertEqual(x.kept, x.expectedBytes < l.expectedBytes, l.tensor) } }
    }

    /// The Jacobi eigen-decomposition: orthonormal rows by decreasing variance, C·v = λ·v, on a covariance with
    /// strongly correlated channels (odd C), and a 1×1 case.
    func testPrincipalBasis() throws {
        var pca = ChannelPCA(channels: 7)
        var state: UInt64 = 3
        func unit() -> Float { state = state &* 6364136223846793005 &+ 1442695040888963407; return Float(state >> 40) / Float(1 << 24) }
        var x = [Float](repeating: 0, count: 7 * 300)
        for p in 0..<300 {
            let z = unit() * 4 - 2
            for c in 0..<7 { x[c * 300 + p] = Float(c + 1) * z + 0.1 * unit() + Float(c) }
        }
        x.withUnsafeBufferPointer { pca.add($0, images: 1, pixels: 300) }
        let (basis, variances) = pca.principalBasis()
        let cov = pca.covariance
        XCTAssertEqual(variances, variances.sorted(by: >))
        XCTAssertGreaterThan(variances[0], 50 * variances[1], "one factor carries almost all the variance")
        for i in 0..<7 {
            for j in 0..<7 {
                let dot = (0..<7).reduce(0.0) { $0 + Double(basis[i * 7 + $1]) * Double(basis[j * 7 + $1]) }
                XCTAssertEqual(dot, i == j ? 1 : 0, accuracy: 1e-5)
            }
            for c in 0..<7 {
                let cv = (0..<7).reduce(0.0) { $0 + cov[c * 7 + $1] * Double(basis[i * 7 + $1]) }
                XCTAssertEqual(cv, variances[i] * Double(basis[i * 7 + c]), accuracy: 1e-4 * max(1, variances[0]))
            }
        }
        XCTAssertEqual(pca.mean.map { Float($0) }[3], (0..<300).reduce(Float(0)) { $0 + x[3 * 300 + $1] } / 300, accuracy: 1e-4)
        let (values, vectors) = ChannelPCA.symmetricEigen([2.5], 1)
        XCTAssertEqual(values, [2.5])
        XCTAssertEqual(vectors, [1])
    }
}
