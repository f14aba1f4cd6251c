import XCTest
import NibbleKernels

/// Sparse GEMM (CSR and N:M, fp32 and int8) at every level this host runs against the dense reference of the
/// same weights: int8 bit for bit, fp32 within a tolerance scaled by Σ|w·x| (sums are reassociated).
final class SparseGEMMTests: XCTestCase {
    enum Kind { case csr(density: Double), nm(Int, Int) }

    /// A random dense matrix pruned to `kind`: CSR keeps each weight with probability `density` (so rows may be
    /// empty); N:M keeps N random columns of every group.
    func prunedMatrix(rows: Int, columns: Int, kind: Kind, rng: inout SplitMix) -> [Float] {
        var w = [Float](repeating: 0, count: rows * columns)
        for o in 0..<rows {
            switch kind {
            case .csr(let d):
                for k in 0..<columns where Double(rng.next() % 1_000_000) / 1e6 < d { w[o * columns + k] = rng.float(-1, 1) }
            case .nm(let n, let m):
                var g = 0
                while g < columns {
                    let length = min(m, columns - g)
                    var cols = Array(0..<length)
                    for i in stride(from: length - 1, to: 0, by: -1) { cols.swapAt(i, rng.int(0...i)) }
                    for c in cols.prefix(n) { w[o * columns + g + c] = rng.float(-1, 1) }
                    g += m
                }
            }
        }
        return w
    }

    /// Runs `body` with the layout (and owned index arrays) of `dense` as `kind`.
    func withLayout<T: Numeric, R>(_ dense: [T], rows: Int, columns: Int, kind: Kind,
                                    _ body: (SparseLayout, UnsafePointer<T>, Int) -> R) -> R {
        switch kind {
        case .csr:
            let e = SparseEncoding.csr(dense, rows: rows, columns: columns)
            return e.rowPointers.withUnsafeBufferPointer { rp in e.columnIndices.withUnsafeBufferPointer { ci in
                e.values.withUnsafeBufferPointer { v in
                    let c = SparseCSR(rows: rows, columns: columns, rowPointers: rp.baseAddress!, columnIndices: ci.baseAddress ?? rp.baseAddress!)
                    XCTAssertNil(SparseValidation.check(c, valueCount: e.values.count, indexCount: e.columnIndices.count))
                    return body(.csr(c), v.baseAddress ?? UnsafePointer(bitPattern: 64)!, e.values.count)
                }
            }}
        case .nm(let n, let m):
            let e = SparseEncoding.nm(dense, rows: rows, columns: columns, n: n, m: m)!
            return e.indices.withUnsafeBufferPointer { ix in e.values.withUnsafeBufferPointer { v in
                let s = SparseNM(rows: rows, columns: columns, n: n, m: m, indices: ix.baseAddress ?? UnsafePointer(bitPattern: 64)!)
                XCTAssertNil(SparseValidation.check(s) { e.values[$0] == 0 })
                return body(.nm(s), v.baseAddress ?? UnsafePointer(bitPattern: 64)!, e.values.count)
            }}
        }
    }

    func checkF32(rows: Int, columns: Int, pixels: Int, batch: Int, kind: Kind, seed: UInt64, clamp: (Float, Float)) {
        var rng = SplitMix(seed: seed)
        let w = prunedMatrix(rows: rows, columns: columns, kind: kind, rng: &rng)
        let x = (0..<(batch * columns * pixels)).map { _ in rng.float(-2, 2) }
        let bias = (0..<rows).map { _ in rng.float(-1, 1) }
        // Dense equivalent computed here, independent of SparseEncoding.
        let n = batch * rows * pixels
        var expected = [Float](repeating: 0, count: n), bound = [Float](repeating: 0, count: n)
        for b in 0..<batch { for o in 0..<rows { for p in 0..<pixels {
            var s = bias[o], a = abs(bias[o])
            for k in 0..<columns { let t = w[o * columns + k] * x[(b * columns + k) * pixels + p]; s += t; a += abs(t) }
            expected[(b * rows + o) * pixels + p] = max(min(s, clamp.1), clamp.0); bound[(b * rows + o) * pixels + p] = a
        }}}
        withLayout(w, rows: rows, columns: columns, kind: kind) { layout, values, _ in
            let scratch = AlignedBuffer<UInt8>(count: SparseGEMM.scratchByteCount(layout, pixels: pixels, int8: false), fill: 0xA5)
            for isa in KernelISA.supported {
                var out = [Float](repeating: .nan, count: n)
                SparseGEMM.run(layout, pixels: pixels, batch: batch, values: values, input: x, bias: bias, output: &out,
                               scratch: scratch.raw, outputMin: clamp.0, outputMax: clamp.1, isa: isa)
                var bad = 0
                for i in 0..<n where !(abs(out[i] - expected[i]) <= 1e-5 * bound[i] + 1e-6) { bad += 1 }
                XCTAssertEqual(bad, 0, "\(isa.name) \(kind) \(rows)x\(columns) pixels \(pixels) batch \(batch)")
            }
        }
    }

    func checkInt8(rows: Int, columns: Int, pixels: Int, batch: Int, kind: Kind, seed: UInt64, clamp: (Float, Float)) {
        var rng = SplitMix(seed: seed)
        let pattern = prunedMatrix(rows: rows, columns: columns, kind: kind, rng: &rng)
        // int8 values where the pattern is nonzero (never 0 there, so the pattern is kept exactly).
        let w: [Int8] = pattern.map { $0 == 0 ? 0 : Int8([-128, -1, 1, 127, Int(rng.int(-127...127)) | 1][rng.int(0...4)]) }
        let x = (0..<(batch * columns * pixels)).map { _ in rng.float(-1.3, 3.5) }
        let scales = (0..<rows).map { _ in rng.float(0.001, 0.02) }, bias = (0..<rows).map { _ in rng.float(-1, 1) }
        let inputScale: Float = 3.0 / 255, zp = Int32(rng.int(0...255))
        let n = batch * rows * pixels
        // Dense equivalent: the dense int8 reference on the same matrix, sample by sample.
        var expected = [Float](repeating: 0, count: n)
        let g = ConvGeometry(inC: columns, inH: 1, inW: pixels, outC: rows, outH: 1, outW: pixels, kernelH: 1, kernelW: 1)
        for b in 0..<batch {
            x.withUnsafeBufferPointer { xp in expected.withUnsafeMutableBufferPointer { ep in
                Int8ConvReference.run(g, input: xp.baseAddress! + b * columns * pixels, inputScale: inputScale, inputZeroPoint: zp,
                                      weights: w, weightScales: scales, bias: bias, output: ep.baseAddress! + b * rows * pixels,
                                      outputMin: clamp.0, outputMax: clamp.1)
            }}
        }
        withLayout(w, rows: rows, columns: columns, kind: kind) { layout, values, _ in
            let scratch = AlignedBuffer<UInt8>(count: SparseGEMM.scratchByteCount(layout, pixels: pixels, int8: true), fill: 0xA5)
            for isa in KernelISA.supported {
                var out = [Float](repeating: .nan, count: n)
                SparseGEMM.run(layout, pixels: pixels, batch: batch, values: values, input: x, inputScale: inputScale,
                               inputZeroPoint: zp, weightScales: scales, bias: bias, output: &out, scratch: scratch.raw,
                               outputMin: clamp.0, outputMax: clamp.1, isa: isa)
                var bad = 0
                for i in 0..<n where out[i] != expected[i] { bad += 1 }
                XCTAssertEqual(bad, 0, "\(isa.name) \(kind) \(rows)x\(columns) pixels \(pixels) batch \(batch)")
            }
        }
    }

    let kinds: [Kind] = [.csr(density: 1), .csr(density: 0.5), .csr(density: 0.1), .csr(density: 0), .nm(2, 4), .nm(1, 4), .nm(1, 2), .nm(3, 4)]

    func testRandomShapesFP32() {
        var rng = SplitMix(seed: 11)
        for i in 0..<120 {
            let kind = kinds[i % kinds.count]
            let pixels = [1, 1, 3, 8, 17, 33, 64, 196][rng.int(0...7)]
            let clamps: [(Float, Float)] = [(-.infinity, .infinity), (0, .infinity), (-0.5, 0.75)]
            checkF32(rows: rng.int(1...37), columns: rng.int(1...71), pixels: pixels, batch: rng.int(1...3), kind: kind,
                     seed: UInt64(i), clamp: clamps[i % 3])
        }
    }

    func testRandomShapesInt8() {
        var rng = SplitMix(seed: 12)
        for i in 0..<120 {
            let kind = kinds[i % kinds.count]
            let pixels = [1, 1, 3, 8, 16, 17, 33, 196][rng.int(0...7)]
            let clamps: [(Float, Float)] = [(-.infinity, .infinity), (0, .infinity), (-0.5, 0.75)]
            checkInt8(rows: rng.int(1...37), columns: rng.int(1...71), pixels: pixels, batch: rng.int(1...3), kind: kind,
                      seed: UInt64(i), clamp: clamps[i % 3])
        }
    }

    func testCanonicalShapesAt90Percent() {
        // L5 (1x1 256→1024 @14², 196 pixels) and G1 (FC 4096→1000) at 90 % and 2:4, as benchmarked, with fewer
        // output channels (rows are independent; the debug-build dense check of all of them takes a minute).
        checkF32(rows: 67, columns: 256, pixels: 196, batch: 1, kind: .csr(density: 0.1), seed: 1, clamp: (-.infinity, .infinity))
        checkF32(rows: 61, columns: 4096, pixels: 1, batch: 2, kind: .nm(2, 4), seed: 2, clamp: (0, .infinity))
        checkInt8(rows: 67, columns: 256, pixels: 196, batch: 1, kind: .nm(2, 4), seed: 3, clamp: (-.infinity, .infinity))
        checkInt8(rows: 61, columns: 4096, pixels: 1, batch: 1, kind: .csr(density: 0.1), seed: 4, clamp: (-.infinity, .infinity))
    }

    func testEncodingRoundTrip() {
        var rng = SplitMix(seed: 13)
        for kind in kinds {
            let rows = 7, columns = 13
            let w = prunedMatrix(rows: rows, columns: columns, kind: kind, rng: &rng)
            let back: [Float] = withLayout(w, rows: rows, columns: columns, kind: kind) { layout, values, _ in
                SparseEncoding.dense(layout, values: values)
            }
            XCTAssertEqual(back, w, "\(kind)")
        }
        // A group with more than N nonzeros is not N:M.
        XCTAssertNil(SparseEncoding.nm([Float](repeating: 1, count: 8), rows: 1, columns: 8, n: 2, m: 4))
        XCTAssertNil(SparseEncoding.nm([Float](repeating: 0, count: 8), rows: 1, columns: 8, n: 4, m: 4))
    }

    func testValidationRejectsCorruptCSR() {
        func check(_ rp: [Int32], _ ci: [Int32], columns: Int = 4, values: Int? = nil) -> String? {
            rp.withUnsafeBufferPointer { r in ci.withUnsafeBufferPointer { c in
                SparseValidation.check(SparseCSR(rows: rp.count - 1, columns: columns, rowPointers: r.baseAddress!,
                                                 columnIndices: c.baseAddress ?? r.baseAddress!),
                                       valueCount: values ?? ci.count, indexCount: ci.count)
            }}
        }
        XCTAssertNil(check([0, 2, 2, 3], [0, 3, 1]))
        XCTAssertTrue(check([1, 2, 2, 3], [0, 3, 1])!.contains("row pointer 0"))
        XCTAssertTrue(check([0, 2, 1, 3], [0, 3, 1])!.contains("non-decreasing"))
        XCTAssertTrue(check([0, 2, 2, 4], [0, 3, 1])!.contains("last row pointer"))
        XCTAssertTrue(check([0, 2, 2, 3], [0, 3, 1], values: 2)!.contains("value count 2"))
        XCTAssertTrue(check([0, 2, 2, 3], [0, 4, 1])!.contains("expected 0...3"))
        XCTAssertTrue(check([0, 2, 2, 3], [0, -1, 1])!.contains("is -1"))
        XCTAssertTrue(check([0, 2, 2, 3], [3, 3, 1])!.contains("strictly increasing"))
    }

    func testValidationRejectsCorruptNM() {
        func check(_ idx: [UInt8], columns: Int, values: [Float]) -> String? {
            idx.withUnsafeBufferPointer { ix in
                SparseValidation.check(SparseNM(rows: 1, columns: columns, n: 2, m: 4, indices: ix.baseAddress!)) { values[$0] == 0 }
            }
        }
        // 2:4 over 5 columns: group 0 slots 0,1; group 1 (1 column) slots 2 (index 0), 3 (padding: index 0, value 0).
        XCTAssertNil(check([0b00_00_11_01], columns: 5, values: [1, 1, 1, 0]))
        XCTAssertTrue(check([0b00_00_01_11], columns: 5, values: [1, 1, 1, 0])!.contains("strictly increasing"))
        XCTAssertTrue(check([0b00_01_11_01], columns: 5, values: [1, 1, 1, 0])!.contains("expected 0...0"))
        XCTAssertTrue(check([0b00_00_11_01], columns: 5, values: [1, 1, 1, 2])!.contains("past the 1 columns"))
        // 2:4 over 2 columns: one group of 2, 2 slots, so the upper 4 bits of the byte are padding.
        XCTAssertTrue(check([0b01_00_01_00], columns: 2, values: [1, 1])!.contains("zero padding"))
    }

    func testCostModelOrdersChoices() {
        // Monotone in the stored values; the documented regimes: L5 at 90 % sparse wins, FC at 50 % loses.
        var last = Double.infinity
        for stored in [262_144, 131_072, 26_214, 2_621] {
            let s = SparseCostModel.predictedSpeedup(rows: 1024, columns: 256, pixels: 196, storedValues: stored, int8: false, nm: false)
            XCTAssertGreaterThan(s, last == .infinity ? 0 : last)
            last = s
        }
        XCTAssertGreaterThan(SparseCostModel.predictedSpeedup(rows: 1024, columns: 256, pixels: 196, storedValues: 26_214, int8: false, nm: false), 1)
        XCTAssertLessThan(SparseCostModel.predictedSpeedup(rows: 1000, columns: 4096, pixels: 1, storedValues: 2_048_000, int8: false, nm: true), 1)
        // Direct 3x3 convs at 90 %: wide rows (L1, 56) win, narrow rows (L4, 7) lose.
        XCTAssertGreaterThan(SparseCostModel.predictedSpeedup(rows: 64, columns: 576, pixels: 3136, storedValues: 3_686, int8: false, nm: false, runLength: 56), 1)
        XCTAssertLessThan(SparseCostModel.predictedSpeedup(rows: 512, columns: 4608, pixels: 49, storedValues: 235_930, int8: false, nm: false, runLength: 7), 1)
    }
}
