import NibbleCodec
import NibbleFormat
import NibbleRuntime

/// Runs a converted model (without codec) on calibration samples with every codable intermediate replaced by
/// what its codec decodes once it is produced (`MapQuantizer.apply`) — exactly what a CAT or transform session
/// computes, since the entropy code is lossless on the quantized symbols — to search codec bits and report the
/// output error they cost.
final class QuantizedRunner {
    let model: Model
    let session: Session
    let data: CalibrationData
    /// The codable tensors (`CodecFitter.candidates`), in tensor order.
    let coded: [Int]
    let codedIndex: [Int: Int]
    let sampleSize: Int
    /// Outputs of each sample without codec: the reference of every error.
    private(set) var reference: [[Float]] = []

    /// `foldedMaps`: code the maps a CAT session folds away too (`CodecFitter.candidates`), for the transform
    /// codec, whose session holds them.
    init(nib: [UInt8], data: CalibrationData, foldedMaps: Bool = false) throws {
        (model, session) = try QuantizedRunner.open(nib)
        if model.inputCount != 1 {
            throw ConvertError.unsupported("codec: the model has \(model.inputCount) inputs; calibration supports single-input models")
        }
        sampleSize = model.input(0).elementCount
        if data.samples.shape.dropFirst().reduce(1, *) != sampleSize {
            throw ConvertError.invalidInput("calibration data has shape \(data.samples.shape); the model input '\(model.input(0).name)' needs [N] + \(Array(model.input(0).shape.dropFirst()))")
        }
        self.data = data
        coded = foldedMaps ? CodecFitter.codable(model.graph) : CodecFitter.candidates(model.graph)
        codedIndex = Dictionary(uniqueKeysWithValues: coded.enumerated().map { ($0.element, $0.offset) })
        let none = [MapQuantizer?](repeating: nil, count: coded.count)
        reference = try (0..<data.sampleCount).map { try run(sample: $0, quantizers: none) }
    }

    private static func open(_ nib: [UInt8]) throws -> (Model, Session) {
        do {
            let model = try Model(copying: nib)
            return (model, try Session(model: model))
        } catch {
            throw ConvertError.runtime("codec: the runtime refused the converted model: \(error.message)")
        }
    }

    private func setSample(_ s: Int) throws {
        do {
            try data.values.withUnsafeBufferPointer { all in
                try session.setInput(0, floats: UnsafeBufferPointer(rebasing: all[(s * sampleSize)..<((s + 1) * sampleSize)]))
            }
        } catch let e as NibbleError {
            throw ConvertError.runtime("codec: sample \(s): \(e.message)")
        }
    }

    /// Runs sample `s`; before the first node that reads coded tensor k, calls `visit(k, values)` and then, if
    /// `quantizers[k]` is set, replaces the values by what its codec decodes. Returns the outputs.
    @discardableResult
    func run(sample s: Int, quantizers: [MapQuantizer?],
             visit: (Int, UnsafeBufferPointer<Float>) -> Void = { _, _ in }) throws -> [Float] {
        try setSample(s)
        var done = [Bool](repeating: false, count: coded.count)
        let graph = model.graph
        session.run { n in
            for i in graph.nodes[n].inputs where i != absentTensor {
                guard let k = codedIndex[i], !done[k], let v = session.tensorFloats(i) else { continue }
                done[k] = true
                visit(k, v)
                quantizers[k]?.apply(UnsafeMutablePointer(mutating: v.baseAddress!), count: v.count)
            }
        }
        var out: [Float] = []
        for o in 0..<model.outputCount where model.output(o).dtype == .float32 {
            out += session.output(o).assumingMemoryBound(to: Float.self)
        }
        return out
    }

    /// ‖y − y₀‖/‖y₀‖ over `samples` (all outputs concatenated), y₀ the outputs without codec.
    func outputError(samples: [Int], quantizers: [MapQuantizer?]) -> Double {
        var num = 0.0, den = 0.0
        for s in samples {
            guard let y = try? run(sample: s, quantizers: quantizers) else { return .infinity }
            for (a, b) in zip(y, reference[s]) {
                let d = Double(a) - Double(b)
                num += d * d
                den += Double(b) * Double(b)
            }
        }
        return den > 0 ? (num / den).squareRoot() : (num > 0 ? .infinity : 0)
    }

    /// Up to `maxValues` finite values of each coded tensor, taken evenly over `samples` (no quantization).
    func sampleValues(samples: [Int], maxValues: Int) throws -> [[Float]] {
        let graph = model.graph
        var out = [[Float]](repeating: [], count: coded.count)
        let strides = coded.map { max(1, (graph.tensors[$0].elementCount * samples.count + maxValues - 1) / maxValues) }
        let none = [MapQuantizer?](repeating: nil, count: coded.count)
        for s in samples {
            try run(sample: s, quantizers: none) { k, v in
                // Offset by the sample so a stride that divides the map does not always hit the same pixel.
                var j = s % strides[k]
                while j < v.count { if v[j].isFinite { out[k].append(v[j]) }; j += strides[k] }
            }
        }
        return out
    }

    /// Calls `body(k, values)` with every coded tensor of every sample, as the codec would see it: with the
    /// tensors upstream of it quantized by `quantizers`.
    func forEachCodedTensor(samples: [Int], quantizers: [MapQuantizer], _ body: (Int, UnsafeBufferPointer<Float>) -> Void) throws {
        for s in samples { try run(sample: s, quantizers: quantizers, visit: body) }
    }

    /// Joint, loss-aware bit search (issue 6; in the spirit of LAPQ's joint clipping search): start with every
    /// tensor at 8 bits; at each step try lowering each tensor by one bit, measure the whole model's output
    /// error on `samples`, and accept the reduction with the least added error per bit·value saved among those
    /// that stay within `budget`; stop when none does. Measuring end to end, with every earlier choice in
    /// place, keeps small per-layer errors from silently adding up as a layer-by-layer greedy choice would.
    /// `quantizers[k][b − 2]` is tensor k's b-bit quantizer; tensors marked `frozen` keep their 8-bit entry
    /// (the transform search holds the CAT-coded tensors at CAT's choice this way). With `peak` (bytes at the
    /// session's peak step for given bits, `CodecFitter.peakModel`) a reduction's saving is what it takes off that
    /// peak plus 1/20 of its own bytes (so maps away from the peak still count, after the ones at it).
    /// Returns the bits and the accepted steps.
    func searchBits(quantizers: [[MapQuantizer]], samples: [Int], budget: Double, frozen: [Bool]? = nil,
                    peak: (([Int]) -> Int)? = nil, progress: (String) -> Void = { _ in }) -> (bits: [Int], steps: Int) {
        let graph = model.graph
        var bits = [Int](repeating: 8, count: coded.count)
        func chosen(_ b: [Int]) -> [MapQuantizer?] { b.indices.map { quantizers[$0][b[$0] - 2] } }
        var error = outputError(samples: samples, quantizers: chosen(bits))
        var steps = 0
        let searched = coded.indices.filter { !(frozen?[$0] ?? false) }.count
        progress("auto bits: \(searched) maps from 8 bits down, each step trying every map one bit lower on \(samples.count) samples (budget \(formatFixed(budget, 4)))")
        while true {
            var best: (k: Int, error: Double, score: Double)? = nil
            let current = peak?(bits)
            for k in coded.indices where bits[k] > 2 && !(frozen?[k] ?? false) {
                var trial = bits
                trial[k] -= 1
                let e = outputError(samples: samples, quantizers: chosen(trial))
                guard e <= budget else { continue }
                let values = Double(graph.tensors[coded[k]].elementCount)
                var saving = values
                if let peak, let current { saving = Double(current - peak(trial)) + values / 160 }
                let score = (e - error) / saving
                if best == nil || score < best!.score { best = (k, e, score) }
            }
            guard let b = best else { break }
            bits[b.k] -= 1
            error = b.error
            steps += 1
            progress("auto bits, step \(steps): '\(graph.tensors[coded[b.k]].name)' \(bits[b.k] + 1) → \(bits[b.k]) bits, output error \(formatFixed(error, 4)); \(bits.reduce(0, +)) bits over \(coded.count) maps")
        }
        return (bits, steps)
    }
}
