// Embedded Swift entry points of the ARM kernel test (scripts/test-arm). This file is compiled into ONE module
// together with every source of Sources/NibbleKernels (the shared kernels come in through its Shared/ symlinks):
// Embedded Swift specializes everything at the use site, so the kernels and their checks must meet in one module.
// Each check builds a random (or fixed edge) shape from its seed, runs the portable kernel (NEON on aarch64) and
// its never-tuned reference twin, and returns the number of mismatching outputs; Tests/arm/main.c prints and
// totals them. Shapes go back to C as Int32 fields because Embedded Swift has no Float printing.

/// SplitMix64, the same generator as Tests/NibbleKernelsTests/TestSupport.swift.
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
    mutating func int(_ lo: Int, _ hi: Int) -> Int { lo + Int(next() % UInt64(hi - lo + 1)) }
    mutating func float(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24) }
}

/// A random valid geometry (the generator of the XCTest suite): kernel 1/3/5/7, stride 1–2, dilation 1–2,
/// asymmetric padding, odd sizes; groupsKind 0 dense, 1 two groups, 2 depthwise.
func randomGeometry(_ rng: inout SplitMix, kernel: Int = 0, groupsKind: Int = -1) -> ConvGeometry {
    while true {
        let k = kernel != 0 ? kernel : [1, 3, 5, 7][rng.int(0, 3)]
        let kh = k, kw = rng.int(0, 3) == 0 ? [1, 3][rng.int(0, 1)] : k
        let sh = rng.int(1, 2), sw = rng.int(1, 2)
        let dh = rng.int(0, 3) == 0 ? 2 : 1, dw = rng.int(0, 3) == 0 ? 2 : 1
        let inH = rng.int(1, 13), inW = rng.int(1, 17)
        let pt = rng.int(0, kh - 1), pb = rng.int(0, kh - 1)
        let pl = rng.int(0, kw - 1), pr = rng.int(0, kw - 1)
        let effH = dh * (kh - 1) + 1, effW = dw * (kw - 1) + 1
        if inH + pt + pb < effH || inW + pl + pr < effW { continue }
        let outH = (inH + pt + pb - effH) / sh + 1
        let outW = (inW + pl + pr - effW) / sw + 1
        let kind = groupsKind >= 0 ? groupsKind : rng.int(0, 2)
        var inC: Int, outC: Int, groups: Int
        switch kind {
        case 0: inC = rng.int(1, 19); outC = rng.int(1, 23); groups = 1
        case 1: groups = 2; inC = 2 * rng.int(1, 7); outC = 2 * rng.int(1, 9)
        default: inC = rng.int(1, 21); outC = inC; groups = inC
        }
        return ConvGeometry(inC: inC, inH: inH, inW: inW, outC: outC, outH: outH, outW: outW,
                            kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padTop: pt, padLeft: pl,
                            dilationH: dh, dilationW: dw, groups: groups)
    }
}

/// Fixed edge shapes: a long reduction crossing the fp32 K block, 1x1 GEMM, 1x1 image, a 7x7/2 stem,
/// grouped and depthwise-multiplier convs, wide depthwise rows.
func edgeGeometry(_ i: Int) -> ConvGeometry {
    switch i {
    case 0: return ConvGeometry(inC: 70, inH: 15, inW: 17, outC: 13, outH: 15, outW: 17, kernelH: 3, kernelW: 3,
                                padTop: 1, padLeft: 1)
    case 1: return ConvGeometry(inC: 33, inH: 7, inW: 9, outC: 31, outH: 7, outW: 9, kernelH: 1, kernelW: 1)
    case 2: return ConvGeometry(inC: 1, inH: 1, inW: 1, outC: 1, outH: 1, outW: 1, kernelH: 1, kernelW: 1)
    case 3: return ConvGeometry(inC: 3, inH: 32, inW: 32, outC: 16, outH: 16, outW: 16, kernelH: 7, kernelW: 7,
                                strideH: 2, strideW: 2, padTop: 3, padLeft: 3)
    case 4: return ConvGeometry(inC: 9, inH: 8, inW: 7, outC: 12, outH: 8, outW: 7, kernelH: 3, kernelW: 3,
                                padTop: 1, padLeft: 1, groups: 3)
    case 5: return ConvGeometry(inC: 4, inH: 6, inW: 6, outC: 8, outH: 6, outW: 6, kernelH: 3, kernelW: 3,
                                padTop: 1, padLeft: 1, groups: 4)
    case 6: return ConvGeometry(inC: 5, inH: 9, inW: 53, outC: 5, outH: 9, outW: 53, kernelH: 3, kernelW: 3,
                                padTop: 1, padLeft: 1, groups: 5)
    default: return ConvGeometry(inC: 37, inH: 7, inW: 7, outC: 29, outH: 7, outW: 7, kernelH: 3, kernelW: 3,
                                 padTop: 1, padLeft: 1)
    }
}

let edgeGeometryCount = 8

/// Geometry fields in the order Tests/arm/main.c prints them (16 slots; the last is free for a mode).
func describe(_ g: ConvGeometry, _ s: UnsafeMutablePointer<Int32>) {
    let f = [g.inC, g.inH, g.inW, g.outC, g.outH, g.outW, g.kernelH, g.kernelW, g.strideH, g.strideW,
             g.padTop, g.padLeft, g.dilationH, g.dilationW, g.groups]
    for i in 0..<f.count { s[i] = Int32(truncatingIfNeeded: f[i]) }
    s[15] = 0
}

/// A 64-byte aligned buffer the caller deallocates (posix_memalign in the Embedded runtime).
func buffer<T>(_ count: Int, _ fill: T) -> UnsafeMutablePointer<T> {
    let n = Swift.max(count, 1)
    let raw = UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<T>.stride, alignment: 64)
    let p = raw.bindMemory(to: T.self, capacity: n)
    p.initialize(repeating: fill, count: n)
    return p
}

func free<T>(_ p: UnsafeMutablePointer<T>) { UnsafeMutableRawPointer(p).deallocate() }

/// The same clamp cycle as the XCTest suite: none, ReLU, a narrow window.
func clampFor(_ i: Int) -> (Float, Float) {
    switch i % 3 {
    case 0: return (-.infinity, .infinity)
    case 1: return (0, .infinity)
    default: return (-0.5, 0.75)
    }
}

/// fp32 sums run in a different order than the reference (vector lanes, register tiles), so fp32 is compared
/// like the XCTest suite: |Δ| ≤ 1e-4 · max(1, max|ref|). `exact` receives how many outputs are bit-identical.
func fp32Mismatches(_ out: UnsafePointer<Float>, _ ref: UnsafePointer<Float>, _ n: Int,
                    _ exact: UnsafeMutablePointer<Int32>) -> Int32 {
    var maxRef: Float = 0
    for i in 0..<n { maxRef = Swift.max(maxRef, abs(ref[i])) }
    let tol: Float = 1e-4 * Swift.max(1, maxRef)
    var bad: Int32 = 0, same: Int32 = 0
    for i in 0..<n {
        if out[i].bitPattern == ref[i].bitPattern { same += 1 }
        if !(abs(out[i] - ref[i]) <= tol) { bad += 1 }
    }
    exact.pointee = same
    return bad
}

/// Level the dispatcher picks by default: must be `portable` on aarch64 (no CPUID, no NIBBLE_ISA in Embedded).
@_cdecl("nibble_arm_current_isa")
public func armCurrentISA() -> Int32 { Int32(KernelISA.current.rawValue) }

/// fp32 conv case `index`: indices below edgeGeometryCount are the edge shapes, the rest random.
@_cdecl("nibble_arm_fp32_conv")
public func armFP32Conv(_ index: Int32, _ shape: UnsafeMutablePointer<Int32>, _ exact: UnsafeMutablePointer<Int32>,
                        _ count: UnsafeMutablePointer<Int32>) -> Int32 {
    var rng = SplitMix(seed: 1000 &+ UInt64(index))
    let i = Int(index)
    let g = i < edgeGeometryCount ? edgeGeometry(i) : randomGeometry(&rng)
    describe(g, shape)
    let useBias = i % 3 != 0
    let (lo, hi) = clampFor(i)
    let input = buffer(g.inC * g.inH * g.inW, Float(0)), weights = buffer(g.outC * g.reductionLength, Float(0))
    let bias = buffer(g.outC, Float(0))
    for j in 0..<(g.inC * g.inH * g.inW) { input[j] = rng.float(-1, 1) }
    for j in 0..<(g.outC * g.reductionLength) { weights[j] = rng.float(-1, 1) }
    for j in 0..<g.outC { bias[j] = rng.float(-1, 1) }
    let n = g.outC * g.outPixels
    let ref = buffer(n, Float(0)), out = buffer(n, Float.nan)
    let scratch = buffer(FP32Conv.scratchFloatCount(g), Float.nan)
    FP32Conv.run(g, input: input, weights: weights, bias: useBias ? UnsafePointer(bias) : nil, output: ref,
                 scratch: scratch, outputMin: lo, outputMax: hi, isa: .reference)
    FP32Conv.run(g, input: input, weights: weights, bias: useBias ? UnsafePointer(bias) : nil, output: out,
                 scratch: scratch, outputMin: lo, outputMax: hi, isa: .portable)
    let bad = fp32Mismatches(out, ref, n, exact)
    count.pointee = Int32(truncatingIfNeeded: n)
    free(input); free(weights); free(bias); free(ref); free(out); free(scratch)
    return bad
}

/// fp32 fully connected case `index`: in/out features and batch in shape[0...2].
@_cdecl("nibble_arm_fp32_fc")
public func armFP32FC(_ index: Int32, _ shape: UnsafeMutablePointer<Int32>, _ exact: UnsafeMutablePointer<Int32>,
                      _ count: UnsafeMutablePointer<Int32>) -> Int32 {
    var rng = SplitMix(seed: 2000 &+ UInt64(index))
    let i = Int(index)
    let inF = i == 0 ? 4096 : (i == 1 ? 1 : rng.int(1, 300))
    let outF = i == 0 ? 37 : rng.int(1, 41), batch = rng.int(1, 3)
    shape[0] = Int32(inF); shape[1] = Int32(outF); shape[2] = Int32(batch)
    let (lo, hi) = clampFor(i)
    let useBias = i % 3 != 2
    let x = buffer(batch * inF, Float(0)), w = buffer(outF * inF, Float(0)), b = buffer(outF, Float(0))
    for j in 0..<(batch * inF) { x[j] = rng.float(-1, 1) }
    for j in 0..<(outF * inF) { w[j] = rng.float(-1, 1) }
    for j in 0..<outF { b[j] = rng.float(-1, 1) }
    let n = batch * outF
    let ref = buffer(n, Float(0)), out = buffer(n, Float.nan)
    FP32FullyConnected.run(inFeatures: inF, outFeatures: outF, batch: batch, input: x, weights: w,
                           bias: useBias ? UnsafePointer(b) : nil, output: ref, outputMin: lo, outputMax: hi,
                           isa: .reference)
    FP32FullyConnected.run(inFeatures: inF, outFeatures: outF, batch: batch, input: x, weights: w,
                           bias: useBias ? UnsafePointer(b) : nil, output: out, outputMin: lo, outputMax: hi,
                           isa: .portable)
    let bad = fp32Mismatches(out, ref, n, exact)
    count.pointee = Int32(truncatingIfNeeded: n)
    free(x); free(w); free(b); free(ref); free(out)
    return bad
}

/// int8 conv case `index`, compared bit for bit (exact int32 sums, shared quantize/dequantize).
@_cdecl("nibble_arm_int8_conv")
public func armInt8Conv(_ index: Int32, _ shape: UnsafeMutablePointer<Int32>, _ count: UnsafeMutablePointer<Int32>) -> Int32 {
    var rng = SplitMix(seed: 3000 &+ UInt64(index))
    let i = Int(index)
    let g = i < edgeGeometryCount ? edgeGeometry(i) : randomGeometry(&rng)
    describe(g, shape)
    let (lo, hi) = clampFor(i)
    let useBias = i % 3 != 2
    let input = buffer(g.inC * g.inH * g.inW, Float(0)), weights = buffer(g.outC * g.reductionLength, Int8(0))
    let scales = buffer(g.outC, Float(0)), bias = buffer(g.outC, Float(0))
    // Past the representable window so quantization also clamps at 0 and 255.
    for j in 0..<(g.inC * g.inH * g.inW) { input[j] = rng.float(-1.3, 3.5) }
    for j in 0..<(g.outC * g.reductionLength) { weights[j] = Int8(truncatingIfNeeded: rng.int(-128, 127)) }
    for j in 0..<g.outC { scales[j] = rng.float(0.001, 0.02); bias[j] = rng.float(-1, 1) }
    let inputScale: Float = 3.0 / 255, zp = Int32(rng.int(0, 255))
    let n = g.outC * g.outPixels
    let ref = buffer(n, Float(0)), out = buffer(n, Float.nan)
    let scratch = buffer(Int8Conv.scratchByteCount(g), UInt8(0xA5))
    Int8Conv.run(g, input: input, inputScale: inputScale, inputZeroPoint: zp, weights: weights, weightScales: scales,
                 bias: useBias ? UnsafePointer(bias) : nil, output: ref, scratch: scratch, outputMin: lo, outputMax: hi,
                 isa: .reference)
    Int8Conv.run(g, input: input, inputScale: inputScale, inputZeroPoint: zp, weights: weights, weightScales: scales,
                 bias: useBias ? UnsafePointer(bias) : nil, output: out, scratch: scratch, outputMin: lo, outputMax: hi,
                 isa: .portable)
    var bad: Int32 = 0
    for j in 0..<n where out[j].bitPattern != ref[j].bitPattern { bad += 1 }
    count.pointee = Int32(truncatingIfNeeded: n)
    free(input); free(weights); free(scales); free(bias); free(ref); free(out); free(scratch)
    return bad
}

/// Few-pixel ternary shapes with group lengths a multiple of 16 (the direct path that reads the masks in place):
/// fully connected with batch 1–3 as a 1×B image, G1-long rows, 3×3 convs with 1–4 output pixels and padding.
func fewPixelGeometry(_ i: Int) -> (g: ConvGeometry, groupSize: Int) {
    switch i {
    case 0: return (ConvGeometry(inC: 4096, inH: 1, inW: 1, outC: 37, outH: 1, outW: 1, kernelH: 1, kernelW: 1), 16)
    case 1: return (ConvGeometry(inC: 77, inH: 1, inW: 2, outC: 13, outH: 1, outW: 2, kernelH: 1, kernelW: 1), 16)
    case 2: return (ConvGeometry(inC: 1000, inH: 1, inW: 3, outC: 9, outH: 1, outW: 3, kernelH: 1, kernelW: 1), 48)
    case 3: return (ConvGeometry(inC: 16, inH: 2, inW: 2, outC: 11, outH: 2, outW: 2, kernelH: 3, kernelW: 3,
                                 padTop: 1, padLeft: 1), 16)
    case 4: return (ConvGeometry(inC: 32, inH: 3, inW: 3, outC: 5, outH: 1, outW: 1, kernelH: 3, kernelW: 3), 32)
    default: return (ConvGeometry(inC: 48, inH: 3, inW: 3, outC: 9, outH: 2, outW: 2, kernelH: 3, kernelW: 3,
                                  strideH: 2, strideW: 2, padTop: 1, padLeft: 1), 16)
    }
}

/// Ternary conv case `index` (dense geometries; one to three residual edges on packed planes, group sizes that do
/// not divide the channels; cases 8–13 few-pixel shapes), the portable GEMM or direct path against TernaryConvReference bit for bit; the group size in shape[15].
@_cdecl("nibble_arm_ternary_conv")
public func armTernaryConv(_ index: Int32, _ shape: UnsafeMutablePointer<Int32>, _ count: UnsafeMutablePointer<Int32>) -> Int32 {
    var rng = SplitMix(seed: 5000 &+ UInt64(index))
    let i = Int(index)
    let fixed = i < edgeGeometryCount ? edgeGeometry(i) : nil
    let few = i >= edgeGeometryCount && i < edgeGeometryCount + 6 ? fewPixelGeometry(i - edgeGeometryCount) : nil
    let g = few?.g ?? (fixed != nil && fixed!.groups == 1 ? fixed! : randomGeometry(&rng, groupsKind: 0))
    let groupSize = few?.groupSize ?? rng.int(1, g.inC + 3), edges = rng.int(1, 3), zp = Int32(rng.int(0, 255))
    describe(g, shape)
    shape[15] = Int32(truncatingIfNeeded: groupSize)
    let rowLength = g.reductionLength, groups = (g.inC + groupSize - 1) / groupSize
    let inputs = g.inC * g.inH * g.inW, n = g.outC * g.outPixels
    let q = buffer(inputs, UInt8(0)), row = buffer(rowLength, Int8(0))
    for j in 0..<inputs { q[j] = UInt8(truncatingIfNeeded: rng.int(0, 255)) }
    let words = TernaryPlanes.wordCount(rows: g.outC, rowLength: rowLength)
    let values = buffer(g.outC * rowLength, Int8(0)), planes = buffer(edges * words, UInt64(0))
    let alpha = buffer(edges * g.outC * groups, Float(0))
    let ref = buffer(n, Float(0)), out = buffer(n, Float.nan)
    let scratch = UnsafeMutableRawPointer(buffer(TernaryConv.scratchByteCount(g, groupSize: groupSize), UInt8(0xA5)))
    for e in 0..<edges {
        for j in 0..<(g.outC * rowLength) { values[j] = Int8(truncatingIfNeeded: rng.int(0, 2) - 1) }
        TernaryPlanes.pack(values, rows: g.outC, rowLength: rowLength, into: planes + e * words)
        for j in 0..<(g.outC * groups) { alpha[e * g.outC * groups + j] = rng.float(0.001, 1) }
        for o in 0..<g.outC {
            TernaryPlanes.unpackRow(planes + e * words, rows: g.outC, rowLength: rowLength, row: o, into: row)
            TernaryConvReference.accumulateRow(g, outChannel: o, input: q, zeroPoint: zp, inputScale: 0.0371, row: row,
                                               alpha: alpha + e * g.outC * groups + o * groups, groupSize: groupSize, output: ref)
        }
    }
    TernaryConv.prepareInput(g, groupSize: groupSize, input: q, zeroPoint: zp, scratch: scratch, isa: .portable)
    var start = 0
    while start < g.outPixels {
        let c = Swift.min(TernaryConv.chunkPixels(g), g.outPixels - start)
        TernaryConv.buildPanel(g, groupSize: groupSize, input: q, zeroPoint: zp, pixelStart: start, count: c, scratch: scratch, isa: .portable)
        for e in 0..<edges {
            TernaryConv.accumulateEdge(g, groupSize: groupSize, scratch: scratch, count: c, pixelStart: start, planes: planes + e * words,
                                       alpha: alpha + e * g.outC * groups, zeroPoint: zp, inputScale: 0.0371,
                                       output: TernaryEdgeOutput(out, first: e == 0, last: false), isa: .portable)
        }
        start += c
    }
    var bad: Int32 = 0
    for j in 0..<n where out[j].bitPattern != ref[j].bitPattern { bad += 1 }
    count.pointee = Int32(truncatingIfNeeded: n)
    free(q); free(row); free(values); free(planes); free(alpha); free(ref); free(out)
    scratch.deallocate()
    return bad
}

/// int8 fully connected case `index` (bit for bit); in/out features and batch in shape[0...2].
@_cdecl("nibble_arm_int8_fc")
public func armInt8FC(_ index: Int32, _ shape: UnsafeMutablePointer<Int32>, _ count: UnsafeMutablePointer<Int32>) -> Int32 {
    var rng = SplitMix(seed: 4000 &+ UInt64(index))
    let i = Int(index)
    let inF = i == 0 ? 4096 : (i == 1 ? 1 : rng.int(1, 300))
    let outF = i == 0 ? 37 : rng.int(1, 41), batch = rng.int(1, 3)
    shape[0] = Int32(inF); shape[1] = Int32(outF); shape[2] = Int32(batch)
    let (lo, hi) = clampFor(i)
    let useBias = i % 3 != 2
    let x = buffer(batch * inF, Float(0)), w = buffer(outF * inF, Int8(0))
    let scales = buffer(outF, Float(0)), b = buffer(outF, Float(0))
    for j in 0..<(batch * inF) { x[j] = rng.float(-1.3, 3.5) }
    for j in 0..<(outF * inF) { w[j] = Int8(truncatingIfNeeded: rng.int(-128, 127)) }
    for j in 0..<outF { scales[j] = rng.float(0.001, 0.02); b[j] = rng.float(-1, 1) }
    let inputScale: Float = 3.0 / 255, zp = Int32(rng.int(0, 255))
    let n = batch * outF
    let ref = buffer(n, Float(0)), out = buffer(n, Float.nan)
    let scratch = buffer(Int8FullyConnected.scratchByteCount(inFeatures: inF, outFeatures: outF, batch: batch), UInt8(0xA5))
    Int8FullyConnected.run(inFeatures: inF, outFeatures: outF, batch: batch, input: x, inputScale: inputScale,
                           inputZeroPoint: zp, weights: w, weightScales: scales, bias: useBias ? UnsafePointer(b) : nil,
                           output: ref, scratch: scratch, outputMin: lo, outputMax: hi, isa: .reference)
    Int8FullyConnected.run(inFeatures: inF, outFeatures: outF, batch: batch, input: x, inputScale: inputScale,
                           inputZeroPoint: zp, weights: w, weightScales: scales, bias: useBias ? UnsafePointer(b) : nil,
                           output: out, scratch: scratch, outputMin: lo, outputMax: hi, isa: .portable)
    var bad: Int32 = 0
    for j in 0..<n where out[j].bitPattern != ref[j].bitPattern { bad += 1 }
    count.pointee = Int32(truncatingIfNeeded: n)
    free(x); free(w); free(scales); free(b); free(ref); free(out); free(scratch)
    return bad
}

/// Bit-serial modes of the XCTest suite: w1a1 (bipolar xnor), w2a2, w1a2 (bipolar weights × unsigned),
/// w4a4, w3a1, unsigned w2a3. Returns (activation encoding, bits, weight encoding, bits).
func binaryMode(_ m: Int) -> (BitPlaneEncoding, Int, BitPlaneEncoding, Int) {
    switch m % 6 {
    case 0: return (.bipolar, 1, .bipolar, 1)
    case 1: return (.unsigned, 2, .twosComplement, 2)
    case 2: return (.unsigned, 2, .bipolar, 1)
    case 3: return (.unsigned, 4, .twosComplement, 4)
    case 4: return (.unsigned, 1, .twosComplement, 3)
    default: return (.unsigned, 3, .unsigned, 2)
    }
}

let binaryModeCount = 6

/// Bit-serial conv case `index`: int32 accumulators and float outputs against BinaryConvReference, bit for bit.
/// Indices below 7·6 run 7 edge shapes (C = 65/130/4096, stride 2, 1x1, 3x3 with pad 2) in every mode; the rest
/// are random shapes with channel counts around word boundaries. shape[15] = mode.
@_cdecl("nibble_arm_binary_conv")
public func armBinaryConv(_ index: Int32, _ shape: UnsafeMutablePointer<Int32>, _ count: UnsafeMutablePointer<Int32>) -> Int32 {
    var rng = SplitMix(seed: 5000 &+ UInt64(index))
    let i = Int(index)
    var g: ConvGeometry
    let mode: Int
    if i < 7 * binaryModeCount {
        mode = i % binaryModeCount
        switch i / binaryModeCount {
        case 0: g = ConvGeometry(inC: 65, inH: 9, inW: 11, outC: 9, outH: 9, outW: 11, kernelH: 3, kernelW: 3,
                                 padTop: 1, padLeft: 1)
        case 1: g = ConvGeometry(inC: 130, inH: 9, inW: 8, outC: 6, outH: 5, outW: 4, kernelH: 3, kernelW: 3,
                                 strideH: 2, strideW: 2, padTop: 1, padLeft: 1)
        case 2: g = ConvGeometry(inC: 3, inH: 7, inW: 5, outC: 5, outH: 7, outW: 5, kernelH: 1, kernelW: 1)
        case 3: g = ConvGeometry(inC: 130, inH: 7, inW: 7, outC: 11, outH: 4, outW: 4, kernelH: 1, kernelW: 1,
                                 strideH: 2, strideW: 2)
        case 4: g = ConvGeometry(inC: 64, inH: 6, inW: 6, outC: 4, outH: 7, outW: 7, kernelH: 3, kernelW: 3,
                                 padTop: 2, padLeft: 2)
        case 5: g = ConvGeometry(inC: 1, inH: 1, inW: 1, outC: 1, outH: 1, outW: 1, kernelH: 1, kernelW: 1)
        default: g = ConvGeometry(inC: 4096, inH: 1, inW: 1, outC: 37, outH: 1, outW: 1, kernelH: 1, kernelW: 1)
        }
    } else {
        mode = i % binaryModeCount
        g = randomGeometry(&rng, kernel: [1, 3, 3, 5][i % 4], groupsKind: 0)
        g.inC = [3, 65, 130, 1, 64, 128, 7, 200][rng.int(0, 7)]
        g.outC = rng.int(1, 13)
    }
    describe(g, shape)
    shape[15] = Int32(mode)
    let (ae, ab, we, wb) = binaryMode(mode)
    let (lo, hi) = clampFor(i)
    let useBias = i % 5 != 4
    let inCount = g.inC * g.inH * g.inW, wCount = g.outC * g.reductionLength, n = g.outC * g.outPixels
    let al = BitPlaneLayout.activations(channels: g.inC, height: g.inH, width: g.inW, encoding: ae, bits: ab)
    let wl = BitPlaneLayout.weights(outChannels: g.outC, inChannels: g.inC, kernelH: g.kernelH, kernelW: g.kernelW,
                                    encoding: we, bits: wb)
    let x = buffer(inCount, Float(0)), w = buffer(wCount, Float(0))
    let steps = buffer(g.outC, Float(0)), scales = buffer(g.outC, Float(0)), bias = buffer(g.outC, Float(0))
    // Past the representable range so quantization also clamps.
    for j in 0..<inCount { x[j] = rng.float(-1.5, 5) }
    for j in 0..<wCount { w[j] = rng.float(-3, 3) }
    for o in 0..<g.outC { steps[o] = rng.float(0.5, 1.5); scales[o] = rng.float(0.001, 0.05); bias[o] = rng.float(-1, 1) }
    let wq = buffer(wCount, Int8(0)), wPacked = buffer(wl.wordCount, UInt64.max)
    BitPacking.packWeights(w, steps: steps, outChannels: g.outC, layout: wl, scratch: wq, into: wPacked)
    let aq = buffer(inCount, Int8(0)), aPacked = buffer(al.wordCount, UInt64.max)
    BitPacking.packActivations(x, step: 0.75, layout: al, into: aPacked)
    for j in 0..<inCount { aq[j] = BitPacking.quantize(x[j], step: 0.75, encoding: al.encoding, bits: al.bits) }
    let scratch = buffer(BinaryConv.scratchByteCount(g, activationBits: ab), UInt8(0xA5))
    let b: UnsafePointer<Float>? = useBias ? UnsafePointer(bias) : nil
    let accRef = buffer(n, Int32(0)), outRef = buffer(n, Float(0))
    BinaryConvReference.run(g, activations: aq, weights: wq, scales: scales, bias: b, accumulators: accRef,
                            output: outRef, outputMin: lo, outputMax: hi)
    let acc = buffer(n, Int32.min), out = buffer(n, Float.nan)
    BinaryConv.run(g, activations: aPacked, activationLayout: al, weights: wPacked, weightLayout: wl, scales: scales,
                   bias: b, accumulators: acc, output: out, scratch: scratch, outputMin: lo, outputMax: hi, isa: .portable)
    var bad: Int32 = 0
    for j in 0..<n where acc[j] != accRef[j] || out[j].bitPattern != outRef[j].bitPattern { bad += 1 }
    count.pointee = Int32(truncatingIfNeeded: n)
    free(x); free(w); free(steps); free(scales); free(bias); free(wq); free(wPacked); free(aq); free(aPacked)
    free(scratch); free(accRef); free(out); free(acc); free(outRef)
    return bad
}

/// The popcount ceiling's vector chains (SIMD2<UInt64>.nonzeroBitCount: cnt + uaddlp on NEON) against the same
/// chains counted one UInt64 at a time. Returns 0 when the checksums agree.
@_cdecl("nibble_arm_popcount_peak")
public func armPopcountPeak(_ iterations: Int32) -> Int32 {
    let it = Int(iterations)
    let seed = UInt64(truncatingIfNeeded: it) | 1
    let got = BinaryPopcountCeiling.run(vector: true, iterations: it, isa: .portable).checksum
    let lanes = BinaryPopcountPeak.vectorWordsPerIteration / 4
    var sum: UInt64 = 0
    for j in 0..<lanes {
        var v: (UInt64, UInt64, UInt64, UInt64) = (seed &+ UInt64(j), (seed &* 3) &* UInt64(j &+ 1), seed &* 5, seed &* 7)
        let inc: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<it {
            v.0 &+= inc; v.1 &+= inc; v.2 &+= inc; v.3 &+= inc
            sum &+= UInt64(v.0.nonzeroBitCount &+ v.1.nonzeroBitCount &+ v.2.nonzeroBitCount &+ v.3.nonzeroBitCount)
        }
    }
    return got == sum ? 0 : 1
}
