// fuzz_onnx: libFuzzer harness for the ONNX importer (Sources/NibbleConvert/ONNX) and the fp32 conversion path:
// protobuf decoding (SwiftProtobuf), graph import, constant and shape folding, .nib serialization, and the
// converter's own check that the result loads in the runtime.
//
// Built by scripts/fuzz: SwiftProtobuf and NibbleConvert compiled as modules against the core modules of the CMake
// fuzz build (build-fuzz/), NibbleConvert and the core with -sanitize=address and libFuzzer coverage.
// Any thrown error is fine; a trap or an ASan report is a crash.
import NibbleConvert

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if size > 1 << 20 { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? Converter.convert(onnxBytes: bytes, recipe: .fp32)
    return 0
}
