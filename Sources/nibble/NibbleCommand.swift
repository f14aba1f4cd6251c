import ArgumentParser

@main
struct NibbleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nibble",
        abstract: "Convert, inspect, run and benchmark sub-8-bit neural networks.",
        discussion: """
            A typical session:
              nibble convert model.onnx -o model.nib --recipe int8 --calibrate calib.npy
              nibble inspect model.nib
              nibble run model.nib --input x.npy --output y.npy
              nibble bench kernels
            """,
        subcommands: [ConvertCommand.self, RunCommand.self, InspectCommand.self, BenchCommand.self, DemoCommand.self])
}
