import NibbleFormat
import NibbleKernels

/// A Conv's fused activation after its clamp (`output_activation`): a Swish or HardSwish node that alone read it.
enum FusedActivation {
    case swish, hardSwish

    /// y = activation(y) over `count` values in place: the floats the separate node computed (`ActivationRows`).
    @inline(__always)
    func apply(_ y: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .swish: ActivationRows.swish(y, count: count, into: y)
        case .hardSwish: ActivationRows.hardSwish(y, count: count, into: y)
        }
    }
}

/// What Conv and FullyConnected share: an optional per-channel bias, the int8 quantization of the input
/// and weights (FORMAT.md §4.2, precision int8), and the fused output clamp.
struct WeightedOpParameters {
    let bias: Int
    /// int8 only (`absentTensor` otherwise): per-output-channel weight scales.
    /// int8 and ternary (0 otherwise): the uint8 input quantization.
    let weightScales: Int
    let inputScale: Float
    let inputZeroPoint: Int32
    let outputMin: Float, outputMax: Float
    let activation: FusedActivation?

    /// Checks inputs 2 (bias) and 3 (int8 weight scales) and the attributes, for `outChannels` outputs.
    /// `int8Weights` overrides "precision is int8" (sparse nodes store int8 or fp32 values). Only a step that applies
    /// `output_activation` (`fusesActivation`: fp32 and int8 Conv) accepts one.
    static func make(_ c: NodeChecker, outChannels: Int, int8Weights: Bool? = nil, fusesActivation: Bool = false) throws(NibbleError) -> WeightedOpParameters {
        let int8 = int8Weights ?? (c.node.precision == .int8)
        let b = c.optionalInput(2)
        if b != absentTensor {
            try c.requireConstant(b, "bias"); try c.require(b, dtype: .float32, "bias")
            if c.tensor(b).elementCount != outChannels { throw c.fail("bias has \(c.tensor(b).elementCount) values, expected \(outChannels)") }
        }
        var scales = absentTensor
        var inputScale: Float = 0, zeroPoint: Int32 = 0
        if int8 {
            scales = try c.input(3)
            try c.requireConstant(scales, "weight scales"); try c.require(scales, dtype: .float32, "weight scales")
            if c.tensor(scales).elementCount != outChannels {
                throw c.fail("weight scales have \(c.tensor(scales).elementCount) values, expected \(outChannels)")
            }
        }
        if int8 || c.node.precision == .ternary {
            inputScale = try c.float(.inputScale, default: 0)
            if !(inputScale > 0) || !inputScale.isFinite { throw c.fail("input_scale \(inputScale) must be a positive finite float") }
            let zp = try c.ints(.inputZeroPoint, count: 1)[0]
            if zp < 0 || zp > 255 { throw c.fail("input_zero_point \(zp) outside 0...255") }
            zeroPoint = Int32(zp)
        }
        let minV = try c.float(.outputMin, default: -.infinity), maxV = try c.float(.outputMax, default: .infinity)
        if minV > maxV { throw c.fail("output_min \(minV) > output_max \(maxV)") }
        var activation: FusedActivation? = nil
        if let a = c.node.attribute(.outputActivation) {
            guard fusesActivation else { throw c.fail("output_activation is only supported on fp32 and int8 Conv") }
            switch a.ints {
            case [1]: activation = .swish
            case [2]: activation = .hardSwish
            default: throw c.fail("output_activation \(a.ints) is not 1 (Swish) or 2 (HardSwish)")
            }
        }
        return WeightedOpParameters(bias: b, weightScales: scales, inputScale: inputScale, inputZeroPoint: zeroPoint,
                                    outputMin: minV, outputMax: maxV, activation: activation)
    }
}
