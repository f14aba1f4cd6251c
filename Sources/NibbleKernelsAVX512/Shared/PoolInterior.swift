// Shared source (symlinked into every kernel module): the interior of an fp32 Max/AveragePool output row, 8 outputs
// at a time, compiled per ISA level (the runtime's own module targets baseline x86-64, where each 8-lane step was two
// SSE operations and the max's select three). Each lane takes the same values in the same order as the scalar loop
// of the runtime's PoolStep, so results are bit-identical at every level.

public enum PoolInterior {
    /// x[at + j · stride] for j in 0..<8; with `whole`, stride 1 is one load and stride 2 the even half of two (the
    /// caller has checked those 16 floats lie in the plane), otherwise eight loads.
    @inline(__always)
    static func lanes(_ x: UnsafePointer<Float>, at: Int, stride: Int, whole: Bool) -> SIMD8<Float> {
        if whole && stride == 1 { return UnsafeRawPointer(x + at).loadUnaligned(as: SIMD8<Float>.self) }
        if whole && stride == 2 { return UnsafeRawPointer(x + at).loadUnaligned(as: SIMD16<Float>.self).evenHalf }
        var v = SIMD8<Float>()
        for j in 0..<8 { v[j] = x[at &+ j &* stride] }
        return v
    }

    /// dst[ox] for ox in oxLo ..< oxHi when there are at least 8 of them (else none), each the max (v ≥ acc replaces acc) or the mean of
    /// the window src[(y0 + ky·dH)·inW + ox·sW − padLeft + kx·dW] (all inside the plane of `planeEnd` floats), ky, kx in
    /// row-major order; returns the first ox left for the scalar loop (oxHi, or oxLo with fewer than 8).
    public static func row(_ src: UnsafePointer<Float>, planeEnd: Int, inW: Int, y0: Int, oxLo: Int, oxHi: Int, sW: Int,
                           padLeft: Int, kH: Int, kW: Int, dH: Int, dW: Int, isMax: Bool,
                           into dst: UnsafeMutablePointer<Float>) -> Int {
        if oxHi &- oxLo < 8 { return oxLo }
        // The operation and the common strides as constants of their own loop: a loop that tested them (and the load
        // bounds) at every tap ran a max pool 3×3/2 (M1's, 64 × 112²) at about 5 cycles a tap.
        // (A local function wrapping rowLoop was compiled once with both as arguments: each case calls it itself.)
        switch (isMax, sW) {
        case (true, 2) where kH == 3 && kW == 3:   // ResNet's stem pool: its taps fully unrolled
            return rowLoop(src, planeEnd: planeEnd, inW: inW, y0: y0, oxLo: oxLo, oxHi: oxHi, sW: 2, padLeft: padLeft,
                           kH: 3, kW: 3, dH: dH, dW: dW, isMax: true, into: dst)
        case (true, 1):
            return rowLoop(src, planeEnd: planeEnd, inW: inW, y0: y0, oxLo: oxLo, oxHi: oxHi, sW: 1, padLeft: padLeft,
                           kH: kH, kW: kW, dH: dH, dW: dW, isMax: true, into: dst)
        case (true, 2):
            return rowLoop(src, planeEnd: planeEnd, inW: inW, y0: y0, oxLo: oxLo, oxHi: oxHi, sW: 2, padLeft: padLeft,
                           kH: kH, kW: kW, dH: dH, dW: dW, isMax: true, into: dst)
        case (false, 1):
            return rowLoop(src, planeEnd: planeEnd, inW: inW, y0: y0, oxLo: oxLo, oxHi: oxHi, sW: 1, padLeft: padLeft,
                           kH: kH, kW: kW, dH: dH, dW: dW, isMax: false, into: dst)
        case (false, 2):
            return rowLoop(src, planeEnd: planeEnd, inW: inW, y0: y0, oxLo: oxLo, oxHi: oxHi, sW: 2, padLeft: padLeft,
                           kH: kH, kW: kW, dH: dH, dW: dW, isMax: false, into: dst)
        default:
            return rowLoop(src, planeEnd: planeEnd, inW: inW, y0: y0, oxLo: oxLo, oxHi: oxHi, sW: sW, padLeft: padLeft,
                           kH: kH, kW: kW, dH: dH, dW: dW, isMax: isMax, into: dst)
        }
    }

    @inline(__always)
    static func rowLoop(_ src: UnsafePointer<Float>, planeEnd: Int, inW: Int, y0: Int, oxLo: Int, oxHi: Int, sW: Int,
                        padLeft: Int, kH: Int, kW: Int, dH: Int, dW: Int, isMax: Bool,
                        into dst: UnsafeMutablePointer<Float>) -> Int {
        @inline(__always) func window(_ base: Int, whole: Bool) -> SIMD8<Float> {
            var acc = SIMD8<Float>(repeating: isMax ? -.infinity : 0)
            for ky in 0..<kH {
                let r = base &+ ky &* dH &* inW
                // Max: each kernel row folds from −∞ on its own chain, then the rows fold in order. "v ≥ acc replaces
                // acc" keeps the last of the largest and is associative when NaN never replaces, so this is the
                // row-major fold's result to the bit (±0 included) with kW + kH dependent steps instead of kH · kW.
                var rowAcc = acc
                if isMax { rowAcc = SIMD8(repeating: -.infinity) }
                for kx in 0..<kW {
                    let v = lanes(src, at: r &+ kx &* dW, stride: sW, whole: whole)
                    if isMax { rowAcc = rowAcc.replacing(with: v, where: v .>= rowAcc) } else { rowAcc += v }
                }
                acc = isMax ? acc.replacing(with: rowAcc, where: rowAcc .>= acc) : rowAcc
            }
            return acc
        }
        var ox = oxLo
        while ox < oxHi {
            // The last group overlaps the one before it so no output is left to the scalar loop: the outputs both
            // cover are computed twice, to the same bits.
            if ox &+ 8 > oxHi { ox = oxHi &- 8 }
            let base = y0 &* inW &+ ox &* sW &- padLeft
            // Whole-vector loads of the group's last tap (stride 2: 16 floats) stay inside the plane, so all do.
            let last = base &+ (kH &- 1) &* dH &* inW &+ (kW &- 1) &* dW
            var acc = last &+ 16 <= planeEnd || (sW == 1 && last &+ 8 <= planeEnd) ? window(base, whole: true) : window(base, whole: false)
            if !isMax { acc /= SIMD8(repeating: Float(kH &* kW)) }
            UnsafeMutableRawPointer(dst + ox).storeBytes(of: acc, as: SIMD8<Float>.self)
            ox &+= 8
        }
        return ox
    }
}
