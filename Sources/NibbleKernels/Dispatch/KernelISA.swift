// The kernel level is chosen once: the best the host supports, or a lower one forced through
// NIBBLE_ISA=avx512|avx2|portable|reference (a request above what the host supports is lowered).
#if canImport(Glibc)
import Glibc  // only for getenv
#elseif canImport(Darwin)
import Darwin
#endif

/// Which build of the shared kernels runs.
public enum KernelISA: Int, Sendable, Comparable, CaseIterable {
    /// The never-tuned reference twins.
    case reference = 0
    /// NibbleKernels' own build (no -target-cpu): SSE2 on x86-64, baseline on other targets.
    case portable = 1
    /// NibbleKernelsAVX2 (-target-cpu haswell).
    case avx2 = 2
    /// NibbleKernelsAVX512 (-target-cpu icelake-server, VNNI for int8).
    case avx512 = 3

    public static func < (a: KernelISA, b: KernelISA) -> Bool { a.rawValue < b.rawValue }

    public var name: String {
        switch self {
        case .reference: return "reference"
        case .portable: return "portable"
        case .avx2: return "avx2"
        case .avx512: return "avx512"
        }
    }

    public init?(name: String) {
        switch name {
        case "reference": self = .reference
        case "portable": self = .portable
        case "avx2": self = .avx2
        case "avx512": self = .avx512
        default: return nil
        }
    }

    /// Best level the host runs.
    public static let detected: KernelISA = {
        let f = CPUFeatures.host
        if f.hasIcelakeServerLevel { return .avx512 }
        if f.hasHaswellLevel { return .avx2 }
        return .portable
    }()

    /// Level used when callers do not pass one: `detected`, lowered by NIBBLE_ISA if set.
    public static let current: KernelISA = {
        #if canImport(Glibc) || canImport(Darwin)
        if let raw = getenv("NIBBLE_ISA"), let forced = KernelISA(name: String(cString: raw)) {
            return Swift.min(forced, detected)
        }
        #endif
        return detected
    }()

    /// Every level this host can run, lowest first (tests compare them all).
    public static var supported: [KernelISA] { allCases.filter { $0 <= detected } }
}
