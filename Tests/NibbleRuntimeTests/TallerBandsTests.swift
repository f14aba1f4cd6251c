import NibbleCodec
import NibbleFormat
@testable import NibbleRuntime
import XCTest

/// Taller bands (`CodecPlacement` lets a banded node run bands of several output tiles where the other steps'
/// peak leaves room): never a larger planned or expected peak or arena than one-tile bands, bands that cover the
/// output in whole tiles, and — through the emulation tests of `BandedCodecTests`, which run these placements —
/// the same output bits.
extension CodecSessionTests {
    /// The one-tile placement of `m`'s CAT tables: what `CodecPlacement` starts from.
    func oneTilePlacement(_ m: Model, tallerBands: Bool = false, folding: Bool = true, rawTiles: Bool = true) throws -> CodecPlacement {
        let g = m.graph
        let codecs = try g.codecTables.filter { $0.transform == nil }.map { e in
            (tensor: e.tensor, codec: try Model.mapCodec(e, g.tensors[e.tensor]), expectedBytes: e.expectedBytes)
        }
        var scratch = 0
        for n in g.nodes.indices { scratch = max(scratch, try Step.make(graph: g, index: n).1) }
        return CodecPlacement(graph: g, codecs: codecs, kernelScratchBytes: scratch, tallerBands: tallerBands, folding: folding, rawTiles: rawTiles)
    }

    /// `m`'s CAT sessions at 1 and 2 threads compute the emulation's bits on `x` with no codec failure; `check` sees
    /// each session after its run.
    func assertCatSessionsMatchTheEmulation(_ m: Model, input x: [Float], _ what: String, check: (Session) -> Void = { _ in }) throws {
        let p = try XCTUnwrap(m.codecPlacement), raw = try Session(model: m)
        for threads in [1, 2] {
            let cat = try Session(model: m, codec: .cat, threads: threads)
            XCTAssertEqual(try run(cat, x).map(\.bitPattern), try emulate(p, raw, x).output.map(\.bitPattern), "\(what) threads \(threads)")
            XCTAssertEqual(cat.codecFailures, 0, "\(what) threads \(threads)")
            check(cat)
        }
    }

    func testTallerBandsKeepThePeakAndCoverWholeTiles() throws {
        var grown = 0
        for bits in [8, 5, 3] {
            let (m, f) = try convModel(bits: bits)
            let p = try XCTUnwrap(m.codecPlacement), one = try oneTilePlacement(m)
            XCTAssertTrue(one.bands.allSatisfy { ($0?.tilesPerBand ?? 1) == 1 })
            XCTAssertLessThanOrEqual(p.totalBytes, one.totalBytes, "bits \(bits)")
            XCTAssertLessThanOrEqual(p.plannedActivationBytes, one.plannedActivationBytes, "bits \(bits)")
            XCTAssertLessThanOrEqual(p.expectedActivationBytes, one.expectedActivationBytes, "bits \(bits)")
            XCTAssertEqual(p.bandedNodes, one.bandedNodes)
            for case let plan? in p.bands where !plan.reducesRows {
                if plan.tilesPerBand > 1 { grown += 1 }
                var next = 0
                for (b, band) in plan.bands.enumerated() {
                    XCTAssertEqual(band.outRows.lowerBound, next)
                    XCTAssertTrue(b == plan.bands.count - 1 || band.outRows.count == plan.tileRows * plan.tilesPerBand)
                    next = band.outRows.upperBound
                }
                XCTAssertEqual(next, plan.height)
            }
            // Taller bands run: bit for bit the emulation (whole-tensor codec) at 1 and 2 threads.
            try assertCatSessionsMatchTheEmulation(m, input: Self.convInput(seed: 61), "bits \(bits)")
            _ = f
        }
        XCTAssertGreaterThan(grown, 0, "some node of the fixture has room for taller bands")
    }
}
