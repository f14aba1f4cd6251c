#!/usr/bin/env python3
"""Transform vs CAT feature-map coding at equal bits (issue 6, "transform mode: report where it beats CAT").

For each model and bit width, converts once with --codec-transform pca and once with dct, and tabulates from the
conversion report, per coded tensor: CAT bits/value and ‖x − x̂‖/‖x‖ next to transform (PCA, DCT) bits/value and
error; then the whole-model output error of each codec session (‖y − y₀‖/‖y₀‖) and, on the digits CNN, test
accuracy with codec none / cat / transform measured by `nibble run`.

Usage: python3 bench/codec_transform.py PATH/TO/nibble [--bits 4,6,8]
The digits nets (samples/models) are fitted on 96 calibration samples and measured on the 32 held out; the fixtures
have 2 input samples, so their tables are fitted and measured on the same samples (the report says so).
"""
import os, re, subprocess, sys, tempfile

import numpy as np

nibble = sys.argv[1]
bits_list = sys.argv[sys.argv.index("--bits") + 1].split(",") if "--bits" in sys.argv else ["4", "6", "8"]
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
S, F = os.path.join(root, "samples", "models"), os.path.join(root, "Tests", "Fixtures")
tmp = tempfile.mkdtemp()
models = [
    ("digits CNN int8", os.path.join(S, "digits_cnn.onnx"), "int8", os.path.join(S, "digits_calib_img.npy")),
    ("digits ResNet int8", os.path.join(S, "digits_resnet.onnx"), "int8", os.path.join(S, "digits_calib_img.npy")),
    ("digits MobileNet int8", os.path.join(S, "digits_mobilenet.onnx"), "int8", os.path.join(S, "digits_calib_img.npy")),
    ("mobilenetv3_block fp32", os.path.join(F, "mobilenetv3_block.onnx"), "fp32", os.path.join(F, "mobilenetv3_block.input.npy")),
    ("resnet_small int8", os.path.join(F, "resnet_small.onnx"), "int8", os.path.join(F, "resnet_small.input.npy")),
]


def sh(*args):
    r = subprocess.run([nibble, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return r.stdout + r.stderr


def convert(onnx, recipe, calib, bits, transform):
    nib = os.path.join(tmp, f"m_{bits}_{transform}.nib")
    log = sh("convert", onnx, "-o", nib, "--recipe", recipe, "--calibrate", calib, "--codec-bits", bits, "--codec-transform", transform)
    rows = {}
    part = log[log.index("transform codec ("):]
    for line in part.splitlines()[2:]:
        f = [c.strip() for c in line.split("|")]
        if len(f) != 9:
            break
        rows[f[0]] = dict(cat_bpv=float(f[2]), cat_err=float(f[3]), bpv=float(f[5]), entropy=float(f[6]), err=float(f[7]))
    cat_err = float(re.search(r"output error vs no codec: [\d.]+ \(fitting samples\), ([\d.]+)", log).group(1))
    tr_err = float(re.search(r"transform session output error vs no codec: [\d.]+ \(fitting samples\), ([\d.]+)", log).group(1))
    shapes = {m.group(1): m.group(2) for m in re.finditer(r"^(\S+) \| (\d+(?:x\d+)+) \|", log, re.M)}
    return nib, rows, cat_err, tr_err, shapes


def accuracy(nib, codec):
    out = os.path.join(tmp, "y.npy")
    sh("run", nib, "--input", os.path.join(S, "digits_test_x_img.npy"), "--output", out, "--codec", codec)
    return float((np.load(out).argmax(1) == np.load(os.path.join(S, "digits_test_y.npy"))).mean())


for name, onnx, recipe, calib in models:
    print(f"\n## {name}\n")
    summary = []
    for bits in bits_list:
        nib_p, pca, cat_err, pca_err, shapes = convert(onnx, recipe, calib, bits, "pca")
        nib_d, dct, _, dct_err, _ = convert(onnx, recipe, calib, bits, "dct")
        print(f"{bits}-bit maps, per coded tensor (bits/value achieved on the measurement samples; error = ‖x − x̂‖/‖x‖):\n")
        print("| tensor | shape | CAT b/v | CAT err | PCA b/v | PCA err | DCT b/v | DCT err | smaller at equal bits |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---|")
        wins = 0
        size = {t: int(np.prod([int(v) for v in shapes[t].split("x")])) for t in pca}
        total = sum(size.values())
        mean = lambda key, rows: sum(rows[t][key] * size[t] for t in rows) / total
        for t, c in pca.items():
            d = dct[t]
            best = min(("CAT", c["cat_bpv"]), ("PCA", c["bpv"]), ("DCT", d["bpv"]), key=lambda p: p[1])[0]
            wins += best != "CAT"
            print(f"| {t} | {shapes.get(t, '?')} | {c['cat_bpv']:.3f} | {c['cat_err']:.4f} | {c['bpv']:.3f} | {c['err']:.4f} | {d['bpv']:.3f} | {d['err']:.4f} | {best} |")
        line = f"\nall coded values: CAT {mean('cat_bpv', pca):.3f}, PCA {mean('bpv', pca):.3f}, DCT {mean('bpv', dct):.3f} bits/value"
        line += f"; {bits}-bit model output error ‖y − y₀‖/‖y₀‖: CAT {cat_err:.4f}, PCA {pca_err:.4f}, DCT {dct_err:.4f}; transform smaller on {wins} of {len(pca)} tensors"
        if "digits" in name:
            line += f"; test accuracy none {accuracy(nib_p, 'none'):.4f}, CAT {accuracy(nib_p, 'cat'):.4f}, PCA {accuracy(nib_p, 'transform'):.4f}, DCT {accuracy(nib_d, 'transform'):.4f}"
        print(line + "\n")
