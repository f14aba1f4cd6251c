#!/usr/bin/env python3
"""Peers for Nibble's sparse kernels (issue 5): ONNX Runtime fp32 dense and scipy CSR x dense, 1 thread.

    python3 bench/sparse_ref.py [--nibble-json FILE] [--json] [--reps N] [--min-time S]

Layers (batch 1, as bench/ort_layers.py): L5 conv1x1 256->1024 @14x14 and G1 FC 4096->1000.
  ort_fp32   the dense layer in ONNX Runtime (CPU EP, intra/inter-op threads 1, ORT_ENABLE_ALL)
  scipy90    scipy.sparse.csr_matrix of the same weights magnitude-pruned to 90 % zeros, times the dense
             input: W_csr @ X with X [256, 196] (L5, NCHW pixels as columns) or x [4096] (G1)
  scipy24    the same product with 2:4 pruning (2 largest |w| of every 4 input channels)
Time: median and min over --reps runs (at least --min-time seconds) after warm-up, in ms.
Threads: OMP/MKL/OpenBLAS pinned to 1 before numpy loads; scipy's CSR product is single-threaded C++.

--nibble-json FILE  output of `nibble bench kernels --json --layers L5,G1`: prints, per layer, Nibble's
                    sparse90 / nm24 median and the ratios ORT_fp32 / Nibble and scipy / Nibble (>1: Nibble is faster).
scipy is installed with pip if it is missing.
"""
import os

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ort_layers  # noqa: E402  (shares the layer definitions, model builder and ORT session settings)

try:
    import scipy.sparse as sp
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "scipy"])
    importlib.invalidate_caches()
    import scipy.sparse as sp

LAYERS = ["L5", "G1"]


def timed(fn, reps, min_time, warmup=5):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= 100 * reps:
            break
    return statistics.median(times), min(times)


def prune(w2d, kind):
    """Magnitude pruning as `nibble bench kernels`: 90 % unstructured, or 2:4 along input channels."""
    w = w2d.copy()
    if kind == "90":
        threshold = np.sort(np.abs(w).ravel())[int(w.size * 0.9)]
        w[np.abs(w) < threshold] = 0
    else:
        rows, cols = w.shape
        pad = (-cols) % 4
        g = np.pad(np.abs(w), ((0, 0), (0, pad))).reshape(rows, -1, 4)
        drop = np.argsort(g, axis=2)[:, :, :2]          # the 2 smallest of every group
        mask = np.ones_like(g, dtype=bool)
        np.put_along_axis(mask, drop, False, axis=2)
        w = w * mask.reshape(rows, -1)[:, :cols]
    return w


def run(args):
    from onnx import numpy_helper
    results = []
    for name in LAYERS:
        model = ort_layers.build_model(name)
        w = numpy_helper.to_array(model.graph.initializer[0])
        w2d = w.reshape(w.shape[0], -1)
        rng = np.random.default_rng(1)
        x = rng.standard_normal(ort_layers.input_shape(name)).astype(np.float32)
        sess = ort_layers.session(model.SerializeToString())
        med, mn = timed(lambda: sess.run(None, {"x": x}), args.reps, args.min_time)
        results.append({"layer": name, "kernel": "ort_fp32", "median_ms": med, "min_ms": mn})
        dense_in = x.reshape(x.shape[1], -1) if name != "G1" else x.reshape(-1)
        for kind in ("90", "24"):
            csr = sp.csr_matrix(prune(w2d, kind))
            med, mn = timed(lambda: csr @ dense_in, args.reps, args.min_time)
            results.append({"layer": name, "kernel": f"scipy{kind}", "median_ms": med, "min_ms": mn,
                            "nnz": int(csr.nnz)})
    return {"scipy": __import__("scipy").__version__,
            "onnxruntime": ort_layers.ort.__version__, "threads": 1, "results": results}


def compare(report, nibble):
    peer = {(r["layer"], r["kernel"]): r["median_ms"] for r in report["results"]}
    print(f"\nNibble: {nibble.get('cpu', '?')}, isa {nibble.get('isa', '?')}, threads {nibble.get('threads', '?')}")
    print(f"{'layer':5} {'kernel':9} {'nibble ms':>10} {'ORT fp32 ms':>12} {'ORT/nibble':>11} {'scipy ms':>9} {'scipy/nibble':>13}")
    for r in nibble["results"]:
        if r["kernel"] not in ("sparse90", "nm24", "fp32") or r["layer"] not in LAYERS:
            continue
        n = r["median_ms"]
        ortm = peer.get((r["layer"], "ort_fp32"))
        sc = peer.get((r["layer"], {"sparse90": "scipy90", "nm24": "scipy24"}.get(r["kernel"], "")))
        print(f"{r['layer']:5} {r['kernel']:9} {n:10.4f} {ortm:12.4f} {ortm / n:10.2f}x "
              + (f"{sc:9.4f} {sc / n:12.2f}x" if sc else f"{'-':>9} {'-':>13}"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nibble-json")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--min-time", type=float, default=0.5)
    args = ap.parse_args()
    report = run(args)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"onnxruntime {report['onnxruntime']}, scipy {report['scipy']}, 1 thread")
        print(f"{'layer':5} {'kernel':9} {'median ms':>10} {'min ms':>9}")
        for r in report["results"]:
            print(f"{r['layer']:5} {r['kernel']:9} {r['median_ms']:10.4f} {r['min_ms']:9.4f}")
    if args.nibble_json:
        with open(args.nibble_json) as f:
            compare(report, json.load(f))


if __name__ == "__main__":
    main()
