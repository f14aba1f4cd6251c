import NibbleKernels
import XCTest

/// `FP32Pool.accumulateChannelSums`: every channel's float sum in plain loop order (the same bits), from zero or
/// from earlier sums (a banded global average pool adds each band's rows to them), with channel counts around its
/// blocks of 8.
final class ChannelSumsTests: XCTestCase {
    func testEachChannelSumsInLoopOrder() {
        var rng = SplitMix(seed: 41)
        for channels in [1, 7, 8, 9, 16, 21] {
            for length in [0, 1, 5, 64, 257] {
                // Magnitudes far apart, so a different order of adds gives different bits.
                let x = (0..<(channels * length)).map { i in rng.float(-1, 1) * (i % 3 == 0 ? 1e7 : 1) }
                let start = (0..<channels).map { _ in rng.float(-100, 100) }
                var expected = start
                for c in 0..<channels {
                    for i in 0..<length { expected[c] += x[c * length + i] }
                }
                var sums = start
                x.withUnsafeBufferPointer { xs in
                    sums.withUnsafeMutableBufferPointer {
                        FP32Pool.accumulateChannelSums(xs.baseAddress!, channels: channels, length: length, into: $0.baseAddress!)
                    }
                }
                XCTAssertEqual(sums.map(\.bitPattern), expected.map(\.bitPattern), "channels \(channels) length \(length)")
            }
        }
    }
}
