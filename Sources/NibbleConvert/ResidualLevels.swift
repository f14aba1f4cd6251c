import NibbleFormat
import NibbleRuntime

/// Assigns the level of every ternary residual edge from its sensitivity on the calibration set, and measures
/// the model's output error vs fp32 at every level (docs/FORMAT.md §4.4).
///
/// Sensitivity of a ternary layer: the model's relative output error vs fp32 when that layer alone runs only
/// its first edge (all others run all edges), minus the error with all edges. Levels: edge 0 of every layer
/// is level 0; edge e ≥ 1 of the layer ranked r (0 = most sensitive, of T ternary layers) gets level
/// (e − 1)·T + r + 1. So each level adds one edge of one layer, the most sensitive layers' refinements first,
/// and all second edges come before any third edge.
enum ResidualLevels {
    struct Result {
        /// Per ternary layer (by node name): the sensitivity and its final edge levels.
        var sensitivity: [String: Double]
        var levels: [String: [Int]]
        /// Calibration error at each level 0…max.
        var perLevel: [ConversionReport.LevelError]
    }

    /// Runs a `.nib` over a batch: output 0 of every sample, concatenated, at the session's current levels.
    final class Runner {
        let model: Model
        let session: Session

        init(_ nib: [UInt8]) throws {
            do {
                model = try Model(copying: nib)
                session = try Session(model: model)
            } catch {
                throw ConvertError.runtime("residual levels: the runtime refused the model: \(error.message)")
            }
        }

        func run(_ data: CalibrationData) throws -> [Float] {
            let inCount = model.input(0).elementCount
            let outCount = model.output(0).elementCount
            if data.values.count != inCount * data.sampleCount {
                throw ConvertError.invalidInput("calibration data has shape \(data.samples.shape); the model input '\(model.input(0).name)' needs [N] + \(Array(model.input(0).shape.dropFirst()))")
            }
            var out = [Float](repeating: 0, count: outCount * data.sampleCount)
            for s in 0..<data.sampleCount {
                do {
                    try data.values.withUnsafeBufferPointer {
                        try session.setInput(0, floats: UnsafeBufferPointer(rebasing: $0[(s * inCount)..<((s + 1) * inCount)]))
                    }
                } catch let e as NibbleError {
                    throw ConvertError.runtime("residual levels: sample \(s): \(e.message)")
                }
                session.run()
                let o = session.output(0)
                for k in 0..<outCount { out[s * outCount + k] = o.load(fromByteOffset: 4 * k, as: Float.self) }
            }
            return out
        }
    }

    /// ‖y − ref‖ / ‖ref‖ over the whole batch, and the fraction of samples whose arg-max matches.
    static func compare(_ y: [Float], _ ref: [Float], samples: Int) -> ConversionReport.LevelError {
        var num = 0.0, den = 0.0
        for (a, b) in zip(y, ref) { num += Double(a - b) * Double(a - b); den += Double(b) * Double(b) }
        let per = samples > 0 ? ref.count / samples : 0
        var agree = 0
        if per > 0 {
            for s in 0..<samples {
                let a = y[(s * per)..<((s + 1) * per)], b = ref[(s * per)..<((s + 1) * per)]
                if a.indices.max(by: { a[$0] < a[$1] }) == b.indices.max(by: { b[$0] < b[$1] }) { agree += 1 }
            }
        }
        return .init(level: -1, relativeError: den > 0 ? (num / den).squareRoot() : num.squareRoot(),
                     top1Agreement: samples > 0 ? Double(agree) / Double(samples) : 1)
    }

    /// Rewrites the `edge_levels` of the ternary nodes of `graph` (serialized as `nib`, fp32 reference
    /// `fp32Nib`) by sensitivity, and measures every level on `data`.
    static func assign(_ graph: inout Graph, nib: [UInt8], fp32Nib: [UInt8], data: CalibrationData,
                       serialize: (Graph) throws -> [UInt8]) throws -> Result {
        let reference = try Runner(fp32Nib).run(data)
        let ternary = graph.nodes.indices.filter { graph.nodes[$0].precision == .ternary }
        var result = Result(sensitivity: [:], levels: [:], perLevel: [])
        if ternary.isEmpty { return result }
        let provisional = try Runner(nib)
        let full = compare(try provisional.run(data), reference, samples: data.sampleCount).relativeError
        var sensitivity: [Int: Double] = [:]
        for n in ternary {
            do {
                try provisional.session.setResidualLevel(-1)
                try provisional.session.setResidualLevel(0, layer: n)
            } catch {
                throw ConvertError.runtime("residual levels: \(error.message)")
            }
            let e = compare(try provisional.run(data), reference, samples: data.sampleCount).relativeError
            sensitivity[n] = e - full
            result.sensitivity[graph.nodes[n].name] = e - full
        }
        let ranked = ternary.sorted { (sensitivity[$0]!, -$0) > (sensitivity[$1]!, -$1) }
        for (rank, n) in ranked.enumerated() {
            let edges = graph.nodes[n].attribute(.edgeLevels)?.ints.count ?? 1
            let levels = (0..<edges).map { e in e == 0 ? 0 : (e - 1) * ternary.count + rank + 1 }
            graph.nodes[n].attributes.removeAll { $0.key == .edgeLevels }
            graph.nodes[n].attributes.append(Attribute(.edgeLevels, ints: levels.map { Int64($0) }))
            result.levels[graph.nodes[n].name] = levels
        }
        let final = try Runner(try serialize(graph))
        for level in 0...final.model.maxResidualLevel {
            do { try final.session.setResidualLevel(level) } catch { throw ConvertError.runtime("residual levels: \(error.message)") }
            var m = compare(try final.run(data), reference, samples: data.sampleCount)
            m.level = level
            result.perLevel.append(m)
        }
        return result
    }
}
