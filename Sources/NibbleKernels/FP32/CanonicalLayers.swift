// The canonical benchmark layer set of docs (DESIGN.md, "Benchmarks"), batch 1, shared by the
// benchmark command and the kernel tests.

/// Shape of a fully connected layer.
public struct FullyConnectedShape: Sendable, Equatable {
    public var inFeatures: Int
    public var outFeatures: Int
    public init(inFeatures: Int, outFeatures: Int) { self.inFeatures = inFeatures; self.outFeatures = outFeatures }
    public var macCount: Int { inFeatures * outFeatures }
}

/// L1–L5 convolutions and G1 fully connected.
public enum CanonicalLayers {
    static func conv3x3(_ c: Int, _ hw: Int) -> ConvGeometry {
        ConvGeometry(inC: c, inH: hw, inW: hw, outC: c, outH: hw, outW: hw, kernelH: 3, kernelW: 3,
                     padTop: 1, padLeft: 1)
    }
    /// conv3x3 64→64 @56², pad 1.
    public static let l1 = conv3x3(64, 56)
    /// conv3x3 128→128 @28², pad 1.
    public static let l2 = conv3x3(128, 28)
    /// conv3x3 256→256 @14², pad 1.
    public static let l3 = conv3x3(256, 14)
    /// conv3x3 512→512 @7², pad 1.
    public static let l4 = conv3x3(512, 7)
    /// conv1x1 256→1024 @14².
    public static let l5 = ConvGeometry(inC: 256, inH: 14, inW: 14, outC: 1024, outH: 14, outW: 14, kernelH: 1, kernelW: 1)
    /// FC 4096→1000.
    public static let g1 = FullyConnectedShape(inFeatures: 4096, outFeatures: 1000)

    /// The convolutions with their names, in order.
    public static let convolutions: [(name: String, geometry: ConvGeometry)] =
        [("L1", l1), ("L2", l2), ("L3", l3), ("L4", l4), ("L5", l5)]
}
