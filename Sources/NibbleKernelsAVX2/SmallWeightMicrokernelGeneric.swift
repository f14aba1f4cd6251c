// Shared source (symlinked into every kernel module): the portable twin of SmallWeightMicrokernelMaddubs — the
// same contract, exact by widening bytes to int32 lanes (as Int8MicrokernelGeneric), so it holds for any int8 weights.

/// A 4 × 16 tile of exact int32 sums, one SIMD8 per row half: `rowNa` = columns 0…7, `rowNb` = columns 8…15.
/// Returned by value so an inlined caller keeps it in registers.
struct Int32Tile4x16 {
    var r0a: SIMD8<Int32>, r0b: SIMD8<Int32>, r1a: SIMD8<Int32>, r1b: SIMD8<Int32>
    var r2a: SIMD8<Int32>, r2b: SIMD8<Int32>, r3a: SIMD8<Int32>, r3b: SIMD8<Int32>
}

extension Int32Tile4x16 {
    /// Lane-wise sum of two tiles (wrapping, as the int32 accumulators do).
    @inline(__always)
    func adding(_ o: Int32Tile4x16) -> Int32Tile4x16 {
        Int32Tile4x16(r0a: r0a &+ o.r0a, r0b: r0b &+ o.r0b, r1a: r1a &+ o.r1a, r1b: r1b &+ o.r1b,
                      r2a: r2a &+ o.r2a, r2b: r2b &+ o.r2b, r3a: r3a &+ o.r3a, r3b: r3b &+ o.r3b)
    }
}

enum SmallWeightMicrokernelGeneric {
    static let tileRows = 4
    static let tileColumns = 16
    /// No pixel runs as `column` dot products here: one pixel's scalar products cost more than the tile's 16 columns.
    static let columnDots = false

    /// TernaryTileVNNI.column's contract in plain integers (not taken while `columnDots` is false).
    @inline(__always)
    static func column(quads: Int, a: UnsafePointer<Int8>, lda: Int, x: UnsafePointer<UInt8>,
                       corrections: UnsafePointer<Int32>) -> SIMD4<Int32> {
        var s = SIMD4<Int32>()
        for r in 0..<4 {
            var t: Int32 = 0
            for i in 0..<(4 &* quads) { t &+= Int32(a[r &* lda &+ i]) &* Int32(x[i]) }
            s[r] = t &- corrections[2 &* r &+ 1]
        }
        return s
    }

    /// Quads (4 reduction indices) whose vpmaddubsw pair sums an int16 lane can add before it must be widened:
    /// each pair is q·w + q'·w' with q ≤ 255, so |pair| ≤ 510·maxAbsWeight and n pairs stay below 2^15 while
    /// n·510·maxAbsWeight ≤ 32767 — 64 quads for ternary weights, 1 for |w| ≤ 64. Beyond 64 the pair itself can
    /// saturate (2·255·65 > 32767), so `maxAbsWeight` must be in 1...64.
    @inline(__always)
    static func quadsPerWiden(maxAbsWeight: Int) -> Int { 32767 / (510 &* maxAbsWeight) }

    /// Σ_{i < quads} Σ_{t < 4} a_r[4i + t] · b[64i + 4j + t] − corrections[2r + 1] for rows a_r = a + r·lda (r < 4)
    /// and columns j < 16 of the 4-byte-interleaved panel layout of Int8ConvTiled. (`quadsPerWiden`,
    /// corrections[2r] and `lanesStartCorrected` are for the int16 kernel; exact here.)
    @inline(__always)
    static func tile(quads: Int, a: UnsafePointer<Int8>, lda: Int, b: UnsafePointer<UInt8>, quadsPerWiden: Int,
                     corrections: UnsafePointer<Int32>, lanesStartCorrected: Bool) -> Int32Tile4x16 {
        var c0 = SIMD16<Int32>(repeating: 0 &- corrections[1]), c1 = SIMD16<Int32>(repeating: 0 &- corrections[3])
        var c2 = SIMD16<Int32>(repeating: 0 &- corrections[5]), c3 = SIMD16<Int32>(repeating: 0 &- corrections[7])
        let mask = SIMD16<UInt32>(repeating: 0xFF)
        let a1 = a + lda, a2 = a + 2 &* lda, a3 = a + 3 &* lda
        var bp = UnsafeRawPointer(b)
        for i in 0..<quads {
            let v = bp.loadUnaligned(as: SIMD16<UInt32>.self)
            bp += 64
            for t in 0..<4 {
                let bt = SIMD16<Int32>(truncatingIfNeeded: (v &>> UInt32(8 &* t)) & mask)
                let k = 4 &* i &+ t
                c0 &+= bt &* Int32(a[k]); c1 &+= bt &* Int32(a1[k]); c2 &+= bt &* Int32(a2[k]); c3 &+= bt &* Int32(a3[k])
            }
        }
        return Int32Tile4x16(r0a: c0.lowHalf, r0b: c0.highHalf, r1a: c1.lowHalf, r1b: c1.highHalf,
                             r2a: c2.lowHalf, r2b: c2.highHalf, r3a: c3.lowHalf, r3b: c3.highHalf)
    }

    /// The int16 kernel's starting lane pair for a correction zp·Σw split by reduction index k: −(the part over
    /// k mod 4 ∈ {0, 1}) in the low half, −(the part over {2, 3}) in the high half (vpmaddubsw's pair lanes).
    @inline(__always)
    static func lanePair(low: Int32, high: Int32) -> Int32 {
        Int32(bitPattern: UInt32(UInt16(truncatingIfNeeded: 0 &- high)) << 16 | UInt32(UInt16(truncatingIfNeeded: 0 &- low)))
    }

    /// One panel quad of 16 columns: byte 4j + t of `to` = v_t[j].
    @inline(__always)
    static func interleave(_ v0: SIMD16<UInt8>, _ v1: SIMD16<UInt8>, _ v2: SIMD16<UInt8>, _ v3: SIMD16<UInt8>,
                           to d: UnsafeMutableRawPointer) {
        let v = wordLanes(v0) | wordLanes(v1) &<< 8 | wordLanes(v2) &<< 16 | wordLanes(v3) &<< 24
        d.storeBytes(of: v, as: SIMD16<UInt32>.self)
    }

    /// 32 ternary weights as int8 −1/0/+1: bit i of `plus` / `minus` (disjoint masks) → byte i.
    @inline(__always)
    static func expand(plus: UInt32, minus: UInt32) -> SIMD32<Int8> {
        // Byte b of the mask broadcast to lanes 8b…8b+7 (a multiply by 0x0101…), kept where the lane's own bit is
        // set, then clamped to 1: plus − minus is 1, 255 (= −1) or 0.
        let pattern = unsafeBitCast(SIMD4<UInt64>(repeating: 0x8040_2010_0804_0201), to: SIMD32<UInt8>.self)
        let one = SIMD32<UInt8>(repeating: 1)
        func spread(_ m: UInt32) -> SIMD32<UInt8> {
            let b: UInt64 = 0x0101_0101_0101_0101
            let v = SIMD4<UInt64>(UInt64(m & 0xFF) &* b, UInt64((m >> 8) & 0xFF) &* b,
                                  UInt64((m >> 16) & 0xFF) &* b, UInt64(m >> 24) &* b)
            return pointwiseMin(unsafeBitCast(v, to: SIMD32<UInt8>.self) & pattern, one)
        }
        return unsafeBitCast(spread(plus) &- spread(minus), to: SIMD32<Int8>.self)
    }
}
