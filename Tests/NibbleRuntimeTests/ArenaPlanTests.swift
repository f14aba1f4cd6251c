import NibbleFormat
@testable import NibbleRuntime
import XCTest

/// `ArenaPlan.pack` and `liveBytes` against plain twins (every placed interval scanned and sorted per item; every item
/// summed per step) on random lifetimes: the same offsets and sums, and no two items live at once share a byte.
final class ArenaPlanTests: XCTestCase {
    typealias Item = (size: Int, first: Int, last: Int)

    /// The greedy packing written plainly: largest first, lowest offset clear of every placed item whose lifetime
    /// overlaps.
    static func packTwin(_ items: [Item]) -> (offsets: [Int], top: Int) {
        let order = items.indices.sorted { items[$0].size != items[$1].size ? items[$0].size > items[$1].size : $0 < $1 }
        var offsets = [Int](repeating: 0, count: items.count)
        var placed: [(offset: Int, end: Int, first: Int, last: Int)] = []
        var top = 0
        for k in order {
            let it = items[k], size = Layout.alignUp(max(it.size, 1))
            var candidate = 0
            for c in placed.filter({ !($0.last < it.first || it.last < $0.first) }).sorted(by: { $0.offset < $1.offset }) {
                if candidate + size <= c.offset { break }
                candidate = max(candidate, c.end)
            }
            offsets[k] = candidate
            placed.append((candidate, candidate + size, it.first, it.last))
            top = max(top, candidate + size)
        }
        return (offsets, top)
    }

    func testPackAndLiveBytesEqualTheirTwins() {
        var state: UInt64 = 77
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(state >> 33) % n
        }
        for trial in 0..<40 {
            let nodes = 1 + next(60)
            // Sizes repeat (ties in the order and in offsets), some lifetimes start before step 0 or end after the
            // last step (graph inputs and outputs), some are empty.
            let items: [Item] = (0..<next(150)).map { _ in
                let first = next(nodes + 2) - 1, span = next(3) == 0 ? -1 : next(nodes)
                return ([64, 100, 4096, 1, 0, 333][next(6)] * (1 + next(4)), first, first + span)
            }
            let (offsets, top) = ArenaPlan.pack(items)
            let twin = Self.packTwin(items)
            XCTAssertEqual(offsets, twin.offsets, "trial \(trial)")
            XCTAssertEqual(top, twin.top, "trial \(trial)")
            for a in items.indices {
                for b in items.indices where a < b && !(items[a].last < items[b].first || items[b].last < items[a].first) {
                    let endA = offsets[a] + Layout.alignUp(max(items[a].size, 1)), endB = offsets[b] + Layout.alignUp(max(items[b].size, 1))
                    XCTAssertTrue(endA <= offsets[b] || endB <= offsets[a], "trial \(trial): items \(a) and \(b) share bytes")
                }
            }
            let live = ArenaPlan.liveBytes(items, nodeCount: nodes)
            let sums = (0..<nodes).map { n in items.reduce(0) { $1.first <= n && n <= $1.last ? $0 + $1.size : $0 } }
            XCTAssertEqual(live, sums, "trial \(trial)")
        }
        XCTAssertEqual(ArenaPlan.liveBytes([], nodeCount: 0), [0])
    }
}
