#!/usr/bin/env python3
"""M1 (issue 5): a ResNet-18-shaped binary network, end to end, Nibble vs ONNX Runtime (1 thread, batch 1), and
Nibble w1a1 at T threads.

    python3 bench/m1.py [--nibble PATH] [--seconds S] [--reps N] [--threads T] [--keep DIR] [--json]

1. Builds ResNet-18 (224x224x3 input: conv7x7/2 64 + BN + ReLU, maxpool 3x3/2, four stages of two basic blocks
   with 64/128/256/512 channels and 1x1/2 projection shortcuts, global average pool, FC 1000) as ONNX (opset 13)
   with seeded He-initialised weights and BatchNorm statistics — the shape of the real network, not its training.
2. Converts it with `nibble convert --recipe w1a1` (the recipe keeps the first conv and the last FC int8: the
   M1 definition), and also with `--recipe int8` and `fp32`, calibrating on 8 random inputs.
3. Times each .nib with `nibble bench model --json` and the ONNX model with ONNX Runtime (fp32, and int8 from
   quantize_static QDQ with per-channel weights), intra/inter-op threads 1, ORT_ENABLE_ALL.
4. Times the w1a1 model again with `--threads T` (default 2: a session's intra-op threads, issue 5 "Threads").
5. Prints medians and the ratios ORT/Nibble (>1: Nibble faster), the weight bytes of each file, and w1a1 at T
   threads against 1 thread (target >= 1.7x at 2 threads).

The M1 target (ORT fp32 / Nibble w1a1 >= 8) is reported, never asserted. Weights are random, so accuracy is not
meaningful here; the digits models (scripts/train-demo.py) carry the accuracy figures.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


class Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, kind):
        self.count += 1
        return f"{kind}_{self.count}"

    def const(self, kind, array):
        n = self.name(kind)
        self.inits.append(numpy_helper.from_array(array.astype(np.float32), n))
        return n

    def conv_bn(self, x, cin, cout, k, stride, relu):
        fan_in = cin * k * k
        w = self.rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / fan_in)
        y = self.name("conv")
        self.nodes.append(helper.make_node("Conv", [x, self.const("w", w)], [y], kernel_shape=[k, k],
                                           strides=[stride, stride], pads=[k // 2] * 4, name=y))
        bn = self.name("bn")
        self.nodes.append(helper.make_node(
            "BatchNormalization",
            [y, self.const("gamma", 1 + 0.1 * self.rng.standard_normal(cout)),
             self.const("beta", 0.1 * self.rng.standard_normal(cout)),
             self.const("mean", 0.1 * self.rng.standard_normal(cout)),
             self.const("var", 1 + 0.1 * np.abs(self.rng.standard_normal(cout)))],
            [bn], epsilon=1e-5, name=bn))
        if not relu:
            return bn
        r = self.name("relu")
        self.nodes.append(helper.make_node("Relu", [bn], [r], name=r))
        return r

    def basic_block(self, x, cin, cout, stride):
        y = self.conv_bn(x, cin, cout, 3, stride, relu=True)
        y = self.conv_bn(y, cout, cout, 3, 1, relu=False)
        shortcut = x if stride == 1 and cin == cout else self.conv_bn(x, cin, cout, 1, stride, relu=False)
        s = self.name("add")
        self.nodes.append(helper.make_node("Add", [y, shortcut], [s], name=s))
        r = self.name("relu")
        self.nodes.append(helper.make_node("Relu", [s], [r], name=r))
        return r


def resnet18(path, seed=18):
    b = Builder(seed)
    x = b.conv_bn("input", 3, 64, 7, 2, relu=True)
    p = b.name("maxpool")
    b.nodes.append(helper.make_node("MaxPool", [x], [p], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], name=p))
    x, cin = p, 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        x = b.basic_block(x, cin, cout, stride)
        x = b.basic_block(x, cout, cout, 1)
        cin = cout
    g = b.name("gap")
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], [g], name=g))
    f = b.name("flatten")
    b.nodes.append(helper.make_node("Flatten", [g], [f], axis=1, name=f))
    w = b.rng.standard_normal((1000, 512)) * np.sqrt(1.0 / 512)
    b.nodes.append(helper.make_node("Gemm", [f, b.const("fc_w", w), b.const("fc_b", np.zeros(1000))], ["logits"],
                                    transB=1, name="fc"))
    graph = helper.make_graph(b.nodes, "m1_resnet18", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="nibble bench/m1.py")
    onnx.checker.check_model(model)
    onnx.save(model, path)


def ort_session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def time_ort(path, x, seconds, reps):
    s = ort_session(path)
    feed = {s.get_inputs()[0].name: x[:1]}
    for _ in range(3):
        s.run(None, feed)
    times, start = [], time.perf_counter()
    while len(times) < reps or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        s.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), min(times), len(times)


def quantize_int8(src, dst, calib):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nibble", default=None, help="the nibble CLI (default: swift build -c release, then its path)")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds of timing per model (default 3)")
    ap.add_argument("--reps", type=int, default=10, help="at least this many timed runs (default 10)")
    ap.add_argument("--threads", type=int, default=2, help="also time Nibble w1a1 with this many threads (default 2; 1: skip)")
    ap.add_argument("--keep", default=None, help="write the models into this folder instead of a temporary one")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    nibble = args.nibble
    if nibble is None:
        subprocess.run(["swift", "build", "-c", "release", "--product", "nibble"], cwd=root, check=True)
        nibble = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=root, check=True,
                                capture_output=True, text=True).stdout.strip() + "/nibble"
    work = args.keep or tempfile.mkdtemp(prefix="nibble-m1-")
    os.makedirs(work, exist_ok=True)
    onnx_path = os.path.join(work, "m1.onnx")
    resnet18(onnx_path)
    calib = np.random.default_rng(1).standard_normal((8, 3, 224, 224)).astype(np.float32)
    calib_path = os.path.join(work, "m1_calib.npy")
    np.save(calib_path, calib)

    def bench_nib(nib, threads):
        out = subprocess.run([nibble, "bench", "model", nib, "--seconds", str(args.seconds), "--threads", str(threads), "--json"],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)

    rows = []
    for recipe in ["w1a1", "int8", "fp32"]:
        nib = os.path.join(work, f"m1.{recipe}.nib")
        cmd = [nibble, "convert", onnx_path, "-o", nib, "--recipe", recipe, "--quiet"]
        if recipe != "fp32":
            cmd += ["--calibrate", calib_path]
        print(f"converting M1 with --recipe {recipe}…", file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        r = bench_nib(nib, 1)
        rows.append({"runtime": "nibble", "model": recipe, "median_ms": r["median_ms"], "min_ms": r["min_ms"],
                     "file_bytes": os.path.getsize(nib), "threads": 1})
    print("timing ONNX Runtime fp32 and int8…", file=sys.stderr)
    med, mn, _ = time_ort(onnx_path, calib, args.seconds, args.reps)
    rows.append({"runtime": f"onnxruntime {ort.__version__}", "model": "fp32", "median_ms": med, "min_ms": mn,
                 "file_bytes": os.path.getsize(onnx_path)})
    q_path = os.path.join(work, "m1.int8.onnx")
    quantize_int8(onnx_path, q_path, calib)
    med, mn, _ = time_ort(q_path, calib, args.seconds, args.reps)
    rows.append({"runtime": f"onnxruntime {ort.__version__}", "model": "int8", "median_ms": med, "min_ms": mn,
                 "file_bytes": os.path.getsize(q_path)})

    ort_fp32 = rows[3]["median_ms"]
    ort_int8 = rows[4]["median_ms"]
    if args.threads > 1:
        print(f"timing Nibble w1a1 with {args.threads} threads…", file=sys.stderr)
        r = bench_nib(os.path.join(work, "m1.w1a1.nib"), args.threads)
        rows.append({"runtime": "nibble", "model": "w1a1", "median_ms": r["median_ms"], "min_ms": r["min_ms"],
                     "file_bytes": rows[0]["file_bytes"], "threads": r["threads"]})
    if args.json:
        print(json.dumps({"threads": 1, "results": rows}, indent=1))
        return
    print(f"M1 (ResNet-18 shape, 224x224, batch 1, 1 thread unless stated); models in {work}")
    print(f"{'runtime':<22}{'model':<7}{'threads':>8}{'median ms':>11}{'min ms':>10}{'file KiB':>10}{'ORT fp32/x':>12}{'ORT int8/x':>12}")
    for r in rows:
        print(f"{r['runtime']:<22}{r['model']:<7}{r.get('threads', 1):>8}{r['median_ms']:>11.2f}{r['min_ms']:>10.2f}"
              f"{r['file_bytes'] / 1024:>10.0f}{ort_fp32 / r['median_ms']:>11.2f}x{ort_int8 / r['median_ms']:>11.2f}x")
    print(f"target: Nibble w1a1 >= 8x faster than ORT fp32 (both 1 thread) -> {ort_fp32 / rows[0]['median_ms']:.2f}x")
    if args.threads > 1:
        print(f"threads: Nibble w1a1 {rows[-1]['threads']} threads vs 1 thread -> {rows[0]['median_ms'] / rows[-1]['median_ms']:.2f}x"
              " (target >= 1.7x at 2 threads)")


if __name__ == "__main__":
    main()
