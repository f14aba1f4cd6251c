// The packed bit-plane layout shared by activations and weights of the bit-serial kernels (DESIGN.md,
// "Bit-serial math"); the quantization issue stores packed weights in .nib files in exactly this order.

/// How the integer value of one element is spread over its bit-planes b_0 … b_{bits-1}.
public enum BitPlaneEncoding: UInt8, Sendable, Equatable, CaseIterable {
    /// One plane: bit 1 is +1, bit 0 is −1 (XNOR-Net / BNN bipolar values).
    case bipolar = 0
    /// value = Σ_j 2^j · b_j, in [0, 2^bits − 1] (activations after ReLU-style quantization).
    case unsigned = 1
    /// Two's complement planes: value = Σ_{j<bits−1} 2^j · b_j − 2^(bits−1) · b_{bits−1},
    /// in [−2^(bits−1), 2^(bits−1) − 1]; the top plane carries a negative weight in the bit-serial sum.
    case twosComplement = 2

    /// Smallest and largest integer value of one element.
    public func range(bits: Int) -> ClosedRange<Int> {
        switch self {
        case .bipolar: return -1...1
        case .unsigned: return 0...((1 << bits) - 1)
        case .twosComplement: return -(1 << (bits - 1))...((1 << (bits - 1)) - 1)
        }
    }
}

/// A tensor of `vectors` × `channels` small integers, packed along channels into 64-bit words, one
/// bit-plane at a time. The flat UInt64 array is ordered [plane][vector][word]:
///
///     index(plane j, vector v, word t) = (j · vectors + v) · wordsPerVector + t,   wordsPerVector = ⌈channels/64⌉
///
/// and channel c of vector v is bit (c mod 64) (LSB first) of word c/64. Bits of the last word past
/// `channels` are zero (the kernels rely on it).
/// - Activations (NCHW, batch 1): vector = h · W + w (one vector per pixel).
/// - Weights (OIHW): vector = (o · kH + kh) · kW + kw, so one output channel's K stream
///   [kh][kw][word] is contiguous inside each plane.
public struct BitPlaneLayout: Sendable, Equatable {
    public var encoding: BitPlaneEncoding
    /// Number of bit-planes (1 for bipolar, 1…8 otherwise; the kernels take up to 4).
    public var bits: Int
    /// Elements packed along each vector (input channels).
    public var channels: Int
    /// Pixels (activations) or output channels × kernel taps (weights).
    public var vectors: Int

    public init(encoding: BitPlaneEncoding, bits: Int, channels: Int, vectors: Int) {
        precondition(bits >= 1 && bits <= 8 && (encoding != .bipolar || bits == 1),
                     "BitPlaneLayout: bits \(bits) invalid for \(encoding) (bipolar takes 1, others 1...8)")
        precondition(channels >= 1 && vectors >= 0, "BitPlaneLayout: channels \(channels) must be ≥ 1, vectors \(vectors) ≥ 0")
        self.encoding = encoding; self.bits = bits; self.channels = channels; self.vectors = vectors
    }

    /// Activations of one NCHW image: one vector per pixel.
    public static func activations(channels: Int, height: Int, width: Int, encoding: BitPlaneEncoding,
                                   bits: Int) -> BitPlaneLayout {
        BitPlaneLayout(encoding: encoding, bits: bits, channels: channels, vectors: height * width)
    }

    /// OIHW weights (groups 1): one vector per output channel and kernel tap.
    public static func weights(outChannels: Int, inChannels: Int, kernelH: Int, kernelW: Int,
                               encoding: BitPlaneEncoding, bits: Int) -> BitPlaneLayout {
        BitPlaneLayout(encoding: encoding, bits: bits, channels: inChannels, vectors: outChannels * kernelH * kernelW)
    }

    @inline(__always) public var wordsPerVector: Int { (channels + 63) >> 6 }
    @inline(__always) public var wordsPerPlane: Int { vectors * wordsPerVector }
    /// Length of the flat UInt64 array.
    @inline(__always) public var wordCount: Int { bits * wordsPerPlane }
    @inline(__always) public func wordIndex(plane: Int, vector: Int, word: Int) -> Int {
        (plane * vectors + vector) * wordsPerVector + word
    }

    /// The integer value of element (vector, channel), decoded from the planes.
    public func value(_ packed: UnsafePointer<UInt64>, vector: Int, channel: Int) -> Int {
        var v = 0
        for j in 0..<bits {
            let bit = Int((packed[wordIndex(plane: j, vector: vector, word: channel >> 6)] >> UInt64(channel & 63)) & 1)
            switch encoding {
            case .bipolar: return bit == 1 ? 1 : -1
            case .unsigned: v += bit << j
            case .twosComplement: v += j == bits - 1 ? -(bit << j) : bit << j
            }
        }
        return v
    }
}
