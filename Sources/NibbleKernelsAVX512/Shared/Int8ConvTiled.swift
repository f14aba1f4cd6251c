// Shared source (symlinked into every kernel module). The input is quantized once to uint8, im2col
// panels interleave K in groups of 4 bytes per column (the vpdpbusd operand layout), and the
// module's Int8Microkernel (VNNI or generic widening) produces exact int32 tiles.

/// Int8 convolution: uint8 activations (per-tensor zero point), int8 OIHW weights, per-channel scales.
public enum Int8ConvTiled {
    @inline(__always) static func roundUp64(_ x: Int) -> Int { (x &+ 63) & ~63 }

    /// Byte offsets of the scratch parts: quantized input, row sums, int32 tile, packed panel.
    @inline(__always) static func layout(_ g: ConvGeometry) -> (rowSums: Int, tile: Int, panel: Int, total: Int) {
        let q = roundUp64(g.inC &* g.inH &* g.inW)
        let rs = roundUp64(g.outC &* 4)
        let tile = roundUp64(Int8Microkernel.tileRows &* Int8Microkernel.tileColumns &* 4)
        let kp = (g.reductionLength &+ 3) & ~3
        let panel = roundUp64(kp &* Int8Microkernel.tileColumns)
        return (q, q &+ rs, q &+ rs &+ tile, q &+ rs &+ tile &+ panel)
    }

    public static func scratchByteCount(_ g: ConvGeometry) -> Int { layout(g).total &+ 64 }

    public static func run(_ g: ConvGeometry, input: UnsafePointer<Float>, inputScale: Float, inputZeroPoint: Int32,
                           weights: UnsafePointer<Int8>, weightScales: UnsafePointer<Float>,
                           bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutableRawPointer, outputMin: Float, outputMax: Float) {
        let lay = layout(g)
        let q = scratch.assumingMemoryBound(to: UInt8.self)
        let rowSums = (scratch + lay.rowSums).assumingMemoryBound(to: Int32.self)
        let tile = (scratch + lay.tile).assumingMemoryBound(to: Int32.self)
        let panel = (scratch + lay.panel).assumingMemoryBound(to: UInt8.self)
        let k = g.reductionLength
        let n = g.outPixels
        let ocg = g.outCPerGroup, icg = g.inCPerGroup
        let inPlane = g.inH &* g.inW
        let mr = Int8Microkernel.tileRows, nr = Int8Microkernel.tileColumns
        Int8Quantization.quantize(input, count: g.inC &* inPlane, scale: inputScale, zeroPoint: inputZeroPoint, into: q)
        Int8Quantization.rowSums(weights, rows: g.outC, length: k, into: rowSums)
        let zpByte = UInt8(truncatingIfNeeded: Swift.max(0, Swift.min(255, inputZeroPoint)))
        for grp in 0..<g.groups {
            let wG = weights + grp &* ocg &* k
            let qG = UnsafePointer(q) + grp &* icg &* inPlane
            var n0 = 0
            while n0 < n {
                let cols = Swift.min(nr, n &- n0)
                packPanel(g, input: qG, padValue: zpByte, firstColumn: n0, columns: cols, panel: panel)
                var m0 = 0
                while m0 < ocg {
                    let rows = Swift.min(mr, ocg &- m0)
                    Int8Microkernel.tile(k: k, a: wG + m0 &* k, lda: k, rows: rows, b: UnsafePointer(panel), out: tile)
                    let oBase = grp &* ocg &+ m0
                    for r in 0..<rows {
                        let o = oBase &+ r
                        let corr = inputZeroPoint &* rowSums[o]
                        let scale = inputScale * weightScales[o]
                        let b: Float = bias?[o] ?? 0
                        let dst = output + (o &* n &+ n0)
                        let src = tile + r &* nr
                        for j in 0..<cols {
                            dst[j] = Int8Quantization.dequantize(src[j] &- corr, scale: scale, bias: b,
                                                                 outputMin: outputMin, outputMax: outputMax)
                        }
                    }
                    m0 &+= mr
                }
                n0 &+= nr
            }
        }
    }

    /// im2col of quantized input into panel[(k/4)·NR·4 + j·4 + k%4]; spatial padding holds the zero
    /// point (quantized 0.0), K past the end holds 0, unused columns hold 0.
    @inline(__always)
    static func packPanel(_ g: ConvGeometry, input: UnsafePointer<UInt8>, padValue: UInt8, firstColumn: Int, columns: Int,
                          panel: UnsafeMutablePointer<UInt8>) {
        let nr = Int8Microkernel.tileColumns
        let k = g.reductionLength
        let kp = (k &+ 3) & ~3
        let inH = g.inH, inW = g.inW, outW = g.outW
        let sh = g.strideH, sw = g.strideW, dh = g.dilationH, dw = g.dilationW
        let kH = g.kernelH, kW = g.kernelW
        let firstOH = firstColumn / outW
        let firstOW = firstColumn &- firstOH &* outW
        // Zero the tail of K (so padded weights' products vanish whatever they are) and unused columns.
        if kp != k || columns < nr {
            for i in 0..<(kp &* nr) { panel[i] = 0 }
        }
        var kIndex = 0
        for ci in 0..<g.inCPerGroup {
            let plane = input + ci &* inH &* inW
            for kh in 0..<kH {
                for kw in 0..<kW {
                    let dst = panel + ((kIndex >> 2) &* (nr &* 4) &+ (kIndex & 3))
                    kIndex &+= 1
                    var j = 0
                    var oh = firstOH
                    var ow = firstOW
                    while j < columns {
                        let seg = Swift.min(columns &- j, outW &- ow)
                        let ih = oh &* sh &- g.padTop &+ kh &* dh
                        let d = dst + j &* 4
                        if ih < 0 || ih >= inH {
                            for t in 0..<seg { d[t &* 4] = padValue }
                        } else {
                            let row = plane + ih &* inW
                            let iw0 = ow &* sw &- g.padLeft &+ kw &* dw
                            var tLo = iw0 >= 0 ? 0 : (sw &- 1 &- iw0) / sw
                            if tLo > seg { tLo = seg }
                            var tHi = iw0 > inW &- 1 ? 0 : (inW &- 1 &- iw0) / sw &+ 1
                            if tHi > seg { tHi = seg }
                            if tHi < tLo { tHi = tLo }
                            var t = 0
                            while t < tLo { d[t &* 4] = padValue; t &+= 1 }
                            while t < tHi { d[t &* 4] = row[iw0 &+ t &* sw]; t &+= 1 }
                            while t < seg { d[t &* 4] = padValue; t &+= 1 }
                        }
                        j &+= seg
                        ow = 0
                        oh &+= 1
                    }
                }
            }
        }
    }
}
