#!/usr/bin/env python3
"""Train a ResNet-style and a MobileNet-style CNN on the 8x8 digits, plain and low-entropy, for the
feature-map codec measurements of issue 6 (CAT targets).

    python3 scripts/train-cat-models.py [--out samples/models] [--epochs 24] [--le-epochs 8] [--sparsity 0.5]
                                        [--size 8]

Needs the data written by scripts/train-demo.py in --out (digits_*.npy). Writes into --out:
  digits_resnet.onnx       [N,1,8,8] -> conv3x3 16 +BN+ReLU -> basic block 16 -> basic block 32 (stride 2,
                                        1x1 projection skip) -> basic block 32 -> GAP -> Gemm 32->10
  digits_mobilenet.onnx    [N,1,8,8] -> conv3x3 16 +BN+ReLU6 -> inverted residual 16 (x3 expand, depthwise 3x3,
                                        linear 1x1 projection, skip) -> IR 24 (stride 2) -> IR 24 (skip)
                                        -> 1x1 conv 64 +ReLU6 -> GAP -> Gemm 64->10
  digits_resnet_le.onnx, digits_mobilenet_le.onnx
                           the same nets fine-tuned --le-epochs more with a sparsity penalty on every activation
                           (--sparsity times the Hoyer measure of each ReLU/ReLU6 output, see Act): low-entropy
                           feature maps, the effect CAT (Baskin et al., "CAT: Compression-Aware Training for
                           bandwidth reduction", JMLR 2021) gets from its entropy regularizer
  digits_resnet_q4.onnx, digits_mobilenet_q4.onnx
                           the _le nets after --qat-epochs of quantization-aware training (QAT) with 4-bit
                           activations everywhere (uint4 after ReLU/ReLU6, MSE-clipped; int4 on the maps without
                           an activation), straight-through gradients, the sparsity penalty kept on (also on the
                           signed maps): the low-entropy models CAT trains; exported with the QAT clips
  *.qdq.onnx               each quantized by onnxruntime.quantization.quantize_static (QDQ format,
                           per-channel int8 weights, uint8 activations, MinMax on digits_calib_img.npy):
                           a model quantized elsewhere, for `nibble convert` (QDQ import keeps its scales);
                           the _q4 ones at opset 21 with their QAT grids as uint4/int4 activation Q/DQ pairs
                           (TensorQuantOverrides), which ONNX Runtime runs unfused
    --nets digits_resnet --variants q4   retrains only what is asked for (the chain plain → le → q4 runs)

--size S (S > 8, e.g. 16 or 32): the same nets on the digits upsampled to SxS (bilinear, half-pixel centres
as ONNX Resize "linear"; train-demo's ±1 px shift applied on the 8x8 image first, so a shift is S/8 px): maps
large enough that the compressed maps, not the decode windows, set most of the peak activation memory. The
layers are the same (no stride-2 stem, no extra stage: the stem and the first block run at SxS, the last two
at S/2 x S/2); the files get the prefix digitsS instead of digits (digits32_resnet_q4.onnx, …), with
digitsS_calib_img.npy and digitsS_test_x_img.npy (train-demo's calibration batch and test set upsampled the
same way) written next to them (`--size 32 --nets ""` writes only those); the labels stay digits_test_y.npy.
Training time grows with the map area: at 32x32 about 10-15 s per epoch per net on one core (8x8: under
1 s), about 10 minutes per net for the default epochs. At 32x32 the QAT step needs a weaker penalty
(--qat-sparsity 0.3): with 1.0 the _q4 ResNet ends at 92.5 % fp32 / 97.5 % QDQ instead of 99.4 % / 99.7 %.

BatchNormalization is trained in training mode and folded into the convs at export (as exporters do).
Deterministic (seeded, single-threaded BLAS); a finite-difference gradient check runs first. About a
minute per net on one core at 8x8. Requires numpy, scikit-learn (train-demo's data), onnx, onnxruntime.
"""
import argparse
import importlib.util
import os
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static  # noqa: E402

# The data split, augmentation and loss are train-demo's (scripts/train-demo.py), imported from its file.
_spec = importlib.util.spec_from_file_location("train_demo", os.path.join(os.path.dirname(os.path.abspath(__file__)), "train-demo.py"))
train_demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train_demo)
augment, softmax_xent, load_data = train_demo.augment, train_demo.softmax_xent, train_demo.load_data

SEED = 0
OPSET = 13
OPSET_INT4 = 21  # QuantizeLinear/DequantizeLinear with int4/uint4 (the QAT models' activations)
IR_VERSION = 8


# ---------------------------------------------------------------------------- layers (forward/backward)

class Conv:
    """Conv2d without bias (a BatchNorm follows); groups 1 or depthwise (groups == channels)."""

    def __init__(self, name, rng, cin, cout, k, stride=1, depthwise=False, dtype=np.float32):
        self.name, self.k, self.stride, self.pad, self.depthwise = name, k, stride, k // 2, depthwise
        shape = (cout, 1, k, k) if depthwise else (cout, cin, k, k)
        fan_in = k * k if depthwise else cin * k * k
        self.p = {f"{name}.w": (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)}

    def out_size(self, h):
        return (h + 2 * self.pad - self.k) // self.stride + 1

    def forward(self, x, train):
        w = self.p[f"{self.name}.w"]
        B, C, H, W = x.shape
        s, k, Ho, Wo = self.stride, self.k, self.out_size(H), self.out_size(W)
        xp = np.pad(x, ((0, 0), (0, 0), (self.pad, self.pad), (self.pad, self.pad)))
        self.cache = (x.shape, xp)
        if self.depthwise:
            y = np.zeros((B, C, Ho, Wo), x.dtype)
            for i in range(k):
                for j in range(k):
                    y += xp[:, :, i:i + s * Ho:s, j:j + s * Wo:s] * w[None, :, 0, i, j, None, None]
            return y
        cols = np.empty((B, C, k, k, Ho, Wo), x.dtype)
        for i in range(k):
            for j in range(k):
                cols[:, :, i, j] = xp[:, :, i:i + s * Ho:s, j:j + s * Wo:s]
        cols = cols.reshape(B, C * k * k, Ho * Wo).transpose(0, 2, 1).reshape(B * Ho * Wo, C * k * k)
        self.cache = (x.shape, cols)
        O = w.shape[0]
        return np.ascontiguousarray((cols @ w.reshape(O, -1).T).reshape(B, Ho, Wo, O).transpose(0, 3, 1, 2))

    def backward(self, dy, grads):
        w = self.p[f"{self.name}.w"]
        (B, C, H, W), saved = self.cache
        s, k, Ho, Wo = self.stride, self.k, dy.shape[2], dy.shape[3]
        dxp = np.zeros((B, C, H + 2 * self.pad, W + 2 * self.pad), dy.dtype)
        if self.depthwise:
            dw = np.zeros_like(w)
            for i in range(k):
                for j in range(k):
                    win = saved[:, :, i:i + s * Ho:s, j:j + s * Wo:s]
                    dw[:, 0, i, j] = (dy * win).sum(axis=(0, 2, 3))
                    dxp[:, :, i:i + s * Ho:s, j:j + s * Wo:s] += dy * w[None, :, 0, i, j, None, None]
        else:
            O = w.shape[0]
            dyf = dy.transpose(0, 2, 3, 1).reshape(B * Ho * Wo, O)
            dw = (dyf.T @ saved).reshape(w.shape)
            dcols = (dyf @ w.reshape(O, -1)).reshape(B, Ho, Wo, C, k, k).transpose(0, 3, 4, 5, 1, 2)
            for i in range(k):
                for j in range(k):
                    dxp[:, :, i:i + s * Ho:s, j:j + s * Wo:s] += dcols[:, :, i, j]
        grads[f"{self.name}.w"] = dw
        return dxp[:, :, self.pad:self.pad + H, self.pad:self.pad + W]


class BatchNorm:
    EPS = 1e-5
    MOMENTUM = 0.1

    def __init__(self, name, c, dtype=np.float32):
        self.name = name
        self.p = {f"{name}.g": np.ones(c, dtype), f"{name}.b": np.zeros(c, dtype)}
        self.mean, self.var = np.zeros(c, dtype), np.ones(c, dtype)

    def forward(self, x, train):
        if train:
            mu, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
            n = x.size / x.shape[1]
            self.mean = ((1 - self.MOMENTUM) * self.mean + self.MOMENTUM * mu).astype(x.dtype)
            self.var = ((1 - self.MOMENTUM) * self.var + self.MOMENTUM * var * n / (n - 1)).astype(x.dtype)
        else:
            mu, var = self.mean, self.var
        invstd = 1.0 / np.sqrt(var + self.EPS)
        xhat = (x - mu[None, :, None, None]) * invstd[None, :, None, None]
        self.cache = (xhat, invstd)
        return xhat * self.p[f"{self.name}.g"][None, :, None, None] + self.p[f"{self.name}.b"][None, :, None, None]

    def backward(self, dy, grads):
        xhat, invstd = self.cache
        grads[f"{self.name}.g"] = (dy * xhat).sum(axis=(0, 2, 3))
        grads[f"{self.name}.b"] = dy.sum(axis=(0, 2, 3))
        dxhat = dy * self.p[f"{self.name}.g"][None, :, None, None]
        n = dy.size / dy.shape[1]
        return (invstd[None, :, None, None] / n) * (
            n * dxhat - dxhat.sum(axis=(0, 2, 3), keepdims=True)
            - xhat * (dxhat * xhat).sum(axis=(0, 2, 3), keepdims=True))

    def fold(self):
        """(scale, shift) per channel so that BN(x) = scale·x + shift with the running statistics."""
        scale = self.p[f"{self.name}.g"] / np.sqrt(self.var + self.EPS)
        return scale, self.p[f"{self.name}.b"] - self.mean * scale


class Act:
    """ReLU (cap None) or ReLU6 (cap 6), with the low-entropy penalty `weight`·H(a) on its output, where
    H(a) = ‖a‖₁ / (‖a‖₂·√n) is the Hoyer sparsity measure (Hoyer 2004; DeepHoyer, Yang et al., ICLR 2020).
    Unlike an L1 penalty, H is scale invariant, so the BatchNorm that follows cannot undo it by shrinking the
    map: only more exact zeros (and a peakier distribution) lower it — what lowers the entropy of the
    quantized map a static code pays for."""
    weight = 0.0
    # > 0 while quantization-aware training (QAT): outputs are rounded to the 2^bits levels 0, s, …, qcap
    # (s = qcap / (2^bits − 1)) and gradients pass straight through inside [0, qcap] (STE, Bengio et al. 2013).
    bits = 0

    def __init__(self, cap=None):
        self.cap, self.p = cap, {}
        self.qcap = cap  # the clip while quantizing; set from data for ReLU by fit_qat_ranges

    def forward(self, x, train):
        hi = self.qcap if Act.bits else self.cap
        y = np.maximum(x, 0) if hi is None else np.clip(x, 0, hi)
        self.cache = (x > 0) if hi is None else ((x > 0) & (x < hi))
        if Act.bits:
            y = fake_quantize(y, hi / (2 ** Act.bits - 1), 0, 2 ** Act.bits - 1)
        self.y = y
        return y

    def penalty(self):
        return hoyer(self.y)

    def backward(self, dy, grads):
        return (dy + hoyer_gradient(self.y)) * self.cache


def hoyer(y):
    """Act.weight · H(y), H(y) = ‖y‖₁ / (‖y‖₂·√n); 0 for a map the net has not produced (y None)."""
    if y is None or not Act.weight:
        return 0.0
    return Act.weight * float(np.abs(y).sum()) / ((float(np.sqrt((y ** 2).sum())) + 1e-12) * np.sqrt(y.size))


def hoyer_gradient(y):
    """d hoyer(y) / dy (0 without the penalty)."""
    if not Act.weight:
        return 0.0
    l1, l2 = float(np.abs(y).sum()), float(np.sqrt((y ** 2).sum())) + 1e-12
    return Act.weight * (np.sign(y) / l2 - l1 * y / l2 ** 3) / np.sqrt(y.size)


def fake_quantize(x, step, lo, hi):
    """x rounded to the grid step·{lo…hi} (the values a QDQ pair with this scale and zero point 0 yields)."""
    return (np.clip(np.round(x / step), lo, hi) * step).astype(x.dtype)


def mse_clip(values, levels):
    """The clip c (of a few high quantiles of |values|) whose uniform quantization to `levels` steps of c/levels
    has the least squared error: clipping to the max wastes most levels on rare outliers."""
    a = np.abs(values.ravel())
    best = None
    for c in np.quantile(a, [0.99, 0.995, 0.999, 0.9995, 1.0]):
        if c <= 0:
            continue
        e = ((np.minimum(np.round(a / (c / levels)), levels) * (c / levels) - a) ** 2).sum()
        if best is None or e < best[0]:
            best = (e, c)
    return best[1] if best else 1.0


class FakeQuant:
    """Signed QAT quantization of a map without an activation (pre-add conv outputs, linear projections, adds
    without ReLU): levels −2^(b−1)…2^(b−1)−1 of `step`, straight-through inside the range. Identity until
    fit_qat_ranges sets the step. While quantizing, the Hoyer penalty applies to its output too: these signed,
    dense maps are what a static code pays most for."""

    def __init__(self):
        self.p, self.step, self.y = {}, None, None

    def forward(self, x, train):
        self.x = x
        if not Act.bits or self.step is None:
            self.mask = self.y = None
            return x
        lo, hi = -(2 ** (Act.bits - 1)), 2 ** (Act.bits - 1) - 1
        self.mask = (x >= lo * self.step) & (x <= hi * self.step)
        self.y = fake_quantize(x, self.step, lo, hi)
        return self.y

    def penalty(self):
        return hoyer(self.y)

    def backward(self, dy, grads):
        return dy if self.mask is None else (dy + hoyer_gradient(self.y)) * self.mask


class ConvBN:
    """Conv + BatchNorm (+ activation), exported as one Conv with folded bias (+ Relu / Clip)."""

    def __init__(self, name, rng, cin, cout, k, stride=1, depthwise=False, act=None, dtype=np.float32):
        self.name = name
        self.conv = Conv(name, rng, cin, cout, k, stride, depthwise, dtype)
        self.bn = BatchNorm(name + ".bn", cout, dtype)
        self.act = Act(act if act != "relu" else None) if act else None
        self.act_kind = act
        self.fq = None if act else FakeQuant()
        self.layers = [self.conv, self.bn] + ([self.act] if self.act else [self.fq])

    def forward(self, x, train):
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, dy, grads):
        for layer in reversed(self.layers):
            dy = layer.backward(dy, grads)
        return dy


class Residual:
    """y = act(body(x) + skip(x)); skip is identity when None."""

    def __init__(self, body, skip=None, act=None):
        self.body, self.skip, self.act = body, skip, Act(act if act != "relu" else None) if act else None
        self.act_kind = act
        self.fq = None if act else FakeQuant()

    def forward(self, x, train):
        y = x
        for layer in self.body:
            y = layer.forward(y, train)
        y = y + (self.skip.forward(x, train) if self.skip else x)
        return self.act.forward(y, train) if self.act else self.fq.forward(y, train)

    def backward(self, dy, grads):
        dy = self.act.backward(dy, grads) if self.act else self.fq.backward(dy, grads)
        dx = self.skip.backward(dy, grads) if self.skip else dy
        for layer in reversed(self.body):
            dy = layer.backward(dy, grads)
        return dx + dy


class Net:
    def __init__(self, blocks, features, rng, dtype=np.float32):
        self.blocks = blocks
        self.fc_w = (rng.standard_normal((10, features)) * np.sqrt(1.0 / features)).astype(dtype)
        self.fc_b = np.zeros(10, dtype)

    def modules(self):
        """Every parametrized layer, depth first."""
        out = []

        def walk(m):
            if isinstance(m, ConvBN):
                out.extend(m.layers)
            elif isinstance(m, Residual):
                for b in m.body:
                    walk(b)
                if m.skip:
                    walk(m.skip)
                if not isinstance(m, Chain):
                    out.append(m.act if m.act else m.fq)
        for b in self.blocks:
            walk(b)
        return out

    def params(self):
        p = {"fc.w": self.fc_w, "fc.b": self.fc_b}
        for m in self.modules():
            p.update(m.p)
        return p

    def set_param(self, key, value):
        if key == "fc.w":
            self.fc_w = value
        elif key == "fc.b":
            self.fc_b = value
        else:
            for m in self.modules():
                if key in m.p:
                    m.p[key] = value

    def forward(self, x, train):
        for b in self.blocks:
            x = b.forward(x, train)
        self.feat_shape = x.shape
        self.gap = x.mean(axis=(2, 3))
        return self.gap @ self.fc_w.T + self.fc_b

    def penalty(self):
        return sum(m.penalty() for m in self.modules() if isinstance(m, (Act, FakeQuant)))

    def backward(self, dlogits):
        grads = {"fc.w": dlogits.T @ self.gap, "fc.b": dlogits.sum(0)}
        B, C, H, W = self.feat_shape
        dy = np.broadcast_to((dlogits @ self.fc_w)[:, :, None, None] / (H * W), (B, C, H, W))
        for b in reversed(self.blocks):
            dy = b.backward(dy, grads)
        return grads


def resnet(rng, dtype=np.float32):
    def block(name, cin, cout, stride):
        body = [ConvBN(f"{name}.conv1", rng, cin, cout, 3, stride, act="relu", dtype=dtype),
                ConvBN(f"{name}.conv2", rng, cout, cout, 3, dtype=dtype)]
        skip = ConvBN(f"{name}.proj", rng, cin, cout, 1, stride, dtype=dtype) if stride != 1 or cin != cout else None
        return Residual(body, skip, act="relu")
    blocks = [ConvBN("stem", rng, 1, 16, 3, act="relu", dtype=dtype),
              block("b1", 16, 16, 1), block("b2", 16, 32, 2), block("b3", 32, 32, 1)]
    return Net(blocks, 32, rng, dtype)


def mobilenet(rng, dtype=np.float32):
    def inverted(name, cin, cout, expand, stride):
        mid = cin * expand
        body = [ConvBN(f"{name}.expand", rng, cin, mid, 1, act=6.0, dtype=dtype),
                ConvBN(f"{name}.dw", rng, mid, mid, 3, stride, depthwise=True, act=6.0, dtype=dtype),
                ConvBN(f"{name}.project", rng, mid, cout, 1, dtype=dtype)]
        return Residual(body) if stride == 1 and cin == cout else Chain(body)
    blocks = [ConvBN("stem", rng, 1, 16, 3, act=6.0, dtype=dtype),
              inverted("ir1", 16, 16, 3, 1), inverted("ir2", 16, 24, 4, 2), inverted("ir3", 24, 24, 3, 1),
              ConvBN("head", rng, 24, 64, 1, act=6.0, dtype=dtype)]
    return Net(blocks, 64, rng, dtype)


class Chain(Residual):
    """A block without skip: body only (the stride-2 inverted residual)."""

    def forward(self, x, train):
        for layer in self.body:
            x = layer.forward(x, train)
        return x

    def backward(self, dy, grads):
        for layer in reversed(self.body):
            dy = layer.backward(dy, grads)
        return dy


# ---------------------------------------------------------------------------- training

def bn_layers(net):
    return [m for m in net.modules() if isinstance(m, BatchNorm)]


def upsample_matrix(n, size):
    """[size, n] bilinear interpolation (half-pixel centres, edge clamped: ONNX Resize linear, half_pixel)."""
    u = np.zeros((size, n), np.float64)
    for i in range(size):
        src = min(max((i + 0.5) * n / size - 0.5, 0.0), n - 1.0)
        lo = int(np.floor(src))
        hi, f = min(lo + 1, n - 1), src - lo
        u[i, lo] += 1 - f
        u[i, hi] += f
    return u


def upsample(x, size):
    """[B,1,8,8] images to [B,1,size,size] (identity at 8: the default runs exactly as before)."""
    if size == x.shape[-1]:
        return x
    u = upsample_matrix(x.shape[-1], size)
    return np.ascontiguousarray(np.einsum("ik,bckl,jl->bcij", u, x.astype(np.float64), u).astype(np.float32))


def grad_check(make):
    """Finite differences vs backward, float64, train-mode BN, with the L1 penalty on."""
    rng = np.random.default_rng(123)
    net = make(rng, np.float64)
    x, y = rng.standard_normal((3, 1, 8, 8)), rng.integers(0, 10, 3)
    Act.weight = 0.05

    def loss():
        saved = [(b.mean.copy(), b.var.copy()) for b in bn_layers(net)]
        value = softmax_xent(net.forward(x, True), y)[0] + net.penalty()
        for b, (m, v) in zip(bn_layers(net), saved):
            b.mean, b.var = m, v
        return value
    loss()
    _, d = softmax_xent(net.forward(x, True), y)
    grads = net.backward(d)
    worst = 0.0
    for k, v in net.params().items():
        for idx in [tuple(rng.integers(0, s) for s in v.shape) for _ in range(2)]:
            old = v[idx]
            v[idx] = old + 1e-6
            lp = loss()
            v[idx] = old - 1e-6
            lm = loss()
            v[idx] = old
            num = (lp - lm) / 2e-6
            worst = max(worst, abs(num - grads[k][idx]) / max(1e-6, abs(num) + abs(grads[k][idx])))
    Act.weight = 0.0
    assert worst < 1e-3, f"gradient check failed: rel err {worst}"
    return worst


def train(net, x, y, epochs, lr0, sparsity, tag, size=8):
    """Adam with cosine decay; sparsity > 0 adds the low-entropy activation penalty (Act). x holds the 8x8
    images; each batch is augmented at 8x8, then upsampled to size x size."""
    Act.weight = sparsity
    rng = np.random.default_rng(SEED + 1)
    params = net.params()
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v2 = {k: np.zeros_like(v) for k, v in params.items()}
    b1, b2, wd, bs, t = 0.9, 0.999, 1e-4, 32, 0
    steps = epochs * ((len(x) + bs - 1) // bs)
    for ep in range(epochs):
        perm = rng.permutation(len(x))
        tot = pen = 0.0
        for s in range(0, len(x), bs):
            idx = perm[s:s + bs]
            xb = upsample(augment(rng, x[idx]) if ep < epochs - 3 else x[idx], size)
            loss, d = softmax_xent(net.forward(xb, True), y[idx])
            tot += loss * len(idx)
            pen += net.penalty() * len(idx)
            grads = net.backward(d)
            t += 1
            lr = lr0 * 0.5 * (1 + np.cos(np.pi * t / steps))
            for k, p in net.params().items():
                g = grads[k] + (wd * p if k.endswith(".w") else 0)
                m[k] = b1 * m[k] + (1 - b1) * g
                v2[k] = b2 * v2[k] + (1 - b2) * g * g
                mh, vh = m[k] / (1 - b1 ** t), v2[k] / (1 - b2 ** t)
                net.set_param(k, (p - lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32))
        if ep % 4 == 3 or ep == epochs - 1:
            print(f"  {tag} epoch {ep + 1:3d}  loss {tot / len(x):.4f}  sparsity penalty {pen / len(x):.4f}", flush=True)
    Act.weight = 0.0
    # population BN statistics on the un-augmented training set, in eval order
    for b in bn_layers(net):
        b.MOMENTUM = 1.0
    net.forward(upsample(x, size), True)
    for b in bn_layers(net):
        b.MOMENTUM = BatchNorm.MOMENTUM
    return net


# ---------------------------------------------------------------------------- export

class Exporter:
    """The trained net as an ONNX graph (BatchNorm folded). After QAT (Act.bits > 0) ReLUs export as Clip to their
    QAT clip, and `overrides` holds each quantized map's 4-bit QDQ parameters for quantize_static's
    TensorQuantOverrides: uint4 (zero point 0, step clip/15) after activations, int4 (step from FakeQuant) else."""

    def __init__(self):
        self.nodes, self.inits, self.overrides = [], [], {}

    def const(self, name, a):
        self.inits.append(numpy_helper.from_array(np.asarray(a, np.float32), name))
        return name

    def act(self, x, act, name):
        out = f"{name}.act"
        hi = act.qcap if Act.bits else act.cap
        if hi is None:
            self.nodes.append(helper.make_node("Relu", [x], [out], name=out))
        else:
            lo, hi = self.const(f"{name}.min", np.float32(0)), self.const(f"{name}.max", np.float32(hi))
            self.nodes.append(helper.make_node("Clip", [x, lo, hi], [out], name=out))
        if Act.bits:
            self.overrides[out] = [{"quant_type": QuantType.QUInt4, "scale": np.array(act.qcap / (2 ** Act.bits - 1), np.float32),
                                    "zero_point": np.array(0, np.uint8)}]
        return out

    def fake_quant(self, x, fq):
        if Act.bits and fq is not None and fq.step is not None:
            self.overrides[x] = [{"quant_type": QuantType.QInt4, "scale": np.array(fq.step, np.float32), "zero_point": np.array(0, np.int8)}]
        return x

    def conv_bn(self, cb, x):
        scale, shift = cb.bn.fold()
        w = cb.conv.p[f"{cb.name}.w"] * scale[:, None, None, None]
        c = cb.conv
        attrs = dict(kernel_shape=[c.k, c.k], pads=[c.pad] * 4, strides=[c.stride] * 2)
        if c.depthwise:
            attrs["group"] = w.shape[0]
        self.nodes.append(helper.make_node("Conv", [x, self.const(f"{cb.name}.weight", w),
                                                    self.const(f"{cb.name}.bias", shift)],
                                           [cb.name], name=cb.name, **attrs))
        return self.act(cb.name, cb.act, cb.name) if cb.act else self.fake_quant(cb.name, cb.fq)

    def block(self, b, x):
        if isinstance(b, ConvBN):
            return self.conv_bn(b, x)
        y = x
        for layer in b.body:
            y = self.conv_bn(layer, y)
        if isinstance(b, Chain):
            return y
        skip = self.conv_bn(b.skip, x) if b.skip else x
        out = f"{b.body[0].name.rsplit('.', 1)[0]}.add"
        self.nodes.append(helper.make_node("Add", [y, skip], [out], name=out))
        return self.act(out, b.act, out) if b.act else self.fake_quant(out, b.fq)

    def save(self, net, name, path, size=8):
        x = "input"
        for b in net.blocks:
            x = self.block(b, x)
        N = helper.make_node
        self.nodes += [N("GlobalAveragePool", [x], ["gap"], name="gap"),
                       N("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
                       N("Gemm", ["flat", self.const("fc.weight", net.fc_w), self.const("fc.bias", net.fc_b)],
                         ["logits"], name="fc", transB=1)]
        graph = helper.make_graph(self.nodes, name,
                                  [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, size, size])],
                                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
                                  initializer=self.inits)
        model = helper.make_model(graph, producer_name="nibble-train-cat-models",
                                  opset_imports=[helper.make_opsetid("", OPSET_INT4 if Act.bits else OPSET)])
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, path)


class Reader(CalibrationDataReader):
    def __init__(self, x):
        self.items = iter([{"input": x[i:i + 1]} for i in range(len(x))])

    def get_next(self):
        return next(self.items, None)


def quantize(src, dst, calib, overrides=None):
    quantize_static(src, dst, Reader(calib), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    extra_options={"TensorQuantOverrides": overrides} if overrides else None)


def fit_qat_ranges(net, x, bits):
    """Starts QAT: one float forward pass (eval BatchNorm) sets every activation's clip and every FakeQuant's
    step to the MSE-optimal range at `bits` (as LAPQ starts from MSE clipping), then turns quantization on."""
    Act.bits = 0
    net.forward(x, False)
    for m in net.modules():
        if isinstance(m, Act):
            c = mse_clip(m.y[m.y > 0], 2 ** bits - 1)
            m.qcap = c if m.cap is None else min(m.cap, c)
        elif isinstance(m, FakeQuant):
            m.step = mse_clip(m.x, 2 ** (bits - 1) - 1) / (2 ** (bits - 1) - 1)
    Act.bits = bits


def accuracy(path, x, y):
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    if "_q4" in path:
        # ORT has no QLinearConv for 4-bit tensors: run the Q/DQ pairs as written instead of fusing them.
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return float((s.run(None, {"input": x})[0].argmax(1) == y).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "samples", "models"))
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--le-epochs", type=int, default=8)
    ap.add_argument("--sparsity", type=float, default=0.5, help="weight of the Hoyer penalty per activation")
    ap.add_argument("--qat-epochs", type=int, default=8, help="4-bit quantization-aware epochs for the _q4 variant")
    ap.add_argument("--qat-sparsity", type=float, default=1.0, help="weight of the Hoyer penalty during QAT")
    ap.add_argument("--nets", default="digits_resnet,digits_mobilenet")
    ap.add_argument("--variants", default="plain,le,q4", help="which of plain, le, q4 to write (training runs the chain)")
    ap.add_argument("--size", type=int, default=8, help="input side: the 8x8 digits upsampled to size x size (>= 8)")
    args = ap.parse_args()
    assert args.size >= 8, "--size must be at least 8"
    out = lambda n: os.path.join(args.out, n)  # noqa: E731
    xtr, _, ytr, _ = load_data()  # train-demo's split: its test set and calibration batch are reused as written
    xtr = xtr.reshape(-1, 1, 8, 8)
    xte, yte = np.load(out("digits_test_x_img.npy")), np.load(out("digits_test_y.npy"))
    calib = np.load(out("digits_calib_img.npy"))
    prefix = "digits" if args.size == 8 else f"digits{args.size}"
    if args.size != 8:
        xte, calib = upsample(xte, args.size), upsample(calib, args.size)
        np.save(out(f"{prefix}_test_x_img.npy"), xte)
        np.save(out(f"{prefix}_calib_img.npy"), calib)

    nets = {"digits_resnet": resnet, "digits_mobilenet": mobilenet}
    for key in filter(None, args.nets.split(",")):  # --nets "": only the data files (with --size)
        make, t0 = nets[key], time.time()
        name = prefix + key[len("digits"):]
        print(f"{name}: gradient check ok (max rel err {grad_check(make):.1e})", flush=True)
        written = []
        net = train(make(np.random.default_rng(SEED)), xtr, ytr, args.epochs, 3e-3, 0.0, name, args.size)
        if "plain" in args.variants:
            Exporter().save(net, name, out(f"{name}.onnx"), args.size); written.append((name, None))
        net = train(net, xtr, ytr, args.le_epochs, 1e-3, args.sparsity, name + "_le", args.size)
        if "le" in args.variants:
            Exporter().save(net, name + "_le", out(f"{name}_le.onnx"), args.size); written.append((name + "_le", None))
        if "q4" in args.variants:
            # QAT from the low-entropy net: 4-bit activations everywhere, the sparsity penalty kept on.
            fit_qat_ranges(net, upsample(xtr[:512], args.size), 4)
            net = train(net, xtr, ytr, args.qat_epochs, 5e-4, args.qat_sparsity, name + "_q4", args.size)
            ex = Exporter()
            ex.save(net, name + "_q4", out(f"{name}_q4.onnx"), args.size)
            written.append((name + "_q4", ex.overrides))
            Act.bits = 0
        for n, overrides in written:
            quantize(out(f"{n}.onnx"), out(f"{n}.qdq.onnx"), calib, overrides)
            print(f"{n}: onnxruntime test accuracy fp32 {accuracy(out(n + '.onnx'), xte, yte):.4f}, "
                  f"QDQ {accuracy(out(n + '.qdq.onnx'), xte, yte):.4f}", flush=True)
        print(f"{name}: {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
