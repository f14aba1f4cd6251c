import Foundation
import NibbleFormat
import NibbleRuntime

/// Sample inputs for calibration: a float32 batch, batch first ([N, …] where … is the model input's
/// shape without its batch dimension), usually read from an `.npy` file.
public struct CalibrationData: Sendable {
    public let samples: NPYArray
    public let values: [Float]

    public init(_ samples: NPYArray, name: String = "calibration data") throws {
        guard let v = samples.floats else {
            throw ConvertError.invalidInput("\(name): dtype \(samples.descr) is not supported for calibration; supported: float32 ('<f4')")
        }
        if samples.shape.isEmpty || samples.shape[0] < 1 {
            throw ConvertError.invalidInput("\(name): shape \(samples.shape) has no samples; expected [N, …] with N >= 1")
        }
        self.samples = samples
        self.values = v
    }

    public init(contentsOf url: URL) throws {
        try self.init(try NPY.read(contentsOf: url), name: url.path)
    }

    public var sampleCount: Int { samples.shape[0] }
}

/// How a tensor's activation range is chosen from the calibration values.
public enum CalibrationMethod: Sendable, Equatable, CustomStringConvertible {
    /// The observed minimum and maximum (the default).
    case minMax
    /// The p-th and (100 − p)-th percentiles of the observed values (sort-based, e.g. 99.99),
    /// which ignores rare outliers.
    case percentile(Double)

    public static let `default` = CalibrationMethod.minMax

    public var description: String {
        switch self {
        case .minMax: return "minmax"
        case .percentile(let p): return "percentile(\(p))"
        }
    }
}

/// Runs the fp32 model with the Nibble runtime on each calibration sample and records the values of
/// chosen tensors just before the nodes that read them (`Session.run(observer:)`).
enum Calibrator {
    /// Values kept per tensor for percentiles; larger observations are subsampled evenly.
    static let maxKeptValues = 1 << 22

    /// Returns (min, max) for every tensor index in `tensors`, observed at the nodes that read them.
    static func ranges(nib: [UInt8], tensors: Set<Int>, data: CalibrationData, method: CalibrationMethod) throws -> [Int: (min: Float, max: Float)] {
        try observe(nib: nib, tensors: tensors, data: data, method: method).ranges
    }

    /// Values kept per tensor for choosing bit-serial activation steps (`samples` of `observe`).
    static let maxSampleValues = 1 << 16

    /// Like `ranges`, plus up to `sampleValues` values per tensor, taken evenly over the calibration batch
    /// (empty unless `sampleValues` > 0).
    static func observe(nib: [UInt8], tensors: Set<Int>, data: CalibrationData, method: CalibrationMethod,
                        sampleValues: Int = 0) throws -> (ranges: [Int: (min: Float, max: Float)], samples: [Int: [Float]]) {
        if case .percentile(let p) = method, !(p > 50 && p <= 100) {
            throw ConvertError.invalidInput("calibration: percentile \(p) outside (50, 100]")
        }
        let model: Model
        do {
            model = try Model(copying: nib)
        } catch {
            throw ConvertError.runtime("calibration: the runtime refused the fp32 model: \(error.message)")
        }
        if model.inputCount != 1 {
            throw ConvertError.unsupported("calibration: the model has \(model.inputCount) inputs; calibration supports single-input models")
        }
        let input = model.input(0)
        let sampleSize = input.elementCount
        let dataSample = data.samples.shape.dropFirst().reduce(1, *)
        if dataSample != sampleSize {
            throw ConvertError.invalidInput("calibration data has shape \(data.samples.shape); the model input '\(input.name)' needs [N] + \(Array(input.shape.dropFirst()))")
        }
        let session: Session
        do { session = try Session(model: model) } catch {
            throw ConvertError.runtime("calibration: cannot create a session: \(error.message)")
        }
        let graph = model.graph
        var lo: [Int: Float] = [:], hi: [Int: Float] = [:]
        var kept: [Int: [Float]] = [:]
        var stride: [Int: Int] = [:]
        var sampled: [Int: [Float]] = [:]
        var sampleStride: [Int: Int] = [:]
        if sampleValues > 0 {
            for t in tensors {
                let total = graph.tensors[t].elementCount * data.sampleCount
                sampleStride[t] = max(1, (total + sampleValues - 1) / sampleValues)
            }
        }
        let percentile: Double? = { if case .percentile(let p) = method { return p } else { return nil } }()
        if percentile != nil {
            for t in tensors {
                let total = graph.tensors[t].elementCount * data.sampleCount
                stride[t] = max(1, (total + maxKeptValues - 1) / maxKeptValues)
            }
        }
        for s in 0..<data.sampleCount {
            do {
                try data.values.withUnsafeBufferPointer { all in
                    try session.setInput(0, floats: UnsafeBufferPointer(rebasing: all[(s * sampleSize)..<((s + 1) * sampleSize)]))
                }
            } catch let e as NibbleError {
                throw ConvertError.runtime("calibration: sample \(s): \(e.message)")
            }
            session.run { nodeIndex in
                for t in graph.nodes[nodeIndex].inputs where tensors.contains(t) {
                    guard let v = session.tensorFloats(t) else { continue }
                    var l = lo[t] ?? .infinity, h = hi[t] ?? -.infinity
                    for x in v where x.isFinite { l = min(l, x); h = max(h, x) }
                    lo[t] = l; hi[t] = h
                    if let st = stride[t] {
                        var i = 0
                        while i < v.count { kept[t, default: []].append(v[i]); i += st }
                    }
                    if let st = sampleStride[t] {
                        // Offset by the sample index so a stride that divides the image does not always hit the same pixel.
                        var i = s % st
                        while i < v.count { if v[i].isFinite { sampled[t, default: []].append(v[i]) }; i += st }
                    }
                }
            }
        }
        var out: [Int: (min: Float, max: Float)] = [:]
        for t in tensors {
            guard var l = lo[t], var h = hi[t] else { continue }
            if let p = percentile, var values = kept[t], !values.isEmpty {
                values.sort()
                let last = Double(values.count - 1)
                l = values[Int((last * (100 - p) / 100).rounded(.down))]
                h = values[Int((last * p / 100).rounded(.up))]
            }
            if l > h { continue }  // no finite value seen
            out[t] = (l, h)
        }
        return (out, sampled)
    }
}
