import ArgumentParser
import Foundation
import CNibble
import Nibble
import NibbleConvert

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a .nib model on a batch from an .npy file.",
        discussion: """
            The first dimension of the input .npy is the batch; every sample must have the model input's shape
            without its batch dimension. Samples run one after another through the C API and the outputs are
            stacked into an .npy whose first dimension is the batch.
            """)

    @Argument(help: "The .nib model.")
    var model: String

    @Option(help: "Input batch: float32 .npy, shape [N, ...model input shape without batch].")
    var input: String

    @Option(help: "Where to write the output batch (.npy, float32).")
    var output: String

    @Option(help: "Which model output to write (default 0).")
    var outputIndex: Int = 0

    // .unconditional so that `--residual-level -1` reads -1 as the value, not as a flag.
    @Option(parsing: .unconditional,
            help: "Residual level of ternary models: -1 = all edges (default), 0 = only the first ternary plane of every layer, up to the model's maximum (nibble inspect shows it and each layer's edge levels).")
    var residualLevel: Int32 = -1

    @Option(help: "How intermediate feature maps are held in the arena: none (raw float32, default), cat (quantized, entropy-coded with the model's codec tables; convert with --codec-bits) or transform (channel-transform coefficients coded the same way where the model has transform tables, CAT elsewhere; convert with --codec-transform).")
    var codec: String = "none"

    @Option(help: "Threads per run: the heavy layers are split by output channels over this many threads (default 1).")
    var threads: Int32 = 1

    func run() throws {
        let codecValue: nibble_codec
        switch codec {
        case "none": codecValue = NIBBLE_CODEC_NONE
        case "cat": codecValue = NIBBLE_CODEC_CAT
        case "transform": codecValue = NIBBLE_CODEC_TRANSFORM
        default: throw CLIError("--codec \(codec): expected none, cat or transform")
        }
        let m = try CModel(path: model, threads: threads)
        let cst = nibble_session_set_codec(m.session, codecValue)
        if cst != NIBBLE_OK {
            throw CLIError("--codec \(codec): \(String(cString: nibble_session_last_error(m.session)))", cst)
        }
        if m.inputs.count != 1 {
            throw CLIError("'\(model)' has \(m.inputs.count) inputs; nibble run feeds models with exactly one input")
        }
        if outputIndex < 0 || outputIndex >= m.outputs.count {
            throw CLIError("--output-index \(outputIndex) out of range: '\(model)' has \(m.outputs.count) outputs")
        }
        let st = nibble_session_set_residual_level(m.session, residualLevel)
        if st != NIBBLE_OK { throw CLIError("--residual-level \(residualLevel)", st) }
        let batch = try NPY.read(contentsOf: URL(fileURLWithPath: input))
        guard let values = batch.floats else {
            throw CLIError("\(input): input is \(batch.descr); the model input '\(m.inputs[0].nameString)' takes float32 ('<f4')")
        }
        let sampleShape = Array(m.inputs[0].shapeArray.dropFirst())
        if batch.shape.count != sampleShape.count + 1 || Array(batch.shape.dropFirst()) != sampleShape {
            throw CLIError("\(input): shape \(batch.shape) does not match [N] + \(sampleShape) (input '\(m.inputs[0].nameString)' of shape \(m.inputs[0].shapeArray))")
        }
        let n = batch.shape[0], inCount = sampleShape.reduce(1, *)
        let outInfo = m.outputs[outputIndex]
        let outCount = outInfo.elementCount
        var result = [Float](repeating: 0, count: n * outCount)
        let start = Date()
        try values.withUnsafeBufferPointer { src in
            try result.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n {
                    try m.run(UnsafeBufferPointer(rebasing: src[(i * inCount)..<((i + 1) * inCount)]),
                              into: UnsafeMutableBufferPointer(rebasing: dst[(i * outCount)..<((i + 1) * outCount)]),
                              outputIndex: outputIndex)
                }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let outShape = [n] + Array(outInfo.shapeArray.dropFirst())
        try NPY.write(NPYArray(shape: outShape, floats: result), to: URL(fileURLWithPath: output))
        var used = 0
        _ = nibble_session_arena_used(m.session, &used)
        progress(String(format: "ran %d sample(s) in %.2f ms (%.3f ms/sample), %d thread(s), codec %@, arena %d B; wrote %@ %@", n,
                        seconds * 1000, seconds * 1000 / Double(max(n, 1)), threads, codec, used, output, "\(outShape)"))
    }
}
