// Deterministic random data and aligned buffers for the kernel tests.
import NibbleKernels

/// SplitMix64: reproducible shapes and data without Foundation.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }
    mutating func float(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
}

/// A 64-byte aligned buffer freed by its owner.
final class AlignedBuffer<T> {
    let pointer: UnsafeMutablePointer<T>
    let count: Int
    init(count: Int, fill: T) {
        self.count = Swift.max(count, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: self.count * MemoryLayout<T>.stride, alignment: 64)
        pointer = raw.bindMemory(to: T.self, capacity: self.count)
        pointer.initialize(repeating: fill, count: self.count)
    }
    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
    var raw: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }
}

/// A random valid geometry; bottom/right padding are random too and only show up in outH/outW.
func randomGeometry(_ rng: inout SplitMix, kernel: Int? = nil, groupsKind: Int? = nil) -> ConvGeometry {
    while true {
        let k = kernel ?? [1, 3, 5, 7][rng.int(0...3)]
        let kh = k, kw = rng.int(0...3) == 0 ? [1, 3][rng.int(0...1)] : k
        let sh = rng.int(1...2), sw = rng.int(1...2)
        let dh = rng.int(0...3) == 0 ? 2 : 1, dw = rng.int(0...3) == 0 ? 2 : 1
        let inH = rng.int(1...13), inW = rng.int(1...17)
        let pt = rng.int(0...(kh - 1)), pb = rng.int(0...(kh - 1))
        let pl = rng.int(0...(kw - 1)), pr = rng.int(0...(kw - 1))
        let effH = dh * (kh - 1) + 1, effW = dw * (kw - 1) + 1
        if inH + pt + pb < effH || inW + pl + pr < effW { continue }
        let outH = (inH + pt + pb - effH) / sh + 1
        let outW = (inW + pl + pr - effW) / sw + 1
        let kind = groupsKind ?? rng.int(0...2)
        var inC: Int, outC: Int, groups: Int
        switch kind {
        case 0: inC = rng.int(1...19); outC = rng.int(1...23); groups = 1
        case 1: groups = 2; inC = 2 * rng.int(1...7); outC = 2 * rng.int(1...9)
        default: inC = rng.int(1...21); outC = inC; groups = inC
        }
        return ConvGeometry(inC: inC, inH: inH, inW: inW, outC: outC, outH: outH, outW: outW,
                            kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padTop: pt, padLeft: pl,
                            dilationH: dh, dilationW: dw, groups: groups)
    }
}
