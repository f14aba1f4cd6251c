#!/usr/bin/env python3
"""Generate the pre-quantized (QDQ) ONNX fixtures in Tests/Fixtures/.

    python3 scripts/make-qdq-fixtures.py [--out Tests/Fixtures] [--samples samples/models]

Models quantized elsewhere must convert with *their own* scales (issue 4, "Pre-quantized ONNX"):
- <name>.qdq.onnx for name in mlp, resnet_small (the fp32 fixtures of make-fixtures.py) and
  digits_mlp, digits_cnn (samples/models, scripts/train-demo.py): onnxruntime.quantization.quantize_static
  with QuantFormat.QDQ, per-channel symmetric int8 weights, asymmetric uint8 activations, MinMax
  calibration on the model's own calibration batch (fixture input / digits_calib*.npy).
- <name>.qdq.output.npy: ONNX Runtime's output of the QDQ model on <name>.input.npy with graph optimizations
  off, i.e. every Q and DQ executed as the ONNX spec defines them (digits: digits_*.qdq.pred.npy, the optimized
  ONNX Runtime session's predicted labels on the 360 test samples, what a user of ORT would get).
- int4_mlp.qdq.onnx (+ .input.npy, .output.npy): hand-made opset-21 MLP, DequantizeLinear of int4 weights
  (per output channel, zero point 0) and of uint4 weights (per tensor, zero point 8), int8 activation
  Q/DQ pairs (signed, nonzero zero point) -- the TensorProto packs int4 two per byte, low nibble first.

Deterministic: fixed seeds, single-threaded ONNX Runtime (CPU EP). Requires numpy, onnx, onnxruntime.
"""
import argparse
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static


def session(path_or_bytes, literal):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    if literal:
        # Every QuantizeLinear/DequantizeLinear runs as the ONNX operator spec says. With optimizations on, ONNX
        # Runtime fuses Q/DQ groups into integer kernels (QLinearConv, QGemm, ...) whose intermediate rounding
        # differs; the script prints that gap.
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])


def run(model_path, x, literal=True):
    s = session(model_path, literal)
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))]).astype(np.float32)


class Reader(CalibrationDataReader):
    def __init__(self, name, x):
        self.items = iter([{name: x[i:i + 1]} for i in range(len(x))])

    def get_next(self):
        return next(self.items, None)


def quantize(src, dst, calib):
    """quantize_static, QDQ format, per-channel int8 weights, uint8 activations."""
    m = onnx.load(src)
    input_name = m.graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        # Batch fixed to 1 so onnxruntime's shape inference and calibration see a static graph.
        quantize_static(src, dst, Reader(input_name, calib), quant_format=QuantFormat.QDQ,
                        per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    q = onnx.load(dst)
    q.producer_name = "onnxruntime.quantization (scripts/make-qdq-fixtures.py)"
    onnx.save(q, dst)


def int4_mlp(path, rng):
    """[1,16] -> Q/DQ int8 -> Gemm(DQ int4 W1 [24,16] per-axis) + Relu -> Q/DQ int8 -> MatMul(DQ uint4 W2 [24,10] per-tensor zp 8) + bias."""
    x = rng.standard_normal((8, 16)).astype(np.float32)
    w1 = rng.integers(-8, 8, size=(24, 16)).astype(np.int8)
    s1 = (rng.uniform(0.02, 0.06, size=24)).astype(np.float32)
    b1 = (rng.standard_normal(24) * 0.1).astype(np.float32)
    w2 = rng.integers(0, 16, size=(24, 10)).astype(np.uint8)
    s2 = np.array(0.05, dtype=np.float32)
    b2 = (rng.standard_normal(10) * 0.1).astype(np.float32)
    inits = [
        helper.make_tensor("w1_q", TensorProto.INT4, w1.shape, w1.flatten().tolist()),
        numpy_helper.from_array(s1, "w1_scale"),
        helper.make_tensor("w1_zp", TensorProto.INT4, [24], [0] * 24),
        numpy_helper.from_array(b1, "b1"),
        helper.make_tensor("w2_q", TensorProto.UINT4, w2.shape, w2.flatten().tolist()),
        numpy_helper.from_array(s2, "w2_scale"),
        helper.make_tensor("w2_zp", TensorProto.UINT4, [], [8]),
        numpy_helper.from_array(b2, "b2"),
        numpy_helper.from_array(np.array(0.03, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(-5, np.int8), "x_zp"),
        numpy_helper.from_array(np.array(0.02, np.float32), "h_scale"),
        numpy_helper.from_array(np.array(-128, np.int8), "h_zp"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["x_q"], name="x_quant"),
        helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zp"], ["x_dq"], name="x_dequant"),
        helper.make_node("DequantizeLinear", ["w1_q", "w1_scale", "w1_zp"], ["w1"], name="w1_dequant", axis=0),
        helper.make_node("Gemm", ["x_dq", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["h_relu"], name="relu1"),
        helper.make_node("QuantizeLinear", ["h_relu", "h_scale", "h_zp"], ["h_q"], name="h_quant"),
        helper.make_node("DequantizeLinear", ["h_q", "h_scale", "h_zp"], ["h_dq"], name="h_dequant"),
        helper.make_node("DequantizeLinear", ["w2_q", "w2_scale", "w2_zp"], ["w2"], name="w2_dequant"),
        helper.make_node("MatMul", ["h_dq", "w2"], ["y0"], name="fc2"),
        helper.make_node("Add", ["y0", "b2"], ["y"], name="fc2_bias"),
    ]
    g = helper.make_graph(nodes, "int4_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], producer_name="scripts/make-qdq-fixtures.py")
    m.ir_version = 10
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="Tests/Fixtures")
    ap.add_argument("--samples", default="samples/models")
    a = ap.parse_args()
    rng = np.random.default_rng(21)

    for name in ["mlp", "resnet_small"]:
        x = np.load(os.path.join(a.out, f"{name}.input.npy"))
        dst = os.path.join(a.out, f"{name}.qdq.onnx")
        quantize(os.path.join(a.out, f"{name}.onnx"), dst, x)
        ref = run(dst, x)
        np.save(os.path.join(a.out, f"{name}.qdq.output.npy"), ref)
        print(f"{dst}: {os.path.getsize(dst)} bytes; max |optimized ORT - literal QDQ| = {np.abs(run(dst, x, False) - ref).max():.4g}")

    y = np.load(os.path.join(a.samples, "digits_test_y.npy"))
    for model, xs, calib in [("digits_mlp", "digits_test_x.npy", "digits_calib.npy"),
                             ("digits_cnn", "digits_test_x_img.npy", "digits_calib_img.npy")]:
        dst = os.path.join(a.out, f"{model}.qdq.onnx")
        quantize(os.path.join(a.samples, f"{model}.onnx"), dst, np.load(os.path.join(a.samples, calib)))
        x = np.load(os.path.join(a.samples, xs))
        pred = run(dst, x, literal=False).argmax(1).astype(np.int64)
        literal = run(dst, x).argmax(1)
        fp32 = run(os.path.join(a.samples, f"{model}.onnx"), x, literal=False).argmax(1)
        np.save(os.path.join(a.out, f"{model}.qdq.pred.npy"), pred)
        print(f"{dst}: ORT QDQ accuracy {np.mean(pred == y) * 100:.2f}% (literal QDQ {np.mean(literal == y) * 100:.2f}%, fp32 {np.mean(fp32 == y) * 100:.2f}%)")

    path = os.path.join(a.out, "int4_mlp.qdq.onnx")
    x = int4_mlp(path, rng)
    np.save(os.path.join(a.out, "int4_mlp.qdq.input.npy"), x)
    ref = run(path, x)
    np.save(os.path.join(a.out, "int4_mlp.qdq.output.npy"), ref)
    print(f"{path}: {os.path.getsize(path)} bytes; max |optimized ORT - literal QDQ| = {np.abs(run(path, x, False) - ref).max():.4g}")


if __name__ == "__main__":
    main()
