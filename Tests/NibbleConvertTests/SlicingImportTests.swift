@testable import NibbleConvert
import NibbleFormat
import XCTest

/// Slice and Split of run-time tensors (→ Slice nodes) and ReduceMean over the spatial axes (→ GlobalAveragePool),
/// as PyTorch exports ShuffleNet's channel split and MNASNet's head: the converted model run by the runtime against
/// values computed here.
final class SlicingImportTests: XCTestCase {
    /// x[0, c, h, w] = 100c + 10h + w for a [1, 4, 3, 5] input.
    let x: [Float] = (0..<60).map { (i: Int) -> Float in
        let c: Int = i / 15, h: Int = i / 5 % 3, w: Int = i % 5
        return Float(100 * c + 10 * h + w)
    }

    /// Channels 1…2, every row, columns 4, 2, 0 (a negative step, an end clamped below the first index); then the
    /// same through opset 9's attributes (positive steps only there).
    func testSliceOfARunTimeTensor() throws {
        var b = ONNXBuilder()
        b.input("x", ["N", 4, 3, 5])
        b.initializer("starts", [2], ints: [1, -1]); b.initializer("ends", [2], ints: [3, -100])
        b.initializer("axes", [2], ints: [1, 3]); b.initializer("steps", [2], ints: [1, -2])
        b.node("Relu", ["x"], ["r"])
        b.node("Slice", ["r", "starts", "ends", "axes", "steps"], ["y"])
        b.outputs = ["y"]
        let (g, run) = try convert(b)
        XCTAssertEqual(g.nodes.map { $0.op }, [.relu, .slice])
        XCTAssertEqual(g.tensors[g.outputs[0]].shape, [1, 2, 3, 3])
        var expected: [Float] = []
        for c in 1...2 { for h in 0..<3 { for w in [4, 2, 0] { expected.append(Float(100 * c + 10 * h + w)) } } }
        XCTAssertEqual(try run.run(x), expected)

        // A step past Int32 on a dimension that keeps one index (the runtime reads steps as 32-bit values).
        var huge = ONNXBuilder()
        huge.input("x", ["N", 4, 3, 5])
        huge.initializer("starts", [1], ints: [1]); huge.initializer("ends", [1], ints: [2])
        huge.initializer("axes", [1], ints: [2]); huge.initializer("steps", [1], ints: [Int64.max])
        huge.node("Relu", ["x"], ["r"])
        huge.node("Slice", ["r", "starts", "ends", "axes", "steps"], ["y"])
        huge.outputs = ["y"]
        let (_, runHuge) = try convert(huge)
        expected = []
        for c in 0..<4 { for w in 0..<5 { expected.append(Float(100 * c + 10 + w)) } }
        XCTAssertEqual(try runHuge.run(x), expected)

        var old = ONNXBuilder()
        old.opset = 9
        old.input("x", ["N", 4, 3, 5])
        old.node("Relu", ["x"], ["r"])
        old.node("Slice", ["r"], ["y"], ["starts": .ints([2, 1]), "ends": .ints([100, 3]), "axes": .ints([1, 2])])
        old.outputs = ["y"]
        let (_, run9) = try convert(old)
        expected = []
        for c in 2...3 { for h in 1...2 { for w in 0..<5 { expected.append(Float(100 * c + 10 * h + w)) } } }
        XCTAssertEqual(try run9.run(x), expected)
    }

    /// Split along the channels by sizes and into equal halves; the parts concatenated in reverse order check both.
    func testSplitIntoSlices() throws {
        for sizes in [[1, 3] as [Int64], []] {
            var b = ONNXBuilder()
            b.input("x", ["N", 4, 3, 5])
            b.node("Relu", ["x"], ["r"])
            if sizes.isEmpty {
                b.node("Split", ["r"], ["a", "c"], ["axis": .int(1)])
            } else {
                b.initializer("split", [2], ints: sizes)
                b.node("Split", ["r", "split"], ["a", "c"], ["axis": .int(1)])
            }
            b.node("Concat", ["c", "a"], ["y"], ["axis": .int(1)])
            b.outputs = ["y"]
            let (g, run) = try convert(b)
            XCTAssertEqual(g.nodes.map { $0.op }, [.relu, .slice, .slice, .concat], "\(sizes)")
            let first = sizes.isEmpty ? 2 : 1
            XCTAssertEqual(try run.run(x), Array(x[(15 * first)...] + x[..<(15 * first)]), "\(sizes)")
        }
        var bad = ONNXBuilder()
        bad.input("x", ["N", 4, 3, 5])
        bad.node("Relu", ["x"], ["r"])
        bad.initializer("split", [2], ints: [1, 2])
        bad.node("Split", ["r", "split"], ["a", "c"], name: "split", ["axis": .int(1)])
        bad.outputs = ["a"]
        XCTAssertThrowsError(try convert(bad)) { XCTAssertTrue("\($0)".contains("node 'split' (Split): split sizes [1, 2]"), "\($0)") }
    }

    /// ReduceMean over H and W: a GlobalAveragePool, reshaped to [N, C] without keepdims; other axes are refused.
    func testReduceMeanOverTheSpatialAxes() throws {
        for keep in [1, 0] {
            var b = ONNXBuilder()
            b.input("x", ["N", 4, 3, 5])
            b.node("Relu", ["x"], ["r"])
            b.node("ReduceMean", ["r"], ["y"], ["axes": .ints([-1, 2]), "keepdims": .int(Int64(keep))])
            b.outputs = ["y"]
            let (g, run) = try convert(b)
            XCTAssertEqual(g.tensors[g.outputs[0]].shape, keep == 1 ? [1, 4, 1, 1] : [1, 4], "keepdims \(keep)")
            let y = try run.run(x)
            for c in 0..<4 { XCTAssertEqual(y[c], Float(100 * c) + 12, accuracy: 1e-4, "keepdims \(keep) channel \(c)") }
        }
        var b = ONNXBuilder()
        b.input("x", ["N", 4, 3, 5])
        b.node("Relu", ["x"], ["r"])
        b.node("ReduceMean", ["r"], ["y"], name: "mean", ["axes": .ints([1])])
        b.outputs = ["y"]
        XCTAssertThrowsError(try convert(b)) {
            XCTAssertTrue("\($0)".contains("node 'mean' (ReduceMean): ReduceMean over axes [1]"), "\($0)")
        }
    }
}
