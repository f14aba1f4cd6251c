import CNibble
import CNibbleSupport
import NibbleFormat
import NibbleRuntime

/// What a `nibble_model*` points to: the runtime model plus C strings for its tensor names,
/// which live as long as the model (nibble_tensor_info.name).
final class ModelHandle {
    let model: Model
    let names: [UnsafeMutablePointer<CChar>]

    init(_ model: Model) {
        self.model = model
        var names: [UnsafeMutablePointer<CChar>] = []
        for t in model.graph.tensors {
            let utf8 = Array(t.name.utf8)
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1)
            for (i, b) in utf8.enumerated() { p[i] = CChar(bitPattern: b) }
            p[utf8.count] = 0
            names.append(p)
        }
        self.names = names
    }

    deinit { for p in names { p.deallocate() } }

    static func from(_ p: OpaquePointer) -> ModelHandle { Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue() }
}

/// Builds the handle from validated bytes; `release` frees them once the model is gone.
private func makeModel(_ bytes: UnsafeRawBufferPointer, release: @escaping () -> Void, _ out: UnsafeMutablePointer<OpaquePointer?>) -> nibble_status {
    do {
        let model = try Model(bytes: bytes, release: release)
        out.pointee = OpaquePointer(Unmanaged.passRetained(ModelHandle(model)).toOpaque())
        return NIBBLE_OK
    } catch {
        release()
        return report(error)
    }
}

@implementation @_cdecl("nibble_model_load_file")
public func nibble_model_load_file(_ path: UnsafePointer<CChar>?, _ outModel: UnsafeMutablePointer<OpaquePointer?>?) -> nibble_status {
    guard let path else { return nullArgument("nibble_model_load_file", "path") }
    guard let outModel else { return nullArgument("nibble_model_load_file", "out_model") }
    var data: UnsafeRawPointer?
    var size = 0
    var message = [CChar](repeating: 0, count: 512)
    let rc = message.withUnsafeMutableBufferPointer { nibble_support_map_file(path, &data, &size, $0.baseAddress, $0.count) }
    guard rc == 0, let data else {
        message.withUnsafeBufferPointer { nibble_support_set_error($0.baseAddress) }
        return NIBBLE_IO_ERROR
    }
    let mapped = UnsafeRawBufferPointer(start: data, count: size)
    return makeModel(mapped, release: { nibble_support_unmap(data, size) }, outModel)
}

@implementation @_cdecl("nibble_model_load_memory")
public func nibble_model_load_memory(_ data: UnsafeRawPointer?, _ size: Int, _ outModel: UnsafeMutablePointer<OpaquePointer?>?) -> nibble_status {
    guard let data else { return nullArgument("nibble_model_load_memory", "data") }
    guard let outModel else { return nullArgument("nibble_model_load_memory", "out_model") }
    // size_t arrives as Int: a size above Int.max is negative here and cannot describe real memory.
    if size < 0 { return report(.invalidArgument("nibble_model_load_memory: size \(UInt(bitPattern: size)) is not a valid buffer size")) }
    if Int(bitPattern: data) % Layout.alignment == 0 {
        return makeModel(UnsafeRawBufferPointer(start: data, count: size), release: {}, outModel)
    }
    // Weights are used in place by SIMD kernels: an unaligned buffer is copied once into aligned memory.
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: Layout.alignment)
    copy.copyMemory(from: UnsafeRawBufferPointer(start: data, count: size))
    return makeModel(UnsafeRawBufferPointer(rebasing: copy[0..<size]), release: { copy.deallocate() }, outModel)
}

@implementation @_cdecl("nibble_model_free")
public func nibble_model_free(_ model: OpaquePointer?) {
    guard let model else { return }
    Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(model)).release()
}

@implementation @_cdecl("nibble_model_input_count")
public func nibble_model_input_count(_ model: OpaquePointer?) -> Int {
    guard let model else { return 0 }
    return ModelHandle.from(model).model.inputCount
}

@implementation @_cdecl("nibble_model_output_count")
public func nibble_model_output_count(_ model: OpaquePointer?) -> Int {
    guard let model else { return 0 }
    return ModelHandle.from(model).model.outputCount
}

private func tensorInfo(_ function: String, _ model: OpaquePointer?, _ index: Int, _ out: UnsafeMutablePointer<nibble_tensor_info>?,
                        _ list: (Graph) -> [Int], _ what: String) -> nibble_status {
    guard let model else { return nullArgument(function, "model") }
    guard let out else { return nullArgument(function, "out_info") }
    let handle = ModelHandle.from(model)
    let ids = list(handle.model.graph)
    if index < 0 || index >= ids.count { return report(.invalidArgument("\(function): \(what) index \(UInt(bitPattern: index)) out of range 0..<\(ids.count)")) }
    let t = handle.model.graph.tensors[ids[index]]
    var info = nibble_tensor_info()
    info.name = UnsafePointer(handle.names[ids[index]])
    info.dtype = nibble_dtype(rawValue: UInt32(t.dtype.rawValue))
    info.rank = t.shape.count
    withUnsafeMutableBytes(of: &info.shape) { raw in
        let dims = raw.bindMemory(to: Int64.self)
        for (i, d) in t.shape.enumerated() where i < dims.count { dims[i] = Int64(d) }
    }
    info.byte_size = t.byteCount
    out.pointee = info
    return NIBBLE_OK
}

@implementation @_cdecl("nibble_model_input_info")
public func nibble_model_input_info(_ model: OpaquePointer?, _ index: Int, _ outInfo: UnsafeMutablePointer<nibble_tensor_info>?) -> nibble_status {
    tensorInfo("nibble_model_input_info", model, index, outInfo, { $0.inputs }, "input")
}

@implementation @_cdecl("nibble_model_output_info")
public func nibble_model_output_info(_ model: OpaquePointer?, _ index: Int, _ outInfo: UnsafeMutablePointer<nibble_tensor_info>?) -> nibble_status {
    tensorInfo("nibble_model_output_info", model, index, outInfo, { $0.outputs }, "output")
}

@implementation @_cdecl("nibble_model_arena_size")
public func nibble_model_arena_size(_ model: OpaquePointer?, _ outBytes: UnsafeMutablePointer<Int>?) -> nibble_status {
    guard let model else { return nullArgument("nibble_model_arena_size", "model") }
    guard let outBytes else { return nullArgument("nibble_model_arena_size", "out_bytes") }
    outBytes.pointee = ModelHandle.from(model).model.arenaBytesForAllCodecs
    return NIBBLE_OK
}

@implementation @_cdecl("nibble_model_max_residual_level")
public func nibble_model_max_residual_level(_ model: OpaquePointer?, _ outLevel: UnsafeMutablePointer<Int32>?) -> nibble_status {
    guard let model else { return nullArgument("nibble_model_max_residual_level", "model") }
    guard let outLevel else { return nullArgument("nibble_model_max_residual_level", "out_level") }
    outLevel.pointee = Int32(ModelHandle.from(model).model.maxResidualLevel)
    return NIBBLE_OK
}

@implementation @_cdecl("nibble_model_layer_count")
public func nibble_model_layer_count(_ model: OpaquePointer?) -> Int {
    guard let model else { return 0 }
    return ModelHandle.from(model).model.graph.nodes.count
}

@implementation @_cdecl("nibble_model_layer_residual_edges")
public func nibble_model_layer_residual_edges(_ model: OpaquePointer?, _ layer: Int, _ outEdges: UnsafeMutablePointer<Int32>?) -> nibble_status {
    guard let model else { return nullArgument("nibble_model_layer_residual_edges", "model") }
    guard let outEdges else { return nullArgument("nibble_model_layer_residual_edges", "out_edges") }
    let m = ModelHandle.from(model).model
    let count = m.graph.nodes.count
    if layer < 0 || layer >= count { return report(.invalidArgument("nibble_model_layer_residual_edges: layer \(UInt(bitPattern: layer)) out of range 0..<\(count)")) }
    outEdges.pointee = Int32(m.residualEdgeCount(layer: layer))
    return NIBBLE_OK
}
