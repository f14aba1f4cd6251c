import NibbleConvert
import XCTest

final class RecipeFileTests: XCTestCase {
    func testParsesEveryKeyWithCommentsAndBlankLines() throws {
        let text = """
            # digits CNN: ternary body, 8-bit ends

            default = ternary          # same as recipe =
            group-size=8
            residual-edges = 3
            act-bits = 4
            calibration = percentile:99.9
            layer conv1 = int8
            layer\tfc = fp32\r
            """
        let f = try RecipeFile(text: text, path: "r.txt")
        XCTAssertEqual(f.recipe, "ternary")
        XCTAssertEqual(f.groupSize, 8)
        XCTAssertEqual(f.residualEdges, 3)
        XCTAssertEqual(f.activationBits, 4)
        XCTAssertEqual(f.calibration, "percentile:99.9")
        XCTAssertEqual(f.layers.map { "\($0.name)=\($0.precision)" }, ["conv1=int8", "fc=fp32"])
        let bitSerial = try RecipeFile(text: "recipe = w4a4\nlayer fc1 = w4a4\nlayer fc0 = int8\n", path: "r.txt")
        XCTAssertEqual(bitSerial.recipe, "w4a4")
        XCTAssertEqual(bitSerial.layers.count, 2)
        XCTAssertEqual(try RecipeFile(text: "", path: "empty.txt"), try RecipeFile(text: "# nothing\n\n", path: "x"))
    }

    func expectError(_ text: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try RecipeFile(text: text, path: "recipes/m.txt"), file: file, line: line) { error in
            for f in fragments { XCTAssertTrue("\(error)".contains(f), "'\(f)' not in: \(error)", file: file, line: line) }
        }
    }

    func testErrorsNameFileLineAndWhatIsValid() {
        let cases: [(String, [String])] = [
            ("recipe = ternary\ngroupsize = 4", ["recipes/m.txt:2:", "unknown key 'groupsize'", "group-size"]),
            ("# c\nrecipe = ternay", ["recipes/m.txt:2:", "unknown recipe 'ternay'", "fp32, int8, ternary, wKaM"]),
            ("recipe = wKaM", ["recipes/m.txt:1:", "unknown recipe 'wKaM'"]),
            ("recipe = w3a9", ["recipes/m.txt:1:", "9-bit activations", "1...4"]),
            ("recipe ternary", ["recipes/m.txt:1:", "expected KEY = VALUE"]),
            ("recipe = ternary\n\ndefault = int8", ["recipes/m.txt:3:", "given again (first on line 1)"]),
            ("recipe = ternary\ngroup-size = 0", ["recipes/m.txt:2:", "1...4096"]),
            ("recipe = ternary\nresidual-edges = 17", ["recipes/m.txt:2:", "1...16"]),
            ("calibration = percentile:40", ["recipes/m.txt:1:", "minmax or percentile:P"]),
            ("recipe = int8\ngroup-size = 8", ["recipes/m.txt:2:", "group-size applies to recipe ternary only"]),
            ("recipe = ternary\nlayer conv1 = w4a4", ["recipes/m.txt:2:", "unknown precision 'w4a4' for recipe ternary", "int8, ternary, fp32"]),
            ("recipe = w2a2\nlayer conv1 = ternary", ["recipes/m.txt:2:", "int8, fp32, w2a2"]),
            ("layer conv1 = int8", ["recipes/m.txt:1:", "apply to recipes ternary and wKaM only", "fp32"]),
            ("recipe = ternary\nlayer conv1 = int8\nlayer conv1 = fp32", ["recipes/m.txt:3:", "given again (first on line 2)"]),
            ("recipe = ternary\nlayer a b = int8", ["recipes/m.txt:2:", "white space"]),
            ("recipe =", ["recipes/m.txt:1:", "no value"]),
            ("recipe = ternary\nact-bits = 9", ["recipes/m.txt:2:", "act-bits '9'", "1...8"]),
            ("recipe = w2a2\nact-bits = 4", ["recipes/m.txt:2:", "act-bits applies to recipe ternary only"]),
        ]
        for (text, fragments) in cases { expectError(text, fragments) }
    }
}
