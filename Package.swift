// swift-tools-version: 6.1
// Nibble: an embedded-style inference runtime for sub-8-bit networks.
// Layers (lower never imports higher) are described in docs/ARCHITECTURE.md.
import PackageDescription

/// Microkernels are compiled once per x86 ISA level from the same (symlinked) sources;
/// NibbleKernels picks one at run time from CPUID (docs/ARCHITECTURE.md, "Dispatch").
#if arch(x86_64)
let avx2Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "icelake-server"])]
#else
let avx2Flags: [SwiftSetting] = []
let avx512Flags: [SwiftSetting] = []
#endif

let package = Package(
    name: "Nibble",
    products: [
        .library(name: "Nibble", type: .static, targets: ["Nibble"]),
        .executable(name: "nibble", targets: ["nibble"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // The C contract: Include/nibble.h, shared with CMake and C/C++ users.
        .target(name: "CNibble", path: "Include", publicHeadersPath: "."),

        .target(name: "NibbleKernelsAVX2", swiftSettings: avx2Flags),
        .target(name: "NibbleKernelsAVX512", swiftSettings: avx512Flags),
        .target(name: "NibbleKernels", dependencies: ["NibbleKernelsAVX2", "NibbleKernelsAVX512"]),
        .target(name: "NibbleCodec", dependencies: ["NibbleKernels"]),
        .target(name: "NibbleFormat"),
        // Thread-local error text, file mapping and the sessions' thread pool, in C so the Swift core stays
        // embedded-grade.
        .target(name: "CNibbleSupport"),
        .target(name: "NibbleRuntime", dependencies: ["NibbleKernels", "NibbleCodec", "NibbleFormat", "CNibbleSupport"]),
        .target(name: "Nibble", dependencies: ["CNibble", "CNibbleSupport", "NibbleRuntime"]),
        // jemalloc's mallctl for `nibble bench footprint` (heap bytes); links libjemalloc into the CLI only.
        .systemLibrary(name: "CJemalloc", path: "Sources/CJemalloc"),
        .target(name: "NibbleConvert", dependencies: [
            "NibbleFormat", "NibbleRuntime", "NibbleKernels",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .executableTarget(name: "nibble", dependencies: [
            "Nibble", "NibbleConvert", "NibbleRuntime", "NibbleFormat", "NibbleKernels", "CJemalloc",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "NibbleKernelsTests", dependencies: ["NibbleKernels"]),
        .testTarget(name: "NibbleCodecTests", dependencies: ["NibbleCodec"]),
        .testTarget(name: "NibbleFormatTests", dependencies: ["NibbleFormat"]),
        .testTarget(name: "NibbleRuntimeTests", dependencies: ["NibbleRuntime", "NibbleFormat"]),
        .testTarget(name: "NibbleTests", dependencies: ["Nibble", "CNibble"]),
        .testTarget(name: "NibbleConvertTests", dependencies: ["NibbleConvert", "NibbleRuntime", "NibbleFormat"]),
    ]
)
