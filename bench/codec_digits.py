#!/usr/bin/env python3
"""CAT feature-map codec on the digits CNN (issue 6): accuracy with codec none vs cat at 8/6/4/auto bits,
peak activation bytes (raw, planned worst case, expected, achieved) and run time with vs without codec.

Usage: python3 bench/codec_digits.py PATH/TO/nibble [--runs N]   (a release build: swift build -c release)
Everything is measured by the nibble CLI on this machine; this script only drives it and tabulates.
"""
import json, os, re, statistics, subprocess, sys, tempfile

import numpy as np

nibble = sys.argv[1]
runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 11
S = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "models")
x, y = os.path.join(S, "digits_test_x_img.npy"), np.load(os.path.join(S, "digits_test_y.npy"))
calib = os.path.join(S, "digits_calib_img.npy")
tmp = tempfile.mkdtemp()


def sh(*args):
    r = subprocess.run([nibble, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return r.stdout + r.stderr


def run(nib, codec):
    out = os.path.join(tmp, "out.npy")
    times = []
    for _ in range(runs):
        log = sh("run", nib, "--input", x, "--output", out, "--codec", codec)
        times.append(float(re.search(r"\(([\d.]+) ms/sample\)", log).group(1)))
    acc = float((np.load(out).argmax(1) == y).mean())
    return acc, statistics.median(times), int(re.search(r"arena (\d+) B", log).group(1))


print(f"digits CNN, 360 test samples; run time = median over {runs} runs of the 360-sample batch (ms/sample)\n")
print("| recipe | bits | acc none | acc cat | raw peak B | cat planned B | cat expected B | cat achieved B | arena none B | arena cat B | ms/sample none | ms/sample cat | cat/none |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for recipe in ["fp32", "int8"]:
    for bits in ["8", "6", "4", "auto"]:
        nib = os.path.join(tmp, f"{recipe}_{bits}.nib")
        report = sh("convert", os.path.join(S, "digits_cnn.onnx"), "-o", nib, "--recipe", recipe, "--calibrate", calib, "--codec-bits", bits)
        info = json.loads(sh("inspect", nib, "--json"))["codec_tables"]
        fp_out = sh("bench", "footprint", nib, "--input", x, "--json")
        fp = json.loads(fp_out[fp_out.index("{"):])
        cat_fp = next(c for c in fp["codecs"] if c["codec"] == "cat")
        acc_n, t_n, a_n = run(nib, "none")
        acc_c, t_c, a_c = run(nib, "cat")
        chosen = "/".join(str(t["bits"]) for t in info["tensors"])
        print(f"| {recipe} | {bits}{' (' + chosen + ')' if bits == 'auto' else ''} | {100*acc_n:.2f}% | {100*acc_c:.2f}% | {info['raw_activation_bytes']} | "
              f"{info['planned_activation_bytes']} | {info['expected_activation_bytes']} | {cat_fp['peak_activation_bytes']} | {a_n} | {a_c} | "
              f"{t_n:.4f} | {t_c:.4f} | {t_c / t_n:.2f}x |")
        if bits == "auto":
            print("\n".join("    " + l for l in report.splitlines() if l.startswith(("auto:", "all coded"))))
