#!/usr/bin/env python3
"""Generate the ONNX test fixtures in Tests/Fixtures/.

Deterministic: fixed seeds, single-threaded ONNX Runtime (CPU EP) for the reference outputs.

    python3 scripts/make-fixtures.py [--out Tests/Fixtures]

Per model <name>: <name>.onnx, <name>.input.npy (float32, batch first),
<name>.output.npy (ONNX Runtime output for that input) and <name>.input_f64.npy
(the same input as float64, for wrong-dtype tests).
Error fixtures: unsupported_op.onnx (valid ONNX with an LSTM node named "bad_node"),
truncated.onnx (first 100 bytes of mlp.onnx), not_onnx.onnx (random bytes).

Requires: numpy, onnx, onnxruntime.
"""
import argparse
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 8  # supported by every onnxruntime >= 1.10; covers opsets 13..17


# ---------------------------------------------------------------------------- helpers

class Builder:
    """Tiny graph builder: nodes, initializers, unique names, deterministic RNG."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.counter = {}

    def name(self, prefix):
        i = self.counter.get(prefix, 0)
        self.counter[prefix] = i + 1
        return f"{prefix}{i}"

    def init(self, prefix, array):
        n = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def node(self, op, inputs, n_out=1, name=None, **attrs):
        name = name or self.name(op.lower() + "_")
        outs = [f"{name}_out{i}" if n_out > 1 else f"{name}_out" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs if n_out > 1 else outs[0]

    def weight(self, shape, fan_in):
        return (self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def bias(self, n, scale=0.1):
        return (self.rng.standard_normal(n) * scale).astype(np.float32)

    def conv(self, x, cin, cout, k, stride=1, pads=None, group=1, dilation=1, bias=True,
             as_constant=False):
        w = self.weight((cout, cin // group, k, k), fan_in=cin // group * k * k)
        if as_constant:
            wname = self.name("const_w")
            self.nodes.append(helper.make_node(
                "Constant", [], [wname], name=wname + "_node",
                value=numpy_helper.from_array(w, wname + "_value")))
        else:
            wname = self.init("w", w)
        inputs = [x, wname]
        if bias:
            inputs.append(self.init("b", self.bias(cout)))
        if pads is None:
            p = dilation * (k - 1) // 2
            pads = [p, p, p, p]
        attrs = dict(kernel_shape=[k, k], strides=[stride, stride], pads=pads)
        if group != 1:
            attrs["group"] = group
        if dilation != 1:
            attrs["dilations"] = [dilation, dilation]
        return self.node("Conv", inputs, **attrs)

    def bn(self, x, c):
        r = self.rng
        scale = r.uniform(0.5, 1.5, c).astype(np.float32)
        shift = (r.standard_normal(c) * 0.1).astype(np.float32)
        mean = (r.standard_normal(c) * 0.1).astype(np.float32)
        var = r.uniform(0.5, 2.0, c).astype(np.float32)
        ins = [x] + [self.init(p, a) for p, a in
                     (("bn_scale", scale), ("bn_bias", shift), ("bn_mean", mean), ("bn_var", var))]
        return self.node("BatchNormalization", ins, epsilon=1e-5)

    def gemm(self, x, k, n, transB=True):
        w = self.weight((n, k) if transB else (k, n), fan_in=k)
        return self.node("Gemm", [x, self.init("w", w), self.init("b", self.bias(n))],
                         transB=1 if transB else 0)

    def const_i64(self, prefix, values):
        return self.init(prefix, np.asarray(values, dtype=np.int64))

    def model(self, name, x_name, x_shape, y_name, y_shape, opset):
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info(x_name, TensorProto.FLOAT, x_shape)],
            [helper.make_tensor_value_info(y_name, TensorProto.FLOAT, y_shape)],
            initializer=self.inits)
        m = helper.make_model(graph, producer_name="nibble-make-fixtures",
                              opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = IR_VERSION
        onnx.checker.check_model(m, full_check=True)
        return m


def finish(b, graph_name, out_tensor, x_shape, y_shape, opset):
    """Rename the last node's output to the stable graph output name 'output'; build the model."""
    last = b.nodes[-1]
    assert last.output[0] == out_tensor
    last.output[0] = "output"
    return b.model(graph_name, "input", x_shape, "output", y_shape, opset)


def ort_run(model_bytes, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def save(out_dir, name, model, x):
    data = model.SerializeToString()
    with open(os.path.join(out_dir, f"{name}.onnx"), "wb") as f:
        f.write(data)
    y = ort_run(data, x)
    np.save(os.path.join(out_dir, f"{name}.input.npy"), x.astype(np.float32))
    np.save(os.path.join(out_dir, f"{name}.output.npy"), y.astype(np.float32))
    np.save(os.path.join(out_dir, f"{name}.input_f64.npy"), x.astype(np.float64))
    total = sum(os.path.getsize(os.path.join(out_dir, f"{name}{s}"))
                for s in (".onnx", ".input.npy", ".output.npy", ".input_f64.npy"))
    print(f"{name:18s} in {list(x.shape)} out {list(y.shape)} "
          f"({len(data)} B model, {total} B total)")
    return data


# ---------------------------------------------------------------------------- models

def make_mlp():
    b = Builder(seed=1)
    h = b.gemm("input", 64, 32, transB=True)                       # Gemm transB=1, W [32,64]
    h = b.node("Relu", [h])
    w2 = b.init("w", b.weight((32, 16), fan_in=32))                # MatMul W [32,16]
    h = b.node("MatMul", [h, w2])
    h = b.node("Add", [h, b.init("b", b.bias(16))])
    h = b.node("Sigmoid", [h])
    h = b.gemm(h, 16, 10, transB=False)                            # Gemm transB=0, W [16,10]
    h = b.node("Softmax", [h], axis=-1)
    m = finish(b, "mlp", h, ["N", 64], ["N", 10], 13)
    x = b.rng.standard_normal((3, 64)).astype(np.float32)
    return m, x


def make_resnet_small():
    b = Builder(seed=2)
    # stem: Conv3x3 3->16 (weights as a Constant node) + BN + Relu
    h = b.conv("input", 3, 16, 3, as_constant=True)
    h = b.node("Relu", [b.bn(h, 16)])
    h = b.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])  # [N,16,8,8]
    # basic residual block 16->16
    idn = h
    r = b.node("Relu", [b.bn(b.conv(h, 16, 16, 3, bias=False), 16)])
    r = b.bn(b.conv(r, 16, 16, 3, bias=False), 16)
    h = b.node("Relu", [b.node("Add", [r, idn])])
    # downsample block 16->32, stride 2, 1x1 stride-2 projection shortcut
    sc = b.bn(b.conv(h, 16, 32, 1, stride=2, pads=[0, 0, 0, 0], bias=False), 32)
    r = b.node("Relu", [b.bn(b.conv(h, 16, 32, 3, stride=2, bias=False), 32)])
    r = b.bn(b.conv(r, 32, 32, 3, bias=False), 32)
    h = b.node("Relu", [b.node("Add", [r, sc])])                    # [N,32,4,4]
    h = b.node("GlobalAveragePool", [h])                            # [N,32,1,1]
    h = b.node("Flatten", [h], axis=1)                              # [N,32]
    # Reshape to [N,-1] with the shape computed by a shape subgraph:
    # Shape -> Gather(0) -> Unsqueeze(axes=[0]) -> Concat([-1])
    s = b.node("Shape", [h])
    n = b.node("Gather", [s, b.init("idx", np.array(0, dtype=np.int64))], axis=0)
    n = b.node("Unsqueeze", [n, b.const_i64("axes", [0])])
    shp = b.node("Concat", [n, b.const_i64("minus1", [-1])], axis=0)
    h = b.node("Reshape", [h, shp])
    h = b.gemm(h, 32, 10, transB=True)
    m = finish(b, "resnet_small", h, ["N", 3, 16, 16], ["N", 10], 13)
    x = b.rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
    return m, x


def make_mobilenetv3_block():
    b = Builder(seed=3)
    h = b.node("HardSwish", [b.conv("input", 16, 48, 1, pads=[0, 0, 0, 0])])     # [N,48,20,20]
    h = b.conv(h, 48, 48, 3, stride=2, group=48, bias=False)                     # depthwise s2
    h = b.node("HardSwish", [b.bn(h, 48)])                                       # [N,48,10,10]
    # squeeze-excite
    se = b.node("GlobalAveragePool", [h])
    se = b.node("Relu", [b.conv(se, 48, 12, 1, pads=[0, 0, 0, 0])])
    se = b.conv(se, 12, 48, 1, pads=[0, 0, 0, 0])
    se = b.node("HardSigmoid", [se], alpha=1.0 / 6.0, beta=0.5)
    h = b.node("Mul", [h, se])
    p = b.conv(h, 48, 24, 1, pads=[0, 0, 0, 0])                                  # project [N,24,10,10]
    # dilated conv (dilation 2, asymmetric pads: top 2, left 1, bottom 2, right 3) + Clip(0,6)
    d = b.conv(p, 24, 24, 3, dilation=2, pads=[2, 1, 2, 3])                     # [N,24,10,10]
    d = b.node("Clip", [d, b.init("clip_min", np.array(0.0, np.float32)),
                        b.init("clip_max", np.array(6.0, np.float32))])
    a = b.node("AveragePool", [p], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1],
               count_include_pad=0)                                              # [N,24,10,10]
    h = b.node("Concat", [d, a], axis=1)                                         # [N,48,10,10]
    # channel shuffle (groups=2)
    h = b.node("Reshape", [h, b.const_i64("shape", [-1, 2, 24, 10, 10])])
    h = b.node("Transpose", [h], perm=[0, 2, 1, 3, 4])
    h = b.node("Reshape", [h, b.const_i64("shape", [0, 48, 10, 10])])            # 0 = copy N
    h = b.node("GlobalAveragePool", [h])
    h = b.node("Flatten", [h], axis=1)
    h = b.gemm(h, 48, 10, transB=True)
    h = b.node("Softmax", [h], axis=-1)
    m = finish(b, "mobilenetv3_block", h, ["N", 16, 20, 20], ["N", 10], 14)
    x = b.rng.standard_normal((2, 16, 20, 20)).astype(np.float32)
    return m, x


def make_unsupported_op():
    """Valid ONNX (ORT runs it) with an LSTM in the middle, node name 'bad_node'."""
    b = Builder(seed=4)
    h = b.node("Relu", [b.gemm("input", 16, 16)])                   # [N,16]
    h = b.node("Unsqueeze", [h, b.const_i64("axes", [0])])           # [1,N,16] = [seq,batch,in]
    hid = 8
    W = b.init("lstm_W", b.weight((1, 4 * hid, 16), 16))
    R = b.init("lstm_R", b.weight((1, 4 * hid, hid), hid))
    y = b.node("LSTM", [h, W, R], name="bad_node", hidden_size=hid)  # Y [1,1,N,8]
    h = b.node("Squeeze", [y, b.const_i64("axes", [0, 1])])          # [N,8]
    h = b.gemm(h, hid, 4)
    m = finish(b, "unsupported_op", h, ["N", 16], ["N", 4], 13)
    x = b.rng.standard_normal((2, 16)).astype(np.float32)
    return m, x


# ---------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "Tests", "Fixtures"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}")

    mlp_bytes = None
    for name, fn in (("mlp", make_mlp), ("resnet_small", make_resnet_small),
                     ("mobilenetv3_block", make_mobilenetv3_block)):
        m, x = fn()
        data = save(args.out, name, m, x)
        if name == "mlp":
            mlp_bytes = data

    m, x = make_unsupported_op()
    data = m.SerializeToString()
    ort_run(data, x)  # sanity: the model itself is valid, only unsupported by Nibble
    with open(os.path.join(args.out, "unsupported_op.onnx"), "wb") as f:
        f.write(data)
    print(f"{'unsupported_op':18s} ({len(data)} B, LSTM node 'bad_node')")

    with open(os.path.join(args.out, "truncated.onnx"), "wb") as f:
        f.write(mlp_bytes[:100])
    print(f"{'truncated':18s} (100 B prefix of mlp.onnx)")

    junk = np.random.default_rng(5).integers(0, 256, 256, dtype=np.uint8)
    junk[0] = 0x07  # tag: field 0, wire type 7 -> invalid for any protobuf parser
    junk = junk.tobytes()
    with open(os.path.join(args.out, "not_onnx.onnx"), "wb") as f:
        f.write(junk)
    print(f"{'not_onnx':18s} (256 random bytes)")


if __name__ == "__main__":
    main()
