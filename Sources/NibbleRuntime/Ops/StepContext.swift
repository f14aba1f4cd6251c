import NibbleFormat

/// What a step needs to find its tensors at run time: one raw pointer per graph tensor
/// (constants point into the weights section, everything else into the arena), plus the scratch region
/// and the session's enabled residual-edge count per node (ternary steps read theirs at every run).
public struct Bindings {
    let pointers: UnsafeMutablePointer<UnsafeMutableRawPointer>
    let scratch: UnsafeMutableRawPointer
    let enabledEdges: UnsafeMutablePointer<Int32>

    @inline(__always) func f32(_ i: Int) -> UnsafeMutablePointer<Float> {
        pointers[i].assumingMemoryBound(to: Float.self)
    }
    @inline(__always) func optionalF32(_ i: Int) -> UnsafePointer<Float>? {
        i == absentTensor ? nil : UnsafePointer(pointers[i].assumingMemoryBound(to: Float.self))
    }
    @inline(__always) func raw(_ i: Int) -> UnsafeMutableRawPointer { pointers[i] }
}

/// Validation helpers used while turning a node into a step: each failure names the node, op and value.
struct NodeChecker {
    let graph: Graph
    let index: Int
    var node: Node { graph.nodes[index] }

    func fail(_ what: Message) -> NibbleError {
        .malformedModel("node \(index) '\(node.name)' (\(node.op.name)): \(what)")
    }

    func tensor(_ i: Int) -> TensorDesc { graph.tensors[i] }

    func requireInputs(_ range: ClosedRange<Int>) throws(NibbleError) {
        if !range.contains(node.inputs.count) {
            throw fail("has \(node.inputs.count) inputs, expected \(range.lowerBound)...\(range.upperBound)")
        }
        if node.outputs.count != 1 { throw fail("has \(node.outputs.count) outputs, expected 1") }
    }

    func input(_ k: Int) throws(NibbleError) -> Int {
        if k >= node.inputs.count || node.inputs[k] == absentTensor { throw fail("input \(k) is missing") }
        return node.inputs[k]
    }

    func optionalInput(_ k: Int) -> Int {
        k < node.inputs.count ? node.inputs[k] : absentTensor
    }

    var output: Int { node.outputs[0] }

    func require(_ t: Int, dtype: DType, _ role: String) throws(NibbleError) {
        if tensor(t).dtype != dtype {
            throw fail("\(role) '\(tensor(t).name)' is \(tensor(t).dtype.name), expected \(dtype.name)")
        }
    }

    func requireConstant(_ t: Int, _ role: String) throws(NibbleError) {
        if tensor(t).role != .constant { throw fail("\(role) '\(tensor(t).name)' must be a constant") }
    }

    func requireShape(_ t: Int, _ shape: [Int], _ role: String) throws(NibbleError) {
        if tensor(t).shape != shape {
            throw fail("\(role) '\(tensor(t).name)' has shape \(tensor(t).shape), expected \(shape)")
        }
    }

    func ints(_ key: AttributeKey, count: Int? = nil, default def: [Int]? = nil) throws(NibbleError) -> [Int] {
        guard let a = node.attribute(key) else {
            if let def { return def }
            throw fail("attribute \(key.name) is missing")
        }
        if !a.floats.isEmpty { throw fail("attribute \(key.name) must be integers") }
        if let count, a.ints.count != count { throw fail("attribute \(key.name) has \(a.ints.count) values, expected \(count)") }
        var out: [Int] = []
        for v in a.ints {
            if v < Int64(Int32.min) || v > Int64(Int32.max) { throw fail("attribute \(key.name) value \(v) out of range") }
            out.append(Int(v))
        }
        return out
    }

    func float(_ key: AttributeKey, default def: Float) throws(NibbleError) -> Float {
        guard let a = node.attribute(key) else { return def }
        if a.floats.count != 1 { throw fail("attribute \(key.name) must be one float") }
        if a.floats[0].isNaN { throw fail("attribute \(key.name) is NaN") }
        return a.floats[0]
    }
}
