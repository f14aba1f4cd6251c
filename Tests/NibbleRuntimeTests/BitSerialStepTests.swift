import XCTest
import NibbleFormat
import NibbleKernels
@testable import NibbleRuntime

/// `wKaM` bit-serial Conv and FullyConnected (docs/FORMAT.md §4.5) against a float reference of the same
/// quantization (dequantized weights and activations), and refusal of bad nodes.
final class BitSerialStepTests: XCTestCase {
    static func floats(_ v: [Float]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }

    struct Case {
        var inC = 70, h = 6, w = 5, outC = 5, k = 3, stride = 1, pad = 1
        var weightBits = 2, activationBits = 2
        var weightEncoding: BitPlaneEncoding = .twosComplement
        var activationEncoding: BitPlaneEncoding = .unsigned
        var step: Float = 0.3
        var fc = false
        var clamp: (Float, Float)? = (0, 6)
    }

    /// Builds the node with random integer weights, returns (harness, output, x, float reference output).
    static func build(_ t: Case, seed: UInt64 = 1, corrupt: ((inout Graph, inout [[UInt8]]) -> Void)? = nil) throws -> (GraphHarness, Int, [Float], [Float]) {
        var rng = SplitMix(seed)
        let taps = t.fc ? 1 : t.k * t.k
        let outH = t.fc ? 1 : (t.h + 2 * t.pad - t.k) / t.stride + 1, outW = t.fc ? 1 : (t.w + 2 * t.pad - t.k) / t.stride + 1
        let r = t.weightEncoding.range(bits: t.weightBits)
        let q: [Int8] = (0..<(t.outC * t.inC * taps)).map { _ in
            t.weightEncoding == .bipolar ? (rng.next() & 1 == 0 ? -1 : 1) : Int8(r.lowerBound + Int(rng.next() % UInt64(r.count)))
        }
        let scales: [Float] = (0..<t.outC).map { _ in Float(rng.next() % 100 + 1) / 400 }
        let bias: [Float] = (0..<t.outC).map { _ in Float(Int(rng.next() % 21) - 10) / 10 }
        let inCount = t.inC * (t.fc ? 1 : t.h * t.w)
        let x: [Float] = (0..<inCount).map { _ in Float(Int(rng.next() % 2000) - 300) / 700 }
        let wl = BitPlaneLayout.weights(outChannels: t.outC, inChannels: t.inC, kernelH: t.fc ? 1 : t.k, kernelW: t.fc ? 1 : t.k,
                                        encoding: t.weightEncoding, bits: t.weightBits)
        var words = [UInt64](repeating: 0, count: wl.wordCount)
        q.withUnsafeBufferPointer { qp in words.withUnsafeMutableBufferPointer { BitPacking.packWeights(values: qp.baseAddress!, outChannels: t.outC, layout: wl, into: $0.baseAddress!) } }

        var h = GraphHarness()
        let xi = h.input("x", t.fc ? [1, t.inC] : [1, t.inC, t.h, t.w])
        let wi = h.add(TensorDesc(name: "w", dtype: .bits64, shape: [t.weightBits, wl.vectors, wl.wordsPerVector], role: .constant),
                       words.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
        let bi = h.constant("b", [t.outC], bias)
        let si = h.constant("s", [t.outC], scales)
        var attrs = [Attribute(.weightBits, ints: [Int64(t.weightBits)]), Attribute(.weightEncoding, ints: [Int64(t.weightEncoding.rawValue)]),
                     Attribute(.activationBits, ints: [Int64(t.activationBits)]), Attribute(.activationEncoding, ints: [Int64(t.activationEncoding.rawValue)]),
                     Attribute(.activationStep, floats: [t.step])]
        if !t.fc {
            attrs += [Attribute(.kernelShape, ints: [Int64(t.k), Int64(t.k)]), Attribute(.strides, ints: [Int64(t.stride), Int64(t.stride)]),
                      Attribute(.pads, ints: [Int64(t.pad), Int64(t.pad), Int64(t.pad), Int64(t.pad)])]
        }
        if let (lo, hi) = t.clamp { attrs += [Attribute(.outputMin, floats: [lo]), Attribute(.outputMax, floats: [hi])] }
        let y = h.node(t.fc ? .fullyConnected : .conv, [xi, wi, bi, si], t.fc ? [1, t.outC] : [1, t.outC, outH, outW], attrs, name: "bs")
        h.graph.nodes[0].precision = .bitSerial
        corrupt?(&h.graph, &h.data)

        // Float reference: dequantized activations step·q(x) and weights s[o]·q.
        let xa = x.map { t.step * Float(BitPacking.quantize($0, step: t.step, encoding: t.activationEncoding, bits: t.activationBits)) }
        var ref = [Float](repeating: 0, count: t.outC * outH * outW)
        let kk = t.fc ? 1 : t.k, H = t.fc ? 1 : t.h, W = t.fc ? 1 : t.w
        for o in 0..<t.outC {
            for oh in 0..<outH {
                for ow in 0..<outW {
                    var acc: Float = 0
                    for c in 0..<t.inC {
                        for kh in 0..<kk {
                            let ih = oh * t.stride - (t.fc ? 0 : t.pad) + kh
                            if ih < 0 || ih >= H { continue }
                            for kw in 0..<kk {
                                let iw = ow * t.stride - (t.fc ? 0 : t.pad) + kw
                                if iw < 0 || iw >= W { continue }
                                acc += xa[(c * H + ih) * W + iw] * scales[o] * Float(q[((o * t.inC + c) * kk + kh) * kk + kw])
                            }
                        }
                    }
                    var v = acc + bias[o]
                    if let (lo, hi) = t.clamp { v = min(max(v, lo), hi) }
                    ref[(o * outH + oh) * outW + ow] = v
                }
            }
        }
        return (h, y, x, ref)
    }

    func check(_ t: Case, _ label: String) throws {
        let (h, y, x, ref) = try Self.build(t)
        let model = try h.model(outputs: [y])
        XCTAssertEqual(model.kernelNames[0], "w\(t.weightBits)a\(t.activationBits) bit-serial \(t.fc ? "fully connected" : "conv") (\(KernelISA.current.name))")
        let out = try h.run(outputs: [y], x)
        XCTAssertEqual(out.count, ref.count)
        for i in ref.indices {
            XCTAssertEqual(out[i], ref[i], accuracy: 1e-4 * max(1, abs(ref[i])), "\(label) element \(i)")
        }
    }

    func testConvMatchesDequantizedFloatReference() throws {
        for (k, m) in [(1, 1), (2, 2), (4, 4), (2, 4), (3, 1)] {
            var t = Case()
            t.weightBits = k; t.activationBits = m
            t.weightEncoding = k == 1 ? .bipolar : .twosComplement
            try check(t, "w\(k)a\(m)")
        }
        var strided = Case(); strided.stride = 2; strided.inC = 130; strided.clamp = nil
        try check(strided, "stride 2, 130 channels, no clamp")
        var bipolar = Case(); bipolar.weightBits = 1; bipolar.activationBits = 1
        bipolar.weightEncoding = .bipolar; bipolar.activationEncoding = .bipolar
        try check(bipolar, "bipolar × bipolar with padding")
    }

    func testFullyConnectedMatchesDequantizedFloatReference() throws {
        for (k, m) in [(1, 1), (2, 2), (4, 4)] {
            var t = Case(); t.fc = true; t.inC = 100; t.outC = 7
            t.weightBits = k; t.activationBits = m
            t.weightEncoding = k == 1 ? .bipolar : .twosComplement
            try check(t, "fc w\(k)a\(m)")
        }
    }

    func testRefusesBadNodes() throws {
        func refuse(_ t: Case, _ text: String, line: UInt = #line, corrupt: ((inout Graph, inout [[UInt8]]) -> Void)? = nil) {
            do {
                let (h, y, _, _) = try Self.build(t, corrupt: corrupt)
                XCTAssertThrowsError(try h.model(outputs: [y]), line: line) { e in
                    XCTAssertTrue("\(e)".contains(text), "\(e)", line: line)
                }
            } catch { XCTFail("\(error)", line: line) }
        }
        var t = Case()
        t.weightBits = 1; t.weightEncoding = .bipolar
        refuse(t, "weight_bits 2 invalid for bipolar") { g, _ in
            g.nodes[0].attributes.removeAll { $0.key == .weightBits }
            g.nodes[0].attributes.append(Attribute(.weightBits, ints: [2]))
        }
        t = Case(); t.activationEncoding = .bipolar; t.activationBits = 1
        refuse(t, "bipolar activations need bipolar weights")
        t = Case(); t.step = 0
        refuse(t, "activation_step 0.0 must be a positive finite float")
        refuse(Case(), "activation_encoding 2") { g, _ in
            g.nodes[0].attributes.removeAll { $0.key == .activationEncoding }
            g.nodes[0].attributes.append(Attribute(.activationEncoding, ints: [2]))
        }
        refuse(Case(), "weight_bits 5 invalid") { g, _ in
            g.nodes[0].attributes.removeAll { $0.key == .weightBits }
            g.nodes[0].attributes.append(Attribute(.weightBits, ints: [5]))
        }
        // A bit set past input channel 70 in the last word of a vector.
        refuse(Case(), "has bits set past input channel 70") { g, data in
            let w = g.nodes[0].inputs[1]
            data[w][8 + 7] |= 0x80
        }
        // Packed weights of the wrong shape.
        refuse(Case(), "expected [2, 45, 2]") { g, data in
            let w = g.nodes[0].inputs[1]
            g.tensors[w].shape = [2, 45, 1]
            data[w] = Array(data[w].prefix(2 * 45 * 8))
        }
    }
}

/// Deterministic test randomness.
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
