#!/usr/bin/env python3
"""Time ONNX Runtime (CPU EP, 1 thread) on Nibble's canonical benchmark layers.

    python3 bench/ort_layers.py [--json] [--int8] [--nibble-json FILE] [--reps N] [--warmup N]
                                [--layers L1,L2,...]

Layers (batch 1, fp32, with bias):
  L1 conv3x3  64->64   @56x56 pad1      L4 conv3x3 512->512 @7x7 pad1
  L2 conv3x3 128->128  @28x28 pad1      L5 conv1x1 256->1024 @14x14
  L3 conv3x3 256->256  @14x14 pad1      G1 FC 4096->1000 (Gemm transB=1, input [1,4096])

Session: intra_op_num_threads=1, inter_op_num_threads=1, ORT_SEQUENTIAL, ORT_ENABLE_ALL.
Each layer: warmup runs, then --reps timed runs (or at least --min-time seconds); median and min
in milliseconds.

--int8       additionally time a static-quantized version of each layer (quantize_static, QDQ,
             per-channel weights, QUInt8 activations / QInt8 weights, random calibration data)
             reported with kernel "int8".
--json       print {"runtime":"onnxruntime <ver>","threads":1,"results":[{"layer","kernel",
             "median_ms","min_ms"},...]} instead of the table.
--nibble-json FILE
             JSON from `nibble bench kernels --json` (threads, cpu, isa, results[layer, kernel,
             median_ms, min_ms]); prints a side-by-side table with ORT_median / Nibble_median per
             layer and kernel (>1 means Nibble is faster). Nibble fp32 is compared with ORT
             fp32; any other Nibble kernel (int8, w4a8, ...) with ORT's kernel of the same name,
             ORT fp32 and ORT int8 (when --int8 is given).
"""
import argparse
import builtins
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

# name: (kind, cin, cout, k, hw, pad)
LAYERS = {
    "L1": ("conv", 64, 64, 3, 56, 1),
    "L2": ("conv", 128, 128, 3, 28, 1),
    "L3": ("conv", 256, 256, 3, 14, 1),
    "L4": ("conv", 512, 512, 3, 7, 1),
    "L5": ("conv", 256, 1024, 1, 14, 0),
    "G1": ("fc", 4096, 1000, None, None, None),
}


def describe(name):
    kind, cin, cout, k, hw, pad = LAYERS[name]
    if kind == "fc":
        return f"FC {cin}->{cout}"
    return f"conv{k}x{k} {cin}->{cout} @{hw}x{hw}" + (f" pad{pad}" if pad else "")


def input_shape(name):
    kind, cin, cout, k, hw, pad = LAYERS[name]
    return [1, cin] if kind == "fc" else [1, cin, hw, hw]


def build_model(name, seed=0):
    kind, cin, cout, k, hw, pad = LAYERS[name]
    rng = np.random.default_rng(seed)
    if kind == "fc":
        w = (rng.standard_normal((cout, cin)) / np.sqrt(cin)).astype(np.float32)
        node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
        yshape = [1, cout]
    else:
        w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
        node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[k, k],
                                pads=[pad] * 4, strides=[1, 1])
        yshape = [1, cout, hw, hw]
    b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape(name))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, yshape)],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def session(path_or_bytes):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])


def time_session(sess, x, warmup, reps, min_time):
    feed = {sess.get_inputs()[0].name: x}
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    start = time.perf_counter()
    while len(times) < reps or (time.perf_counter() - start) < min_time:
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= 100 * reps:
            break
    return statistics.median(times), min(times)


def quantize(name, fp32_model, tmpdir, seed=1):
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class RandomReader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(seed)
            self.data = iter([{"x": rng.standard_normal(input_shape(name)).astype(np.float32)}
                              for _ in range(8)])

        def get_next(self):
            return next(self.data, None)

    src = os.path.join(tmpdir, f"{name}_fp32.onnx")
    dst = os.path.join(tmpdir, f"{name}_int8.onnx")
    onnx.save(fp32_model, src)
    quantize_static(src, dst, RandomReader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return dst


def run(args):
    layers = [l.strip() for l in args.layers.split(",") if l.strip()]
    for l in layers:
        if l not in LAYERS:
            sys.exit(f"unknown layer {l!r}; known: {', '.join(LAYERS)}")
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for name in layers:
            m = build_model(name)
            x = np.random.default_rng(2).standard_normal(input_shape(name)).astype(np.float32)
            med, mn = time_session(session(m.SerializeToString()), x, args.warmup, args.reps,
                                   args.min_time)
            results.append({"layer": name, "kernel": "fp32", "median_ms": round(med, 4),
                            "min_ms": round(mn, 4)})
            if not args.json:
                print(f"  {name} fp32  {describe(name):28s} median {med:9.3f} ms  min {mn:9.3f} ms",
                      file=sys.stderr, flush=True)
            if args.int8:
                path = quantize(name, m, tmpdir)
                med, mn = time_session(session(path), x, args.warmup, args.reps, args.min_time)
                results.append({"layer": name, "kernel": "int8", "median_ms": round(med, 4),
                                "min_ms": round(mn, 4)})
                if not args.json:
                    print(f"  {name} int8  {describe(name):28s} median {med:9.3f} ms  "
                          f"min {mn:9.3f} ms", file=sys.stderr, flush=True)
    return {"runtime": f"onnxruntime {ort.__version__}", "threads": 1, "results": results}


def print_table(report):
    print(f"{report['runtime']}, threads {report['threads']}, CPU EP, batch 1")
    print(f"{'layer':5s} {'shape':30s} {'kernel':6s} {'median ms':>10s} {'min ms':>10s}")
    for r in report["results"]:
        print(f"{r['layer']:5s} {describe(r['layer']):30s} {r['kernel']:6s} "
              f"{r['median_ms']:10.3f} {r['min_ms']:10.3f}")


def print_comparison(report, nibble, out=sys.stdout):
    print = lambda *a, **k: builtins.print(*a, file=out, **k)  # noqa: E731
    ort_by = {(r["layer"], r["kernel"]): r for r in report["results"]}
    print()
    print(f"Nibble: threads {nibble.get('threads')}, cpu {nibble.get('cpu', '?')}, "
          f"isa {nibble.get('isa', '?')}   vs   {report['runtime']}, threads {report['threads']}")
    if nibble.get("threads") not in (None, report["threads"]):
        print(f"WARNING: thread counts differ (Nibble {nibble.get('threads')}, ORT "
              f"{report['threads']})")
    print(f"{'layer':5s} {'nibble kernel':14s} {'nibble med':>11s} {'ort kernel':10s} "
          f"{'ort med':>10s} {'ORT/Nibble':>11s}")
    for r in nibble.get("results", []):
        layer, kernel = r["layer"], r["kernel"]
        # fp32 vs ORT fp32; any other Nibble kernel vs ORT's same-named kernel, fp32 and int8
        wanted = ["fp32"] if kernel == "fp32" else [kernel, "fp32", "int8"]
        ref_kernels = [k for i, k in enumerate(wanted)
                       if k not in wanted[:i] and (layer, k) in ort_by]
        if not ref_kernels:
            print(f"{layer:5s} {kernel:14s} {r['median_ms']:11.3f} {'-':10s} {'-':>10s} {'-':>11s}")
            continue
        for k in ref_kernels:
            o = ort_by[(layer, k)]
            ratio = o["median_ms"] / r["median_ms"] if r["median_ms"] > 0 else float("nan")
            print(f"{layer:5s} {kernel:14s} {r['median_ms']:11.3f} {k:10s} "
                  f"{o['median_ms']:10.3f} {ratio:10.2f}x")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print JSON only")
    ap.add_argument("--int8", action="store_true", help="also time QDQ int8 static-quantized layers")
    ap.add_argument("--nibble-json", metavar="FILE", help="compare with `nibble bench kernels --json`")
    ap.add_argument("--layers", default=",".join(LAYERS), help="comma-separated subset")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--min-time", type=float, default=1.0, help="min seconds of timed runs per layer")
    args = ap.parse_args()

    nibble = None
    if args.nibble_json:
        with open(args.nibble_json) as f:
            nibble = json.load(f)

    report = run(args)
    if args.json:
        print(json.dumps(report))
    else:
        print_table(report)
    if nibble is not None:
        # with --json, keep stdout pure JSON and send the table to stderr
        print_comparison(report, nibble, sys.stderr if args.json else sys.stdout)


if __name__ == "__main__":
    main()
