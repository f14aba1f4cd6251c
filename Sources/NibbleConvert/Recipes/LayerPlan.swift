import NibbleFormat

/// What the per-layer recipes (ternary, wKaM) share when they choose a precision per node: the nodes they choose
/// for, and the lookup of a `--layer NAME=…` override among them, with the same error for an unknown name.
enum LayerPlan {
    /// The Conv and FullyConnected nodes, in graph order (the first and last of them are the "first/last layers").
    static func weightedNodes(_ g: Graph) -> [Int] {
        g.nodes.indices.filter { g.nodes[$0].op == .conv || g.nodes[$0].op == .fullyConnected }
    }

    /// The node `--layer name=value` names, among `nodes`; an unknown name is an error listing the valid ones.
    static func overriddenNode(_ name: String, value: String, among nodes: [Int], in g: Graph) throws -> Int {
        guard let i = nodes.first(where: { g.nodes[$0].name == name }) else {
            let names = nodes.map { g.nodes[$0].name }.joined(separator: ", ")
            throw ConvertError.invalidInput("--layer \(name)=\(value): no Conv or FullyConnected node '\(name)'; nodes: \(names)")
        }
        return i
    }
}
