import Foundation
import NibbleConvert
import NibbleFormat
import NibbleRuntime
import XCTest

/// The pruning recipes (issue 4; docs/FORMAT.md §4.6): the digits MLP pruned at 50 %, 90 % and 2:4 runs the
/// sparse kernels and matches the dense model of the same pruned weights; files round-trip; corrupt sparse
/// arrays are refused at load with the node and position named.
final class PruningRecipeTests: XCTestCase {
    static let cases: [(String, PruningOptions)] = [
        ("50%", PruningOptions(sparsity: 0.5)), ("90%", PruningOptions(sparsity: 0.9)), ("2:4", PruningOptions(nm: (2, 4))),
    ]

    func digits() throws -> (onnx: [UInt8], x: [Float], labels: [Int64], calibration: CalibrationData) {
        let dir = Fixtures.samplesDir
        guard case .int64(let labels) = try Fixtures.npy("digits_test_y.npy", in: dir).storage else { throw XCTSkip("labels") }
        return (try Fixtures.bytes("digits_mlp.onnx", in: dir), try XCTUnwrap(try Fixtures.npy("digits_test_x.npy", in: dir).floats),
                labels, try CalibrationData(contentsOf: try Fixtures.url("digits_calib.npy", in: dir)))
    }

    func convert(_ onnx: [UInt8], _ recipe: Recipe, _ calibration: CalibrationData, _ options: PruningOptions,
                 storage: PruningOptions.Storage) throws -> ([UInt8], ConversionReport) {
        var o = options
        o.storage = storage
        return try Converter.convert(onnxBytes: onnx, recipe: recipe, calibration: recipe == .fp32 ? nil : calibration, pruning: o)
    }

    func testDigitsMLPSparseMatchesDenseOfSamePrunedWeights() throws {
        let d = try digits()
        var summary: [String] = []
        let fp32Accuracy = BitSerialRecipeTests.accuracy(try NibRunner(try Converter.convert(onnxBytes: d.onnx).nib).run(d.x), d.labels)
        for recipe in [Recipe.fp32, .int8] {
            for (label, options) in Self.cases {
                let (sparseNib, report) = try convert(d.onnx, recipe, d.calibration, options, storage: .sparse)
                let (denseNib, _) = try convert(d.onnx, recipe, d.calibration, options, storage: .dense)
                let sparse = try NibRunner(sparseNib), dense = try NibRunner(denseNib)
                // Every FullyConnected runs the sparse kernel, with the value type of the recipe.
                let kernels = sparse.model.kernelNames.filter { $0.contains("fully connected") }
                XCTAssertEqual(kernels.count, 3, "\(kernels)")
                XCTAssertTrue(kernels.allSatisfy { $0.hasPrefix("sparse \(options.nm == nil ? "CSR" : "2:4") \(recipe == .fp32 ? "fp32" : "int8")") }, "\(kernels)")
                XCTAssertFalse(dense.model.kernelNames.contains { $0.contains("sparse") })
                // Each layer is as sparse as asked (⌊S·count⌋ zeros; int8 rounding may add zeros); at 90 % and 2:4 it is
                // stored smaller than dense (CSR's int32 column indices cost more than they save at 50 %).
                XCTAssertEqual(report.sparseLayers.count, 3, "\(report)")
                for (name, l) in report.sparseLayers {
                    XCTAssertGreaterThanOrEqual(l.sparsity, (options.sparsity ?? 0.5) - 1e-3, "\(name)\n\(report)")
                    if options.sparsity != 0.5 { XCTAssertLessThan(l.storedBytes, l.denseBytes, "\(name)\n\(report)") }
                }
                let ys = try sparse.run(d.x), yd = try dense.run(d.x)
                XCTAssertEqual(ys.count, yd.count)
                if recipe == .int8 {
                    // Same int32 sums and the same dequantization: bit for bit.
                    XCTAssertEqual(ys, yd, "\(recipe) \(label)")
                } else {
                    let worst = zip(ys, yd).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                    XCTAssertLessThan(worst, 1e-4, "\(recipe) \(label)")
                }
                let acc = BitSerialRecipeTests.accuracy(ys, d.labels)
                // Auto storage (the cost model's choice) computes the same function as well.
                let auto = BitSerialRecipeTests.accuracy(try NibRunner(try convert(d.onnx, recipe, d.calibration, options, storage: .auto).0).run(d.x), d.labels)
                XCTAssertEqual(auto, acc, accuracy: 0.003)
                summary.append("\(recipe.rawValue) \(label): \(acc * 100)% (fp32 unpruned \(fp32Accuracy * 100)%)")
                if label == "50%" { XCTAssertGreaterThanOrEqual(acc, fp32Accuracy - 0.02, "50 % pruning of the MLP keeps accuracy within 2 points") }
            }
        }
        print("pruned digits MLP accuracy (360 test samples):\n" + summary.joined(separator: "\n"))
    }

    /// The digits CNN's 3x3 stride-1 convs run the direct sparse convolution; the stride-2 conv stays dense.
    func testDigitsCNNDirectSparseConv() throws {
        let dir = Fixtures.samplesDir
        guard case .int64(let labels) = try Fixtures.npy("digits_test_y.npy", in: dir).storage else { throw XCTSkip("labels") }
        let onnx = try Fixtures.bytes("digits_cnn.onnx", in: dir)
        let x = try XCTUnwrap(try Fixtures.npy("digits_test_x_img.npy", in: dir).floats)
        let calibration = try CalibrationData(contentsOf: try Fixtures.url("digits_calib_img.npy", in: dir))
        var summary: [String] = []
        for recipe in [Recipe.fp32, .int8] {
            let (sparseNib, report) = try convert(onnx, recipe, calibration, PruningOptions(sparsity: 0.5), storage: .sparse)
            let (denseNib, _) = try convert(onnx, recipe, calibration, PruningOptions(sparsity: 0.5), storage: .dense)
            let sparse = try NibRunner(sparseNib), dense = try NibRunner(denseNib)
            let direct = sparse.model.kernelNames.filter { $0.contains("conv3x3 direct") }
            XCTAssertEqual(direct.count, 2, "\(sparse.model.kernelNames)\n\(report)")
            XCTAssertTrue(report.sparseLayers.values.contains { $0.storage.hasPrefix("dense") }, "stride-2 conv stays dense\n\(report)")
            let ys = try sparse.run(x), yd = try dense.run(x)
            if recipe == .int8 {
                XCTAssertEqual(ys, yd)
            } else {
                let worst = zip(ys, yd).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-4)
            }
            summary.append("digits CNN \(recipe.rawValue) 50%: \(BitSerialRecipeTests.accuracy(ys, labels) * 100)%")
        }
        print(summary.joined(separator: "\n"))
    }

    func testRoundTripFromFileBytes() throws {
        let d = try digits()
        for recipe in [Recipe.fp32, .int8] {
            for (label, options) in Self.cases {
                let (nib, _) = try convert(d.onnx, recipe, d.calibration, options, storage: .sparse)
                let (again, _) = try convert(d.onnx, recipe, d.calibration, options, storage: .sparse)
                XCTAssertEqual(nib, again, "conversion is deterministic (\(recipe) \(label))")
                let file = try nib.withUnsafeBytes { try Reader.read($0) }
                XCTAssertTrue(file.graph.nodes.contains { $0.precision == .sparse })
                let a = try NibRunner(nib).run(Array(d.x.prefix(64 * 20)))
                let b = try NibRunner(Array(nib)).run(Array(d.x.prefix(64 * 20)))
                XCTAssertEqual(a, b)
            }
        }
    }

    /// Rewrites one constant of a converted sparse model (through Reader and Writer, so checksums stay valid)
    /// and expects the load to fail with `expected` in the message.
    func expectRejected(_ nib: [UInt8], tensorSuffix: String, expected: String,
                        file: StaticString = #filePath, line: UInt = #line, _ edit: (inout [UInt8]) -> Void) throws {
        let parsed = try nib.withUnsafeBytes { try Reader.read($0) }
        var data = parsed.graph.tensors.indices.map { parsed.graph.tensors[$0].role == .constant ? Array(parsed.constantBytes($0)) : [] }
        let t = try XCTUnwrap(parsed.graph.tensors.firstIndex { $0.name.hasSuffix(tensorSuffix) }, file: file, line: line)
        edit(&data[t])
        let bad = try Writer.serialize(parsed.graph, constantData: data)
        XCTAssertThrowsError(try Model(copying: bad), file: file, line: line) { error in
            let message = (error as? NibbleError)?.message ?? "\(error)"
            XCTAssertTrue(message.contains(expected), message, file: file, line: line)
            XCTAssertTrue(message.contains("node"), message, file: file, line: line)
        }
    }

    func testCorruptSparseSectionsRejected() throws {
        let d = try digits()
        let (csr, _) = try convert(d.onnx, .fp32, d.calibration, PruningOptions(sparsity: 0.9), storage: .sparse)
        func setInt32(_ b: inout [UInt8], _ i: Int, _ v: Int32) {
            withUnsafeBytes(of: v.littleEndian) { for k in 0..<4 { b[4 * i + k] = $0[k] } }
        }
        try expectRejected(csr, tensorSuffix: "csr_columns", expected: "expected 0...") { setInt32(&$0, 5, 9999) }
        try expectRejected(csr, tensorSuffix: "csr_columns", expected: "is -1") { setInt32(&$0, 0, -1) }
        try expectRejected(csr, tensorSuffix: "csr_columns", expected: "strictly increasing") { b in
            b.withUnsafeBytes { r in let v = r.load(fromByteOffset: 0, as: Int32.self); setInt32(&b, 1, v) }
        }
        try expectRejected(csr, tensorSuffix: "csr_rows", expected: "non-decreasing") { setInt32(&$0, 3, 1_000_000) }
        try expectRejected(csr, tensorSuffix: "csr_rows", expected: "row pointer 0") { setInt32(&$0, 0, 1) }
        try expectRejected(csr, tensorSuffix: "csr_rows", expected: "last row pointer") { b in
            let last = b.count / 4 - 1
            b.withUnsafeBytes { r in let v = r.load(fromByteOffset: 4 * last, as: Int32.self); setInt32(&b, last, v - 1) }
        }
        let (nm, _) = try convert(d.onnx, .int8, d.calibration, PruningOptions(nm: (2, 4)), storage: .sparse)
        // Slot 0 and 1 of a group both index 3: not strictly increasing.
        try expectRejected(nm, tensorSuffix: "nm_indices", expected: "strictly increasing") { $0[0] = 0b11_11 | ($0[0] & 0xF0) }
    }

    func testBadOptionsAreClearErrors() throws {
        let d = try digits()
        XCTAssertThrowsError(try Converter.convert(onnxBytes: d.onnx, pruning: PruningOptions(sparsity: 1.0))) {
            XCTAssertTrue("\($0)".contains("--sparsity 1.0 must be in (0, 1)"), "\($0)")
        }
        XCTAssertThrowsError(try Converter.convert(onnxBytes: d.onnx, pruning: PruningOptions(nm: (2, 8)))) {
            XCTAssertTrue("\($0)".contains("1 ≤ N < M ≤ 4"), "\($0)")
        }
        XCTAssertThrowsError(try Converter.convert(onnxBytes: d.onnx, recipe: .ternary, calibration: d.calibration,
                                                   pruning: PruningOptions(sparsity: 0.5))) {
            XCTAssertTrue("\($0)".contains("fp32 and int8"), "\($0)")
        }
        XCTAssertThrowsError(try PruningOptions.parseNM("2-4"))
    }
}
