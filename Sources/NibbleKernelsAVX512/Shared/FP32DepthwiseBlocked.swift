// Shared source (symlinked into every kernel module). Depthwise convolution on maps at most half a vector wide (a
// MobileNet's 7×7 … 3×3 stages at 16 lanes): a row per vector leaves most lanes idle (7 of 16 at 7×7) and each
// channel pays its own padding and chain set-up. Here a vector holds one position of a block of channels instead,
// as ONNX Runtime's NCHWc kernels and XNNPACK's channel-tiled depthwise do: the block's input is transposed once
// into a zero-padded [row][column][lane] grid, every tap is one full-width multiply-add, and the outputs are
// transposed back.

/// Depthwise fp32 convolution with channels along the lanes, for maps at most half a vector wide.
enum FP32DepthwiseBlocked {
    /// Rows of at most half a vector. Wider ones fill enough lanes along the row (`FP32DepthwiseDirect`): at 14×14 the
    /// row path took 0.057 ms for 288 channels (3×3), this one 0.076–0.092 (the transposes), at 7×7 0.071 against 0.051.
    @inline(__always) static func applies(_ g: ConvGeometry) -> Bool { g.outW &* 2 <= FVec.scalarCount }

    /// Scratch floats: the padded grid, each tap's weight vector, the bias vector and the output block.
    static func scratchFloatCount(_ g: ConvGeometry) -> Int {
        let hp = FP32DepthwiseDirect.paddedHeight(g), wp = FP32DepthwiseDirect.paddedWidth(g)
        return (hp &* wp &+ g.kernelH &* g.kernelW &+ 1 &+ g.outH &* g.outW) &* FVec.scalarCount
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
        let block = biasVector + vw
        let lo = FVec(repeating: outputMin), hi = FVec(repeating: outputMax)
        // Input rows and columns that land inside the grid (the rest of it is padding).
        let ihLo = Swift.max(0, -g.padTop), ihHi = Swift.min(inH, hp &- g.padTop)
        let iwLo = Swift.max(0, -g.padLeft), iwHi = Swift.min(inW, wp &- g.padLeft)
        var c0 = 0
        while c0 < g.outC {
            let lanes = Swift.min(vw, g.outC &- c0)
            // Zeros for the padding and for lanes past the last channel, then the block's inputs a grid vector at a
            // time (lane l from channel c0 + l): written lane by lane, LLVM made the loop a scatter, slower than this.
            FP32DepthwiseDirect.zeroRounded(grid, count: hp &* wp &* vw)
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
            @inline(__always) func gridVector(_ r: Int, _ c: Int) -> FVec {
                UnsafeRawPointer(grid + (r &* wp &+ c) &* vw).loadUnaligned(as: FVec.self)
            }
            @inline(__always) func clamp(_ v: FVec) -> FVec { FP32DepthwiseDirect.clamp(v, lo, hi) }
            @inline(__always) func put(_ v: FVec, _ p: Int) {
                UnsafeMutableRawPointer(block + p &* vw).storeBytes(of: clamp(v), as: FVec.self)
            }
            /// The grid row and column of output position q's first tap.
            @inline(__always) func origin(_ q: Int) -> (Int, Int) {
                let oh = q / outW
                return (oh &* g.strideH, (q &- oh &* outW) &* g.strideW)
            }
            // Each output is the bias, then acc + w·x tap after tap in (kh, kw) order — the reference's operations,
            // padding taps adding w·0 — four positions side by side so the multiply-add latency is covered.
            var p = 0
            while p < outPlane {
                let n = Swift.min(4, outPlane &- p)
                var r = (0, 0, 0, 0), c = (0, 0, 0, 0)
                let p1 = Swift.min(p &+ 1, outPlane &- 1), p2 = Swift.min(p &+ 2, outPlane &- 1)
                let p3 = Swift.min(p &+ 3, outPlane &- 1)
                (r.0, c.0) = origin(p); (r.1, c.1) = origin(p1); (r.2, c.2) = origin(p2); (r.3, c.3) = origin(p3)
                var a0 = b, a1 = b, a2 = b, a3 = b
                for kh in 0..<kH {
                    let dr = kh &* g.dilationH
                    for kw in 0..<kW {
                        let dc = kw &* g.dilationW
                        let w = tapWeight(kh &* kW &+ kw)
                        a0 = madd(a0, w, gridVector(r.0 &+ dr, c.0 &+ dc))
                        a1 = madd(a1, w, gridVector(r.1 &+ dr, c.1 &+ dc))
                        a2 = madd(a2, w, gridVector(r.2 &+ dr, c.2 &+ dc))
                        a3 = madd(a3, w, gridVector(r.3 &+ dr, c.3 &+ dc))
                    }
                }
                // Positions past the plane repeat its last one: computed, stored in place of it, the same value.
                put(a3, p3); put(a2, p2); put(a1, p1); put(a0, p)
                p &+= n
            }
            for l in 0..<lanes {
                let plane = output + (c0 &+ l) &* outPlane
                for q in 0..<outPlane { plane[q] = block[q &* vw &+ l] }
            }
            c0 &+= vw
        }
    }
}
