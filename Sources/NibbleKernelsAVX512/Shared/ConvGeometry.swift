// Shared source: compiled into NibbleKernels, NibbleKernelsAVX2 and NibbleKernelsAVX512 (symlinked),
// so every ISA module sees the same plain geometry type; the dispatcher converts field by field.

/// Shape of one 2-D convolution, batch 1, NCHW activations and OIHW weights.
/// Bottom/right padding are implied by outH/outW.
public struct ConvGeometry: Sendable, Equatable {
    public var inC: Int, inH: Int, inW: Int
    public var outC: Int, outH: Int, outW: Int
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var padTop: Int, padLeft: Int
    public var dilationH: Int, dilationW: Int
    public var groups: Int

    public init(inC: Int, inH: Int, inW: Int, outC: Int, outH: Int, outW: Int,
                kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1,
                padTop: Int = 0, padLeft: Int = 0, dilationH: Int = 1, dilationW: Int = 1,
                groups: Int = 1) {
        self.inC = inC; self.inH = inH; self.inW = inW
        self.outC = outC; self.outH = outH; self.outW = outW
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW
        self.padTop = padTop; self.padLeft = padLeft
        self.dilationH = dilationH; self.dilationW = dilationW
        self.groups = groups
    }

    /// Input channels seen by one output channel.
    @inline(__always) public var inCPerGroup: Int { inC / groups }
    @inline(__always) public var outCPerGroup: Int { outC / groups }
    /// GEMM reduction length: one weight row of OIHW.
    @inline(__always) public var reductionLength: Int { inCPerGroup &* kernelH &* kernelW }
    @inline(__always) public var outPixels: Int { outH &* outW }
    /// Depthwise (multiplier 1) gets the direct kernel instead of im2col + GEMM.
    @inline(__always) public var isDepthwise: Bool { groups > 1 && groups == inC && groups == outC }
    /// Multiply-accumulates of one run, for GFLOP/s figures (2 flops each).
    public var macCount: Int { outC &* outPixels &* reductionLength }

    /// The real outputs among `count` implicit-GEMM positions from `first`, numbered pos = oh·gridWidth + ow over a
    /// padded width (positions with ow ≥ outW are computed and dropped): body(j, pixel, n) for each run of n outputs
    /// at position first + j, output pixel oh·outW + ow.
    @inline(__always)
    func forEachOutputRun(first: Int, count: Int, gridWidth: Int, _ body: (_ j: Int, _ pixel: Int, _ n: Int) -> Void) {
        var j = 0
        var oh = first / gridWidth
        var ow = first &- oh &* gridWidth
        while j < count {
            let seg = Swift.min(count &- j, gridWidth &- ow)
            let valid = Swift.min(seg, outW &- ow)
            if valid > 0 { body(j, oh &* outW &+ ow, valid) }
            j &+= seg
            ow = 0
            oh &+= 1
        }
    }
}
