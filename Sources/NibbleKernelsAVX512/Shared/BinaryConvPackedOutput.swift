// Shared source (symlinked into every kernel module): the bit-serial conv epilogue that writes the next bit-serial
// layer's 1-bit packed input instead of floats — issue 5's fused glue, so binary layers chain without a float map and
// a packing pass between them. Per output channel the packed bit is one integer comparison of the sum
// (BinaryChainThresholds: the float path's bit is monotonic in it); the bits go straight into BitPlaneLayout words.
// (The float epilogue's `packedCopy` gathers its bits from the final floats into the same per-column words.)

extension BinaryConvTiled {
    /// The tile's `rows` output channels m0 ..< m0 + rows × `cols` pixels p0 ..< p0 + cols as bits of the packed
    /// words `words` (one plane; channels g.outC, vectors g.outPixels): bit = signs[o] · a ≥ thresholds[o], a the sum
    /// of the tile's `acc` row (NR apart) with the float epilogue's fix-ups (`fixedSums`). The panel's words for channels (m0 / 64)·64 ..< +64 gather in `word` (one per column; m0 is a
    /// multiple of the tile height, which divides 64) and are stored whole after the word's `last` tile, so a task
    /// that owns whole words (channels split at multiples of 64) writes memory no other task touches.
    @inline(__always)
    static func storePacked(_ g: ConvGeometry, acc: UnsafePointer<Int32>, validTaps: UnsafePointer<Int32>,
                            actSum: UnsafePointer<Int32>, xorMode: Bool, wBipolar: Bool, rows: Int, cols: Int, m0: Int, p0: Int,
                            thresholds: UnsafePointer<Int32>, signs: UnsafePointer<Int32>, word: UnsafeMutablePointer<UInt64>,
                            last: Bool, words: UnsafeMutablePointer<UInt64>) {
        let nr = BinaryMicrokernel.panelWidth, wpv = (g.outC &+ 63) >> 6
        let inC = Int32(truncatingIfNeeded: g.inC)
        if m0 & 63 == 0 { word.update(repeating: 0, count: nr) }
        var c = 0
        // Panels narrower than 8 (the portable tile) never take the 8-lane block: `nr` is a constant, so it compiles away.
        while nr >= 8 && c &+ 8 <= cols {
            // 8 pixels: (s·a − t) >> 31 is all ones exactly where s·a < t (|s·a|, |t| ≤ 2^30 + 1: no overflow).
            // Integer lanes only: a mask select compiled to a branch per lane.
            var v = SIMD8<UInt64>()
            for r in 0..<rows {
                let o = m0 &+ r
                let a = fixedSums(acc + r &* nr, c, validTaps: validTaps, actSum: actSum, xorMode: xorMode, wBipolar: wBipolar, inC: inC)
                let below = SIMD8<UInt64>(truncatingIfNeeded: (a &* signs[o] &- thresholds[o]) &>> 31)
                v |= ~below & SIMD8<UInt64>(repeating: 1 &<< UInt64(truncatingIfNeeded: o & 63))
            }
            let at = UnsafeMutableRawPointer(word + c)
            at.storeBytes(of: at.load(as: SIMD8<UInt64>.self) | v, as: SIMD8<UInt64>.self)
            c &+= 8
        }
        while c < cols {
            var v: UInt64 = 0
            for r in 0..<rows {
                let o = m0 &+ r
                let fixed = fixedSum(acc + r &* nr, c, validTaps: validTaps, actSum: actSum, xorMode: xorMode, wBipolar: wBipolar, inC: inC)
                if fixed &* signs[o] >= thresholds[o] { v |= 1 &<< UInt64(truncatingIfNeeded: o & 63) }
            }
            word[c] |= v
            c &+= 1
        }
        if last { storeWords(word, cols: cols, into: words + (p0 &* wpv &+ m0 >> 6), stride: wpv) }
    }

    /// A panel's gathered 64-channel words, one per pixel column, into the packed plane (`stride` words per pixel).
    @inline(__always)
    static func storeWords(_ word: UnsafePointer<UInt64>, cols: Int, into dst: UnsafeMutablePointer<UInt64>, stride: Int) {
        for c in 0..<cols { dst[c &* stride] = word[c] }
    }
}
