// Shared source (symlinked into every kernel module): the portable twin of TernaryMaskDotAVX2 — the same contract,
// one channel at a time, 16 indices per step: Σ_{+1} q − Σ_{−1} q over the masked bytes (each ≤ 16·255, exact in
// UInt16 lanes) minus zp·(popcount(+) − popcount(−)). Kept small: it is the Embedded build's only level.

extension SmallWeightMicrokernelGeneric {
    /// s[j] = Σ_{groups gi} αT[8·gi + j] · Float(Σ_{k ∈ gi} T[r, k]·(x[k] − zp)) for rows r = min(first + j, rows − 1),
    /// j < 8 (αT: the rows' scales, 8 per group), summed in group order as TernaryConvReference does. Masks are TernaryPlanes rows read as 32-bit halves
    /// (`halfWordsPerRow` per row); a group is `unitsPerGroup` × 16 indices (the last one may be short); x is readable
    /// up to the row's whole 32-index chunks.
    static func maskDot8(plus: UnsafePointer<UInt32>, minus: UnsafePointer<UInt32>, halfWordsPerRow: Int, rows: Int, first: Int,
                         rowLength: Int, x: UnsafePointer<UInt8>, zeroPoint: Int32, alphaT: UnsafePointer<Float>,
                         unitsPerGroup: Int) -> SIMD8<Float> {
        let units = (rowLength &+ 15) >> 4
        var pattern = SIMD16<UInt8>()
        for i in 0..<16 { pattern[i] = UInt8(1) << UInt8(i & 7) }
        // Byte i of the result is 0xFF where bit i of m is set.
        func bytes(_ m: UInt32) -> SIMD16<UInt8> {
            let v = SIMD2<UInt64>(UInt64(m & 0xFF), UInt64((m >> 8) & 0xFF)) &* 0x0101_0101_0101_0101
            return SIMD16<UInt8>().replacing(with: 0xFF, where: unsafeBitCast(v, to: SIMD16<UInt8>.self) & pattern .!= 0)
        }
        var s = SIMD8<Float>()
        for j in 0..<8 {
            let r = Swift.min(first &+ j, rows &- 1)
            let p = plus + r &* halfWordsPerRow, m = minus + r &* halfWordsPerRow
            var sum: Float = 0, acc: Int32 = 0, gi = 0, end = Swift.min(unitsPerGroup, units)
            for u in 0..<units {
                let shift = UInt32((u & 1) << 4)
                let pb = (p[u >> 1] >> shift) & 0xFFFF, mb = (m[u >> 1] >> shift) & 0xFFFF
                let v = UnsafeRawPointer(x + u &* 16).loadUnaligned(as: SIMD16<UInt8>.self)
                let on = SIMD16<UInt16>(truncatingIfNeeded: v & bytes(pb)).wrappedSum()
                let off = SIMD16<UInt16>(truncatingIfNeeded: v & bytes(mb)).wrappedSum()
                acc &+= Int32(on) &- Int32(off) &- zeroPoint &* Int32(pb.nonzeroBitCount &- mb.nonzeroBitCount)
                if u &+ 1 == end {
                    sum += alphaT[gi &* 8 &+ j] * Float(acc)
                    acc = 0; gi &+= 1; end = Swift.min(end &+ unitsPerGroup, units)
                }
            }
            s[j] = sum
        }
        return s
    }
}
