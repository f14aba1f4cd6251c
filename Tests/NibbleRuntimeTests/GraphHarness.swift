import NibbleFormat
@testable import NibbleRuntime

/// Builds small graphs in code, serializes them and loads them the way a file would be loaded.
struct GraphHarness {
    var graph = Graph()
    var data: [[UInt8]] = []

    mutating func input(_ name: String, _ shape: [Int]) -> Int {
        add(TensorDesc(name: name, dtype: .float32, shape: shape, role: .input), [])
        graph.inputs.append(graph.tensors.count - 1)
        return graph.tensors.count - 1
    }

    mutating func constant(_ name: String, _ shape: [Int], _ values: [Float]) -> Int {
        add(TensorDesc(name: name, dtype: .float32, shape: shape, role: .constant),
            values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    }

    mutating func node(_ op: OpType, _ inputs: [Int], _ outShape: [Int], _ attributes: [Attribute] = [], name: String? = nil) -> Int {
        let out = add(TensorDesc(name: "t\(graph.tensors.count)", dtype: .float32, shape: outShape, role: .intermediate), [])
        graph.nodes.append(Node(name: name ?? "n\(graph.nodes.count)", op: op, inputs: inputs, outputs: [out], attributes: attributes))
        return out
    }

    @discardableResult
    mutating func add(_ t: TensorDesc, _ bytes: [UInt8]) -> Int {
        graph.tensors.append(t)
        data.append(bytes)
        return graph.tensors.count - 1
    }

    /// Serializes into 64-byte aligned memory owned by the returned model.
    func model(outputs: [Int]) throws -> Model {
        var g = graph
        g.outputs = outputs
        let bytes = try Writer.serialize(g, constantData: data)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 64)
        buffer.copyBytes(from: bytes)
        do {
            return try Model(bytes: UnsafeRawBufferPointer(buffer), release: { buffer.deallocate() })
        } catch {
            buffer.deallocate()
            throw error
        }
    }

    /// Runs with one float input and returns output 0.
    func run(outputs: [Int], _ input: [Float]) throws -> [Float] {
        let session = try Session(model: try model(outputs: outputs))
        try input.withUnsafeBufferPointer { try session.setInput(0, floats: $0) }
        session.run()
        return Array(session.output(0).bindMemory(to: Float.self))
    }
}

/// Test weights: a seeded linear congruential generator's values in [−scale, scale], in steps of scale/1000.
struct SeededValues {
    var state: UInt64

    mutating func next(_ n: Int, _ scale: Float) -> [Float] {
        (0..<n).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int(state >> 40) % 2001 - 1000) / 1000 * scale
        }
    }
}
