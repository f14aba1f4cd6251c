import NibbleCodec
import NibbleFormat
@testable import NibbleRuntime
import XCTest

/// Maps away from the peak stored as RAW tiles (`CodecPlacement.storingRawTiles`): the peaks and the arena stay
/// where entropy coding every map puts them, only maps whose raw size would raise the expected peak stay coded, and
/// a session still computes the emulation's bits.
extension CodecSessionTests {
    func testMapsAwayFromThePeakAreStoredRaw() throws {
        var sawRaw = false, sawCoded = false
        for bits in [8, 5, 3] {
            var (m, f) = try convModel(bits: bits)
            // Expected sizes of a third of each slot's bound (the fixtures' 100 B is below any real map), so that
            // where a map is live decides whether its raw size fits.
            let bound = Dictionary(uniqueKeysWithValues: try XCTUnwrap(m.codecPlacement).coded.map { ($0.tensor, $0.codec.worstCaseBytes) })
            f.harness.graph.codecTables = m.graph.codecTables.map { e in
                var e = e
                e.expectedBytes = (bound[e.tensor] ?? 300) / 3
                return e
            }
            m = try f.harness.model(outputs: [f.output])
            let p = try oneTilePlacement(m, tallerBands: true), coded = try oneTilePlacement(m, tallerBands: true, rawTiles: false)
            XCTAssertFalse(coded.coded.contains { $0.codec.storesRaw })
            XCTAssertEqual(p.expectedActivationBytes, coded.expectedActivationBytes, "bits \(bits)")
            XCTAssertEqual(p.plannedActivationBytes, coded.plannedActivationBytes, "bits \(bits)")
            XCTAssertEqual(p.totalBytes, coded.totalBytes, "bits \(bits)")
            XCTAssertEqual(p.coded.map(\.slotOffset), coded.coded.map(\.slotOffset))
            var sizes = p.coded.map(\.expectedBytes)
            for (k, c) in p.coded.enumerated() {
                if c.codec.storesRaw {
                    sawRaw = true
                    XCTAssertEqual(c.expectedBytes, c.codec.worstCaseBytes)
                    // Every band plan that writes it writes RAW tiles too.
                    for case let plan? in p.bands where plan.outputCoded == k { XCTAssertEqual(plan.outputCodec?.tiles.storesRaw, true) }
                } else {
                    sawCoded = true
                    sizes[k] = c.codec.worstCaseBytes
                    XCTAssertGreaterThan(p.activationBytes(slotBytes: sizes, stepBuffers: true), p.expectedActivationBytes,
                                         "bits \(bits): coded tensor \(k) is entropy-coded only where its raw size would raise the peak")
                    sizes[k] = c.expectedBytes
                }
            }
            // The session stores them RAW (at their bound) and computes the emulation's bits at 1 and 2 threads.
            let model = try XCTUnwrap(m.codecPlacement)
            try assertCatSessionsMatchTheEmulation(m, input: Self.convInput(seed: 17), "bits \(bits)") { cat in
                for (k, c) in model.coded.enumerated() where c.codec.storesRaw {
                    XCTAssertEqual(cat.compressedBytes(coded: k), c.codec.worstCaseBytes, "bits \(bits): coded tensor \(k)")
                }
            }
        }
        XCTAssertTrue(sawRaw, "some map of the fixture is away from the peak")
        XCTAssertTrue(sawCoded, "some map sets the peak")
    }
}
