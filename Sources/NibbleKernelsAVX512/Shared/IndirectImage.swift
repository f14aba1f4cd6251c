// Shared source (symlinked into every kernel module): the padded HWC image the indirect convolutions
// (LowBitByteConv, Int8ConvIndirect on x86; Int8DepthwiseDirect everywhere) read in place. Padded pixel (r, s) is input pixel (r − padTop, s − padLeft),
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

    /// image[(r·wp + s)·pixelValues + c] = q(c, r − padTop, s − padLeft) − subtract for the input pixels in padded rows
    /// `rows` (border pixels keep what the caller wrote there). q is `quantized` (NCHW bytes) when given, else the
    /// NCHW float input quantized one row at a time through `row` (inW bytes).
    static func storeQuantized(_ g: ConvGeometry, input: UnsafePointer<Float>, quantized: UnsafePointer<UInt8>?, scale: Float,
                               zeroPoint: Int32, rows: Range<Int>, pixelValues: Int, subtract: Int16,
                               row: UnsafeMutablePointer<UInt8>, into image: UnsafeMutablePointer<Int16>) {
        let wp = width(g)
        // Input columns iw whose padded column iw + padLeft lies in 0..<wp, and input rows whose padded row is in `rows`.
        let iwLo = Swift.max(0, 0 &- g.padLeft), iwHi = Swift.min(g.inW, wp &- g.padLeft)
        let ihLo = Swift.max(0, rows.lowerBound &- g.padTop), ihHi = Swift.min(g.inH, rows.upperBound &- g.padTop)
        if iwLo >= iwHi || ihLo >= ihHi { return }
        for c in 0..<g.inC {
            for ih in ihLo..<ihHi {
                let at = (c &* g.inH &+ ih) &* g.inW
                let q: UnsafePointer<UInt8>
                if let quantized {
                    q = quantized + at
                } else {
                    Int8Quantization.quantize(input + at, count: g.inW, scale: scale, zeroPoint: zeroPoint, into: row)
                    q = UnsafePointer(row)
                }
                var d = image + (((ih &+ g.padTop) &* wp &+ iwLo &+ g.padLeft) &* pixelValues &+ c)
                for iw in iwLo..<iwHi { d.pointee = Int16(q[iw]) &- subtract; d += pixelValues }
            }
        }
    }
}
