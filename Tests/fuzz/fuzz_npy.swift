// fuzz_npy: libFuzzer harness for the .npy reader (Sources/NibbleConvert/NPY.swift).
//
// NPY.swift needs only Foundation and ConvertError, so scripts/fuzz compiles those two files with this one
// (swiftc -sanitize=fuzzer,address), without the rest of NibbleConvert or SwiftProtobuf.
// Any thrown ConvertError is fine; a trap or an ASan report is a crash. A decoded array must round-trip:
// encode(decode(x)) decodes to the same array.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let array = try? NPY.decode(bytes, name: "fuzz.npy") else { return 0 }
    var count = 1
    for d in array.shape { count *= d }
    precondition(count == array.count, "shape \(array.shape) does not match \(array.count) values")
    let again = try? NPY.decode(NPY.encode(array), name: "roundtrip.npy")
    precondition(again?.shape == array.shape && again?.count == array.count, "encode/decode round trip changed the array")
    if case .float32(let a) = array.storage, case .float32(let b)? = again?.storage {
        precondition(a.map(\.bitPattern) == b.map(\.bitPattern), "float32 values changed in the round trip")
    } else {
        precondition(again == array, "values changed in the round trip")
    }
    return 0
}
