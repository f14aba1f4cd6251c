// Shared source (symlinked into every kernel module): short copies without a C call.

/// Copies of a few to a few hundred bytes inside kernels (a band's row of bytes, a depthwise grid row of floats):
/// `update(from:count:)` is a memmove call, whose cost there exceeded the copy (7 % of a CAT MobileNet run in the
/// depthwise rows, a tenth of a CAT ResNet's banded convs in `Int8ConvTiled.padQuantized`).
enum InlineCopy {
    /// `count` bytes from `src` to `dst` (not overlapping): native vectors, then 16-byte blocks, 8 and single bytes.
    @inline(__always)
    static func bytes(_ src: UnsafeRawPointer, to dst: UnsafeMutableRawPointer, count: Int) {
        let v = MemoryLayout<FVec>.size
        var i = 0
        while i &+ v <= count { (dst + i).storeBytes(of: src.loadUnaligned(fromByteOffset: i, as: FVec.self), as: FVec.self); i &+= v }
        while i &+ 16 <= count { (dst + i).storeBytes(of: src.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self); i &+= 16 }
        if i &+ 8 <= count { (dst + i).storeBytes(of: src.loadUnaligned(fromByteOffset: i, as: UInt64.self), as: UInt64.self); i &+= 8 }
        while i < count { (dst + i).storeBytes(of: src.load(fromByteOffset: i, as: UInt8.self), as: UInt8.self); i &+= 1 }
    }

    /// Zeros over [dst, dst + count) in whole native vectors: up to one vector less a float lands past the end, which
    /// the caller overwrites afterwards (the next row, the row's copy) or has as slack. A short memset call cost half of
    /// a 7×7 depthwise channel.
    @inline(__always)
    static func zeroVectors(_ dst: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: FVec(), as: FVec.self)
            i &+= FVec.scalarCount
        }
    }
}
