// CPU features read once through CPUID (clang's cpuid.h imported as a module).
// Swift cannot execute XGETBV (the _xgetbv intrinsic is a macro and does not import), so OS-enabled
// register state is inferred from CPUID leaf 0xD: EBX of sub-leaf 0 is the XSAVE area size needed by
// the features currently enabled in XCR0, so it reaches past the AVX-512 (or AVX) save area only when
// the OS enabled that state. NIBBLE_ISA can always force a lower level.
#if arch(x86_64)
import _Builtin_intrinsics.intel.cpuid
#endif

/// Which x86 vector extensions the CPU has and the OS has enabled.
public struct CPUFeatures: Sendable, Equatable {
    /// AVX2 + FMA + BMI1/2 with AVX state enabled: what `-target-cpu haswell` code may use.
    public var hasHaswellLevel: Bool
    /// AVX-512 F/CD/BW/DQ/VL/IFMA/VBMI/VBMI2/VNNI/BITALG/VPOPCNTDQ and GFNI (LLVM may use it for byte
    /// shifts) with AVX-512 state enabled:
    /// what `-target-cpu icelake-server` vector code may use.
    public var hasIcelakeServerLevel: Bool

    public static let host: CPUFeatures = detect()

    static func detect() -> CPUFeatures {
        #if arch(x86_64)
        func cpuid(_ leaf: UInt32, _ sub: UInt32) -> (a: UInt32, b: UInt32, c: UInt32, d: UInt32) {
            var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0
            if __get_cpuid_count(leaf, sub, &a, &b, &c, &d) == 0 { return (0, 0, 0, 0) }
            return (a, b, c, d)
        }
        func bit(_ r: UInt32, _ i: UInt32) -> Bool { (r >> i) & 1 == 1 }
        let maxLeaf = __get_cpuid_max(0, nil)
        guard maxLeaf >= 7 else { return CPUFeatures(hasHaswellLevel: false, hasIcelakeServerLevel: false) }
        let l1 = cpuid(1, 0)
        let l7 = cpuid(7, 0)
        let osxsave = bit(l1.c, 27)
        var avxState = false, avx512State = false
        if osxsave && maxLeaf >= 0xD {
            let enabledSize = cpuid(0xD, 0).b
            let ymm = cpuid(0xD, 2)          // component 2: upper halves of ymm
            let hi16 = cpuid(0xD, 7)         // component 7: zmm16-31, the last AVX-512 component
            avxState = ymm.a != 0 && enabledSize >= ymm.b &+ ymm.a
            avx512State = hi16.a != 0 && enabledSize >= hi16.b &+ hi16.a
        }
        let lzcnt = __get_cpuid_max(0x8000_0000, nil) >= 0x8000_0001 && bit(cpuid(0x8000_0001, 0).c, 5)
        // AVX FMA F16C MOVBE POPCNT, AVX2 BMI1 BMI2, LZCNT: the -target-cpu haswell feature set.
        let haswell = avxState && bit(l1.c, 28) && bit(l1.c, 12) && bit(l1.c, 29) && bit(l1.c, 22)
            && bit(l1.c, 23) && bit(l7.b, 5) && bit(l7.b, 3) && bit(l7.b, 8) && lzcnt
        let ebx512: [UInt32] = [16, 17, 21, 28, 30, 31]      // F DQ IFMA CD BW VL
        let ecx512: [UInt32] = [1, 6, 8, 11, 12, 14]         // VBMI VBMI2 GFNI VNNI BITALG VPOPCNTDQ
        var icelake = haswell && avx512State
        for i in ebx512 where !bit(l7.b, i) { icelake = false }
        for i in ecx512 where !bit(l7.c, i) { icelake = false }
        return CPUFeatures(hasHaswellLevel: haswell, hasIcelakeServerLevel: icelake)
        #else
        return CPUFeatures(hasHaswellLevel: false, hasIcelakeServerLevel: false)
        #endif
    }
}
