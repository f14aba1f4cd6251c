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


def run_once(nib, codec, inputs, out):
    log = sh("run", nib, "--input", inputs, "--output", out, "--codec", codec)
    return float(re.search(r"\(([\d.]+) ms/sample\)", log).group(1)), int(re.search(r"arena (\d+) B", log).group(1))


def compare(nib, inputs=None):
    """none and cat interleaved (the machine is shared: pairs see the same load); median times and median ratio."""
    inputs = inputs or x
    outs = {c: os.path.join(tmp, f"out_{c}.npy") for c in ("none", "cat")}
    t = {"none": [], "cat": []}
    ratios, arena = [], {}
    for _ in range(runs):
        for c in ("none", "cat"):
            ms, arena[c] = run_once(nib, c, inputs, outs[c])
            t[c].append(ms)
        ratios.append(t["cat"][-1] / t["none"][-1])
    return outs, {c: statistics.median(v) for c, v in t.items()}, statistics.median(ratios), arena


print(f"digits CNN, 360 test samples; run time = median over {runs} interleaved none/cat runs of the 360-sample batch (ms/sample); cat/none = median of the pairs' ratios\n")
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
        outs, t, ratio, arena = compare(nib)
        acc_n, acc_c = (float((np.load(outs[c]).argmax(1) == y).mean()) for c in ("none", "cat"))
        t_n, t_c, a_n, a_c = t["none"], t["cat"], arena["none"], arena["cat"]
        chosen = "/".join(str(t["bits"]) for t in info["tensors"])
        print(f"| {recipe} | {bits}{' (' + chosen + ')' if bits == 'auto' else ''} | {100*acc_n:.2f}% | {100*acc_c:.2f}% | {info['raw_activation_bytes']} | "
              f"{info['planned_activation_bytes']} | {info['expected_activation_bytes']} | {cat_fp['peak_activation_bytes']} | {a_n} | {a_c} | "
              f"{t_n:.4f} | {t_c:.4f} | {ratio:.2f}x |")
        if bits == "auto":
            print("\n".join("    " + l for l in report.splitlines() if l.startswith(("auto:", "all coded"))))

# Larger maps: the test fixtures (made by scripts/make-fixtures.py), fp32, 4-bit tables fitted on their inputs.
F = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
print("\nfixtures (fp32 recipe, --codec-bits 4; inputs tiled to 64 samples)\n")
print("| model | raw peak B | cat planned B | cat expected B | cat achieved B | arena none B | arena cat B | ms/sample none | ms/sample cat | cat/none | max rel error |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in ["resnet_small", "mobilenetv3_block"]:
    inp = os.path.join(F, f"{name}.input.npy")
    big = os.path.join(tmp, f"{name}.big.npy")
    a = np.load(inp)
    np.save(big, np.tile(a, (64 // a.shape[0],) + (1,) * (a.ndim - 1)))
    nib = os.path.join(tmp, f"{name}.nib")
    sh("convert", os.path.join(F, f"{name}.onnx"), "-o", nib, "--calibrate", inp, "--codec-bits", "4")
    info = json.loads(sh("inspect", nib, "--json"))["codec_tables"]
    fp_out = sh("bench", "footprint", nib, "--input", big, "--json")
    cat_fp = next(c for c in json.loads(fp_out[fp_out.index("{"):])["codecs"] if c["codec"] == "cat")
    outs, t, ratio, arena = compare(nib, big)
    print(f"| {name} | {info['raw_activation_bytes']} | {info['planned_activation_bytes']} | {info['expected_activation_bytes']} | "
          f"{cat_fp['peak_activation_bytes']} | {arena['none']} | {arena['cat']} | {t['none']:.4f} | {t['cat']:.4f} | {ratio:.2f}x | {cat_fp['max_rel_error']:.4g} |")
