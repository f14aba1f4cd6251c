import CNibble
import CNibbleSupport
import NibbleCodec
import NibbleFormat
import NibbleRuntime

/// What a `nibble_session*` points to: the runtime session, the model handle it keeps alive, and the
/// text of its last failure (nibble_session_last_error).
final class SessionHandle {
    let session: Session
    let model: ModelHandle
    let lastError: UnsafeMutablePointer<CChar>
    /// The arena when the session allocated it (freed with the session), nil for a caller's arena.
    let ownedArena: UnsafeMutableRawPointer?
    static let errorCapacity = 1024

    init(_ session: Session, model: ModelHandle, ownedArena: UnsafeMutableRawPointer?) {
        self.session = session
        self.model = model
        self.ownedArena = ownedArena
        lastError = UnsafeMutablePointer<CChar>.allocate(capacity: SessionHandle.errorCapacity)
        lastError[0] = 0
    }

    deinit {
        lastError.deallocate()
        nibble_support_aligned_free(ownedArena)
    }

    static func from(_ p: OpaquePointer) -> SessionHandle { Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue() }

    /// Records `error` on the session and the thread, returns its status.
    func fail(_ error: NibbleError) -> nibble_status {
        var n = 0
        for b in error.message.utf8 where n < SessionHandle.errorCapacity - 1 {
            lastError[n] = CChar(bitPattern: b); n += 1
        }
        lastError[n] = 0
        return report(error)
    }

    func succeed() -> nibble_status {
        lastError[0] = 0
        return NIBBLE_OK
    }
}

@implementation @_cdecl("nibble_session_options_default")
public func nibble_session_options_default(_ options: UnsafeMutablePointer<nibble_session_options>?) {
    guard let options else { return }
    var o = nibble_session_options()
    o.struct_size = MemoryLayout<nibble_session_options>.size
    o.arena = nil
    o.arena_size = 0
    o.num_threads = 1
    o.residual_level = -1
    o.codec = NIBBLE_CODEC_NONE
    options.pointee = o
}

@implementation @_cdecl("nibble_session_create")
public func nibble_session_create(_ model: OpaquePointer?, _ options: UnsafePointer<nibble_session_options>?,
                                  _ outSession: UnsafeMutablePointer<OpaquePointer?>?) -> nibble_status {
    guard let model else { return nullArgument("nibble_session_create", "model") }
    guard let outSession else { return nullArgument("nibble_session_create", "out_session") }
    var o = nibble_session_options()
    nibble_session_options_default(&o)
    if let options {
        // Options grow at the end; an older caller's smaller struct keeps the defaults for the new fields.
        let given = options.pointee.struct_size
        if given < MemoryLayout<Int>.size || given > MemoryLayout<nibble_session_options>.size {
            return report(.invalidArgument("nibble_session_create: options->struct_size is \(given), expected \(MemoryLayout<nibble_session_options>.size) (call nibble_session_options_default)"))
        }
        withUnsafeMutableBytes(of: &o) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: options, count: given))
        }
    }
    if o.num_threads < 0 || o.num_threads > Session.maxThreads {
        return report(.invalidArgument("nibble_session_create: num_threads \(o.num_threads) outside 0...\(Session.maxThreads)"))
    }
    guard let codec = FeatureMapCodec(rawValue: Int32(bitPattern: o.codec.rawValue)) else {
        return report(.invalidArgument("nibble_session_create: codec \(o.codec.rawValue) is not a nibble_codec value"))
    }
    let handle = ModelHandle.from(model)
    var arena: UnsafeMutableRawBufferPointer?
    if o.arena_size < 0 {
        return report(.invalidArgument("nibble_session_create: arena_size \(UInt(bitPattern: o.arena_size)) is not a valid size"))
    }
    if let base = o.arena {
        arena = UnsafeMutableRawBufferPointer(start: base, count: o.arena_size)
    } else if o.arena_size != 0 {
        return report(.invalidArgument("nibble_session_create: arena_size is \(o.arena_size) but arena is NULL"))
    }
    // A session-owned arena comes from the C allocator so that a model asking for too much memory is a
    // status, not a trap.
    var owned: UnsafeMutableRawPointer?
    if arena == nil {
        // Sized for every codec the model supports, so nibble_session_set_codec can switch without reallocating.
        let bytes = handle.model.arenaBytesForAllCodecs
        guard let p = nibble_support_aligned_alloc(Int(NIBBLE_ARENA_ALIGNMENT), bytes) else {
            return report(.insufficientMemory("nibble_session_create: cannot allocate the \(bytes)-byte arena"))
        }
        owned = p
        arena = UnsafeMutableRawBufferPointer(start: p, count: bytes)
    }
    do {
        let session = try Session(model: handle.model, arena: arena, codec: codec, threads: Int(o.num_threads))
        try session.setResidualLevel(Int(o.residual_level))
        outSession.pointee = OpaquePointer(Unmanaged.passRetained(SessionHandle(session, model: handle, ownedArena: owned)).toOpaque())
        return NIBBLE_OK
    } catch {
        nibble_support_aligned_free(owned)
        return report(error)
    }
}

@implementation @_cdecl("nibble_session_free")
public func nibble_session_free(_ session: OpaquePointer?) {
    guard let session else { return }
    Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(session)).release()
}

@implementation @_cdecl("nibble_session_set_input")
public func nibble_session_set_input(_ session: OpaquePointer?, _ index: Int, _ data: UnsafeRawPointer?, _ byteSize: Int) -> nibble_status {
    guard let session else { return nullArgument("nibble_session_set_input", "session") }
    let h = SessionHandle.from(session)
    guard let data else { return h.fail(.invalidArgument("nibble_session_set_input: data is NULL")) }
    if byteSize < 0 { return h.fail(.invalidArgument("nibble_session_set_input: byte_size \(UInt(bitPattern: byteSize)) is not a valid size")) }
    do {
        try h.session.setInput(index, bytes: UnsafeRawBufferPointer(start: data, count: byteSize))
        return h.succeed()
    } catch {
        return h.fail(error)
    }
}

@implementation @_cdecl("nibble_session_run")
public func nibble_session_run(_ session: OpaquePointer?) -> nibble_status {
    guard let session else { return nullArgument("nibble_session_run", "session") }
    let h = SessionHandle.from(session)
    h.session.run()
    return h.succeed()
}

@implementation @_cdecl("nibble_session_get_output")
public func nibble_session_get_output(_ session: OpaquePointer?, _ index: Int, _ data: UnsafeMutableRawPointer?, _ byteSize: Int) -> nibble_status {
    guard let session else { return nullArgument("nibble_session_get_output", "session") }
    let h = SessionHandle.from(session)
    guard let data else { return h.fail(.invalidArgument("nibble_session_get_output: data is NULL")) }
    let model = h.session.model
    if index < 0 || index >= model.outputCount {
        return h.fail(.invalidArgument("nibble_session_get_output: output index \(UInt(bitPattern: index)) out of range 0..<\(model.outputCount)"))
    }
    let out = h.session.output(index)
    if byteSize != out.count {
        let t = model.output(index)
        return h.fail(.invalidArgument("nibble_session_get_output: output \(index) '\(t.name)' has \(out.count) bytes (\(t.dtype.name) \(t.shape)), got a buffer of \(byteSize)"))
    }
    data.copyMemory(from: out.baseAddress!, byteCount: out.count)
    return h.succeed()
}

@implementation @_cdecl("nibble_session_set_residual_level")
public func nibble_session_set_residual_level(_ session: OpaquePointer?, _ level: Int32) -> nibble_status {
    guard let session else { return nullArgument("nibble_session_set_residual_level", "session") }
    let h = SessionHandle.from(session)
    do { try h.session.setResidualLevel(Int(level)); return h.succeed() } catch { return h.fail(error) }
}

@implementation @_cdecl("nibble_session_set_layer_residual_level")
public func nibble_session_set_layer_residual_level(_ session: OpaquePointer?, _ layer: Int, _ level: Int32) -> nibble_status {
    guard let session else { return nullArgument("nibble_session_set_layer_residual_level", "session") }
    let h = SessionHandle.from(session)
    do { try h.session.setResidualLevel(Int(level), layer: layer); return h.succeed() } catch { return h.fail(error) }
}

@implementation @_cdecl("nibble_session_set_codec")
public func nibble_session_set_codec(_ session: OpaquePointer?, _ codec: nibble_codec) -> nibble_status {
    guard let session else { return nullArgument("nibble_session_set_codec", "session") }
    let h = SessionHandle.from(session)
    guard let c = FeatureMapCodec(rawValue: Int32(bitPattern: codec.rawValue)) else {
        return h.fail(.invalidArgument("nibble_session_set_codec: \(codec.rawValue) is not a nibble_codec value"))
    }
    do { try h.session.setCodec(c); return h.succeed() } catch { return h.fail(error) }
}

@implementation @_cdecl("nibble_session_arena_used")
public func nibble_session_arena_used(_ session: OpaquePointer?, _ outBytes: UnsafeMutablePointer<Int>?) -> nibble_status {
    guard let session else { return nullArgument("nibble_session_arena_used", "session") }
    guard let outBytes else { return nullArgument("nibble_session_arena_used", "out_bytes") }
    outBytes.pointee = SessionHandle.from(session).session.arenaUsed
    return NIBBLE_OK
}

@implementation @_cdecl("nibble_session_last_error")
public func nibble_session_last_error(_ session: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let session else { return nibble_support_last_error() }
    return UnsafePointer(SessionHandle.from(session).lastError)
}
