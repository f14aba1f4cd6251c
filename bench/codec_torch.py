#!/usr/bin/env python3
"""CAT feature-map codec on torchvision nets (issue 6): bits/value against entropy, peak activation memory against
int8 raw, output error, and run time with the codec against without, for ImageNet-sized maps.

Usage: python3 bench/codec_torch.py PATH/TO/nibble DIR [--models resnet18,densenet121] [--bits 8|auto|N]
                                     [--calib N] [--runs N] [--seconds S]

DIR holds bench/foreign/export_torch.py's exports (NAME.onnx, NAME_calib.npy, NAME_test.npy). Each model is
converted fp32 with `--calibrate` on its first --calib calibration samples (default 64; `auto` runs the model
many times per search step, so fewer keep it to minutes) and `--codec-bits`, then measured by the nibble CLI on
this machine: `bench footprint` on the first test sample, and `bench model --codec none|cat` alternated --runs
times (the machine may be shared: pairs see the same load). This script only drives the CLI and tabulates.
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("nibble")
p.add_argument("dir")
p.add_argument("--models", default="resnet18")
p.add_argument("--bits", default="8")
p.add_argument("--calib", type=int, default=64)
p.add_argument("--runs", type=int, default=3)
p.add_argument("--seconds", default="3")
a = p.parse_args()
tmp = tempfile.mkdtemp()


def sh(*args):
    r = subprocess.run([a.nibble, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return r.stdout + r.stderr


def median_ms(nib, codec, x):
    out = sh("bench", "model", nib, "--input", x, "--codec", codec, "--seconds", a.seconds)
    return float(re.search(r"median ([\d.]+) ms", out).group(1))


print(f"fp32 recipe, --codec-bits {a.bits}, tables from {a.calib} calibration samples; footprint on the first test "
      f"sample; run times: medians of `bench model`, {a.runs} alternated none/cat runs (cat/none: median of the pairs)\n")
print("| model | bits/value | entropy | peak activation cat B | int8 raw B | int8 raw / cat | max rel error | none ms | cat ms | cat/none |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in a.models.split(","):
    src = os.path.join(a.dir, name)
    calib, test = os.path.join(tmp, f"{name}_calib.npy"), os.path.join(tmp, f"{name}_one.npy")
    np.save(calib, np.load(f"{src}_calib.npy")[: a.calib])
    np.save(test, np.load(f"{src}_test.npy")[:1])
    nib = os.path.join(tmp, f"{name}.nib")
    print(f"converting {name}…", file=sys.stderr)
    sh("convert", f"{src}.onnx", "-o", nib, "--calibrate", calib, "--codec-bits", a.bits, "--quiet")
    fp_out = sh("bench", "footprint", nib, "--input", test, "--json")
    fp = json.loads(fp_out[fp_out.index("{"):])
    cat = next(c for c in fp["codecs"] if c["codec"] == "cat")
    int8_raw = fp["int8_raw_peak_activation_bytes"]
    t = {"none": [], "cat": []}
    ratios = []
    for _ in range(a.runs):
        for c in ("none", "cat"):
            t[c].append(median_ms(nib, c, test))
        ratios.append(t["cat"][-1] / t["none"][-1])
    print(f"| {name} | {cat['bits_per_value']:.3f} | {cat['entropy_bits_per_value']:.3f} | {cat['peak_activation_bytes']} | {int8_raw} | "
          f"{int8_raw / cat['peak_activation_bytes']:.2f}x | {cat['max_rel_error']:.4g} | {statistics.median(t['none']):.2f} | {statistics.median(t['cat']):.2f} | "
          f"{statistics.median(ratios):.2f}x |")
