/// How a session holds intermediate feature maps in its arena (docs/ARCHITECTURE.md, "Feature-map codecs").
/// Raw values match `nibble_codec` in Include/nibble.h. `none` always runs; `cat` runs on models whose .nib has
/// codec tables (docs/FORMAT.md §6, written by `nibble convert --codec-bits`); `transform` on models whose
/// tables have transform entries (`--codec-transform`), holding the tensors without one with CAT.
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
