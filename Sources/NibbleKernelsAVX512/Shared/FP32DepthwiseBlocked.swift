// Shared source (symlinked into every kernel module). Depthwise convolution on maps at most half a vector wide (a
// MobileNet's 7×7 … 3×3 stages at 16 lanes): a row per vector leaves most lanes idle (7 of 16 at 7×7) and each
// channel pays its own padding and chain set-up. Here a vector holds one position of a block of channels instead,
// as ONNX Runtime's NCHWc kernels and XNNPACK's channel-tiled depthwise do: the block's input is transposed once
// into a zero-padded [row][column][lane] grid, every tap is one full-width multiply-add, and each output vector is
// stored lane by lane into its channels' planes.

/// Depthwise fp32 convolution with channels along the lanes, for maps at most half a vector wide.
enum FP32DepthwiseBlocked {
    /// Rows of at most half a vector. Wider ones fill enough lanes along the row (`FP32DepthwiseDirect`): at 14×14
    /// the row path stayed faster (576 channels 3×3: 0.108 ms, this one 0.150: the transposes), at 7×7 this one wins
    /// (960 channels: 0.069 against 0.086). Grid offsets are Int32 bytes, so the grid stays well below 2 GiB.
    @inline(__always) static func applies(_ g: ConvGeometry) -> Bool {
        g.outW &* 2 <= FVec.scalarCount
            && FP32DepthwiseDirect.paddedHeight(g) &* FP32DepthwiseDirect.paddedWidth(g) < 1 << 24
    }

    /// Scratch floats: the padded grid, each tap's weight vector, the bias vector, then each output position's and
    /// each tap's offset in the grid (Int32), and one vector on its way to the output.
    static func scratchFloatCount(_ g: ConvGeometry) -> Int {
        let hp = FP32DepthwiseDirect.paddedHeight(g), wp = FP32DepthwiseDirect.paddedWidth(g)
        let taps = g.kernelH &* g.kernelW
        return (hp &* wp &+ taps &+ 2) &* FVec.scalarCount &+ g.outH &* g.outW &+ taps
    }

    static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                    bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                    scratch: UnsafeMutablePointer<Float>, outputMin: Float, outputMax: Float) {
        let vw = FVec.scalarCount
        let hp = FP32DepthwiseDirect.paddedHeight(g), wp = FP32DepthwiseDirect.paddedWidth(g)
        let inH = g.inH, inW = g.inW, outH = g.outH, outW = g.outW
        let kH = g.kernelH, kW = g.kernelW, taps = kH &* kW
        let inPlane = inH &* inW, outPlane = outH &* outW
        let grid = scratch
        let tapWeights = grid + hp &* wp &* vw
        let biasVector = tapWeights + taps &* vw
        // Byte offsets in the grid: output position q's first tap, and tap t from it.
        let origins = UnsafeMutableRawPointer(biasVector + vw).assumingMemoryBound(to: Int32.self)
        let tapOffsets = origins + outPlane
        let lanesOut = UnsafeMutableRawPointer(tapOffsets + taps).assumingMemoryBound(to: Float.self)
        for oh in 0..<outH {
            for ow in 0..<outW {
                let cell = oh &* g.strideH &* wp &+ ow &* g.strideW
                origins[oh &* outW &+ ow] = Int32(truncatingIfNeeded: cell &* vw &* 4)
            }
        }
        for kh in 0..<kH {
            for kw in 0..<kW {
                let cell = kh &* g.dilationH &* wp &+ kw &* g.dilationW
                tapOffsets[kh &* kW &+ kw] = Int32(truncatingIfNeeded: cell &* vw &* 4)
            }
        }
        let lo = FVec(repeating: outputMin), hi = FVec(repeating: outputMax)
        // Input rows and columns that land inside the grid (the rest of it is padding).
        let ihLo = Swift.max(0, -g.padTop), ihHi = Swift.min(inH, hp &- g.padTop)
        let iwLo = Swift.max(0, -g.padLeft), iwHi = Swift.min(inW, wp &- g.padLeft)
        var c0 = 0
        while c0 < g.outC {
            let lanes = Swift.min(vw, g.outC &- c0)
            // Zeros for the padding and for lanes past the last channel, then the block's inputs a grid vector at a
            // time (lane l from channel c0 + l): written lane by lane, LLVM made the loop a scatter, slower than this.
            InlineCopy.zeroVectors(grid, count: hp &* wp &* vw)
            let first = input + c0 &* inPlane
            var ih = ihLo
            while ih < ihHi {
                let gridRow: Int = (ih &+ g.padTop) &* wp &+ g.padLeft
                var iw = iwLo
                while iw < iwHi {
                    let at = first + (ih &* inW &+ iw)
                    var v = FVec()
                    if lanes == vw {
                        for l in 0..<vw { v[l] = at[l &* inPlane] }
                    } else {
                        for l in 0..<lanes { v[l] = at[l &* inPlane] }
                    }
                    UnsafeMutableRawPointer(grid + (gridRow &+ iw) &* vw).storeBytes(of: v, as: FVec.self)
                    iw &+= 1
                }
                ih &+= 1
            }
            for t in 0..<taps {
                for l in 0..<vw { tapWeights[t &* vw &+ l] = l < lanes ? weights[(c0 &+ l) &* taps &+ t] : 0 }
            }
            for l in 0..<vw { biasVector[l] = l < lanes ? (bias?[c0 &+ l] ?? 0) : 0 }
            let b = UnsafeRawPointer(biasVector).loadUnaligned(as: FVec.self)
            @inline(__always) func tapWeight(_ t: Int) -> FVec {
                UnsafeRawPointer(tapWeights + t &* vw).loadUnaligned(as: FVec.self)
            }
            @inline(__always) func tap(_ origin: Int, _ t: Int) -> FVec {
                UnsafeRawPointer(grid).loadUnaligned(fromByteOffset: origin &+ Int(tapOffsets[t]), as: FVec.self)
            }
            /// Lane l of y is channel c0 + l at output position q: stored lane by lane (a [position][lane] block
            /// transposed afterwards had become vgather loops, a fifth of the kernel).
            /// The vector goes through memory first: lanes taken from the register after the clamp's blends became
            /// mask shifts per lane, half of the kernel.
            @inline(__always) func store(_ y: FVec, _ q: Int) {
                UnsafeMutableRawPointer(lanesOut).storeBytes(of: clampLanes(y, lo: lo, hi: hi), as: FVec.self)
                let at = output + (c0 &* outPlane &+ q)
                if lanes == vw {
                    for l in 0..<vw { at[l &* outPlane] = lanesOut[l] }
                } else {
                    for l in 0..<lanes { at[l &* outPlane] = lanesOut[l] }
                }
            }
            // Each output is the bias, then acc + w·x tap after tap in (kh, kw) order — the reference's operations,
            // padding taps adding w·0 — four positions side by side so the multiply-add latency is covered.
            var p = 0
            while p < outPlane {
                // Positions past the plane repeat its last one: computed and stored again, the same value.
                let p1 = Swift.min(p &+ 1, outPlane &- 1), p2 = Swift.min(p &+ 2, outPlane &- 1)
                let p3 = Swift.min(p &+ 3, outPlane &- 1)
                let o0 = Int(origins[p]), o1 = Int(origins[p1]), o2 = Int(origins[p2]), o3 = Int(origins[p3])
                var a0 = b, a1 = b, a2 = b, a3 = b
                for t in 0..<taps {
                    let w = tapWeight(t)
                    a0 = madd(a0, w, tap(o0, t))
                    a1 = madd(a1, w, tap(o1, t))
                    a2 = madd(a2, w, tap(o2, t))
                    a3 = madd(a3, w, tap(o3, t))
                }
                store(a0, p); store(a1, p1); store(a2, p2); store(a3, p3)
                p &+= 4
            }
            c0 &+= vw
        }
    }
}
