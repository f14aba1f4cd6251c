/// `nibble convert --recipe-file R.txt`: the conversion options in a small text file, one per line, so a
/// mixed-precision recipe can be kept next to the model and reviewed. Equivalent to the command-line options:
///
/// ```
/// # digits CNN: ternary body, 8-bit ends
/// recipe = ternary            # or `default = …`; fp32, int8, ternary, wKaM (w4a4, w2a2, …)
/// group-size = 16             # ternary only (--group-size)
/// residual-edges = 2          # ternary only (--residual-edges)
/// act-bits = 4                # ternary only (--act-bits): k-bit activations of ternary layers
/// calibration = percentile:99.99   # minmax or percentile:P (--calibration)
/// layer conv1 = int8          # one line per node (--layer conv1=int8): ternary takes int8|ternary|fp32,
/// layer fc = fp32             #   wKaM takes int8|fp32|wKaM
/// ```
///
/// `#` starts a comment; blank lines are skipped; keys are case-sensitive; each key and each layer at most once.
/// Every error names the file, the line and what is valid.
public struct RecipeFile: Sendable, Equatable {
    public var recipe: String?
    public var groupSize: Int?
    public var residualEdges: Int?
    public var activationBits: Int?
    public var calibration: String?
    /// Node name → precision, in file order.
    public var layers: [(name: String, precision: String)] = []

    public static let keys = "recipe (or default), group-size, residual-edges, act-bits, calibration, layer NAME"

    public static func == (a: RecipeFile, b: RecipeFile) -> Bool {
        a.recipe == b.recipe && a.groupSize == b.groupSize && a.residualEdges == b.residualEdges && a.activationBits == b.activationBits
            && a.calibration == b.calibration && a.layers.elementsEqual(b.layers) { $0 == $1 }
    }

    /// Parses and checks `text`; `path` names the file in error messages.
    public init(text: String, path: String) throws(ConvertError) {
        var seen: [String: Int] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            func fail(_ what: String) -> ConvertError { .invalidInput("\(path):\(lineNumber): \(what)") }
            let line = (raw.firstIndex(of: "#").map { raw[..<$0] } ?? raw[...]).trimmingWhitespace()
            if line.isEmpty { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw fail("expected KEY = VALUE, found '\(line)'; keys: \(RecipeFile.keys)")
            }
            let key = line[..<eq].trimmingWhitespace(), value = line[line.index(after: eq)...].trimmingWhitespace()
            if value.isEmpty { throw fail("'\(key)' has no value") }
            var id = key
            if key.hasPrefix("layer ") || key.hasPrefix("layer\t") {
                let name = key.dropFirst("layer".count).trimmingWhitespace()
                if name.contains(where: { $0 == " " || $0 == "\t" }) { throw fail("layer name '\(name)' contains white space; node names are one word") }
                id = "layer \(name)"
            } else if key == "default" {
                id = "recipe"
            }
            if let first = seen[id] { throw fail("'\(key)' is given again (first on line \(first)); each key and layer at most once") }
            seen[id] = lineNumber
            switch id {
            case "recipe":
                let bitSerial: BitSerialOptions?
                do { bitSerial = try BitSerialOptions.parse(value) } catch let e as ConvertError { throw fail(e.message) } catch { throw fail("\(error)") }
                if bitSerial == nil && (Recipe(rawValue: value) ?? .bitSerial) == .bitSerial {
                    throw fail("unknown recipe '\(value)'; valid: fp32, int8, ternary, wKaM with K and M in 1...4 (e.g. w4a4, w2a2, w1a1)")
                }
                recipe = value
            case "group-size":
                guard let v = Int(value), (1...4096).contains(v) else { throw fail("group-size '\(value)' must be an integer in 1...4096") }
                groupSize = v
            case "residual-edges":
                guard let v = Int(value), (1...16).contains(v) else { throw fail("residual-edges '\(value)' must be an integer in 1...16") }
                residualEdges = v
            case "act-bits":
                guard let v = Int(value), (1...8).contains(v) else { throw fail("act-bits '\(value)' must be an integer in 1...8 (8 = uint8 activations)") }
                activationBits = v
            case "calibration":
                if value != "minmax" && RecipeFile.percentile(value) == nil {
                    throw fail("calibration '\(value)' is not valid; use minmax or percentile:P with 50 < P <= 100")
                }
                calibration = value
            default:
                if id.hasPrefix("layer ") {
                    let name = String(id.dropFirst("layer ".count))
                    if name.isEmpty { throw fail("'layer' needs a node name: layer NAME = PRECISION") }
                    layers.append((name, value))
                } else {
                    throw fail("unknown key '\(key)'; keys: \(RecipeFile.keys)")
                }
            }
        }
        // What the options allow together, as the command line checks them, but naming the line.
        let chosen = recipe ?? "fp32"
        func failAt(_ id: String, _ what: String) -> ConvertError { .invalidInput("\(path):\(seen[id] ?? 0): \(what)") }
        if chosen != "ternary" {
            for id in ["group-size", "residual-edges", "act-bits"] where seen[id] != nil {
                throw failAt(id, "\(id) applies to recipe ternary only (this file's recipe is \(chosen))")
            }
        }
        let bitSerial = (try? BitSerialOptions.parse(chosen)) ?? nil
        for l in layers {
            let valid: [String]
            if chosen == "ternary" { valid = ["int8", "ternary", "fp32"] }
            else if bitSerial != nil { valid = ["int8", "fp32", chosen] }
            else { throw failAt("layer \(l.name)", "layer lines apply to recipes ternary and wKaM only (this file's recipe is \(chosen))") }
            if !valid.contains(l.precision) {
                throw failAt("layer \(l.name)", "layer \(l.name): unknown precision '\(l.precision)' for recipe \(chosen); valid: \(valid.joined(separator: ", "))")
            }
        }
    }

    /// P of "percentile:P" when 50 < P ≤ 100.
    public static func percentile(_ s: String) -> Double? {
        guard s.hasPrefix("percentile:"), let p = Double(s.dropFirst("percentile:".count)), p > 50, p <= 100 else { return nil }
        return p
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" || c == "\r" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s = s.dropLast() }
        return String(s)
    }
}
