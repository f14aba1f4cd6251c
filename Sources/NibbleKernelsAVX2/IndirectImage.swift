// AVX2 (this module and NibbleKernelsAVX512 compile this file): the padded HWC image the indirect convolutions
// (LowBitByteConv, Int8ConvIndirect) read in place. Padded pixel (r, s) is input pixel (r − padTop, s − padLeft),
// border pixels hold the value a padded tap contributes nothing with; output pixel (oh, ow) at tap (kh, kw) reads
// padded pixel (oh·strideH + kh·dilationH, ow·strideW + kw·dilationW), so a tile row is one base offset plus a
// per-tap offset (XNNPACK's indirection, with offsets instead of a pointer buffer).
enum IndirectImage {
    /// Rows and columns of the padded image: every tap of every output pixel reads inside it.
    @inline(__always) static func height(_ g: ConvGeometry) -> Int { (g.outH &- 1) &* g.strideH &+ (g.kernelH &- 1) &* g.dilationH &+ 1 }
    @inline(__always) static func width(_ g: ConvGeometry) -> Int { (g.outW &- 1) &* g.strideW &+ (g.kernelW &- 1) &* g.dilationW &+ 1 }

    /// Padded-pixel index of output pixel p's first tap.
    @inline(__always) static func pixel(_ g: ConvGeometry, _ p: Int) -> Int {
        let oh = p / g.outW
        return oh &* g.strideH &* width(g) &+ (p &- oh &* g.outW) &* g.strideW
    }

    /// offsets[kh·kW + kw] = padded-pixel distance of tap (kh, kw) × `pixelBytes`.
    @inline(__always) static func tapOffsets(_ g: ConvGeometry, pixelBytes: Int, into offsets: UnsafeMutablePointer<Int>) {
        let wp = width(g)
        for kh in 0..<g.kernelH {
            for kw in 0..<g.kernelW { offsets[kh &* g.kernelW &+ kw] = (kh &* g.dilationH &* wp &+ kw &* g.dilationW) &* pixelBytes }
        }
    }
}
