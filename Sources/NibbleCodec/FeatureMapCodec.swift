/// How a session holds intermediate feature maps in its arena (docs/ARCHITECTURE.md, "Codecs").
/// Raw values match `nibble_codec` in Include/nibble.h. Only `none` runs today: `cat` and `transform`
/// need per-layer tables written by the converter (the feature-map codec issue).
public enum FeatureMapCodec: Int32, Sendable {
    case none = 0
    case cat = 1
    case transform = 2

    public var name: String {
        switch self {
        case .none: return "none"
        case .cat: return "cat"
        case .transform: return "transform"
        }
    }
}
