#!/usr/bin/env python3
"""Train the two demo models on scikit-learn's bundled 8x8 digits and export them to ONNX.

    python3 scripts/train-demo.py [--out samples/models] [--epochs 60]

Writes into samples/models/:
  digits_mlp.onnx        [N,64]      -> Gemm 64->128 Relu -> Gemm 128->64 Relu -> Gemm 64->10 (logits)
  digits_cnn.onnx        [N,1,8,8]   -> Conv3x3 16 p1 (no bias) + BatchNormalization + Relu
                                        -> Conv3x3 32 s2 p1 + Relu -> Conv3x3 32 p1 + Relu
                                        -> GlobalAveragePool -> Flatten -> Gemm 32->10 (logits)
  digits_test_x.npy      float32 [360,64]    held-out test set, pixels / 16 (in [0,1])
  digits_test_x_img.npy  float32 [360,1,8,8] same, as images
  digits_test_y.npy      int64   [360]       labels
  digits_calib.npy       float32 [128,64]    calibration samples from the training set
  digits_calib_img.npy   float32 [128,1,8,8]

The MLP is trained with sklearn's MLPClassifier (Adam) and its weights exported by hand;
the CNN is trained with a hand-written numpy implementation (im2col conv, batch-norm in
training mode with running statistics, Adam). Everything is seeded; runs in well under
two minutes on one CPU core. Accuracies are re-measured with ONNX Runtime (CPU) at the end.

Requires: numpy, scikit-learn, onnx, onnxruntime.
"""
import argparse
import os
import time
import warnings

# Single-threaded BLAS: deterministic summation order and no oversubscription on small machines.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

IR_VERSION = 8
OPSET = 13
SEED = 0


# ---------------------------------------------------------------------------- data

def load_data():
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)          # [1797,64] in [0,1]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=360, stratify=y, random_state=SEED)
    return xtr, xte, ytr, yte


# ---------------------------------------------------------------------------- MLP

def train_mlp(xtr, ytr):
    clf = MLPClassifier(hidden_layer_sizes=(128, 64), activation="relu", solver="adam",
                        alpha=1e-4, batch_size=64, learning_rate_init=1e-3, max_iter=300,
                        random_state=SEED, tol=1e-6, n_iter_no_change=30)
    with warnings.catch_warnings():
        # a fixed epoch budget is intended; sklearn warns when it is used up
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(xtr, ytr)
    return clf


def export_mlp(clf, path):
    inits, nodes = [], []
    h = "input"
    n_layers = len(clf.coefs_)
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        wn, bn = f"fc{i}.weight", f"fc{i}.bias"
        # store [out,in] and use transB=1, like a PyTorch nn.Linear export
        inits.append(numpy_helper.from_array(np.ascontiguousarray(w.T).astype(np.float32), wn))
        inits.append(numpy_helper.from_array(b.astype(np.float32), bn))
        out = "logits" if i == n_layers - 1 else f"fc{i}"
        nodes.append(helper.make_node("Gemm", [h, wn, bn], [out], name=f"fc{i}", transB=1))
        h = out
        if i != n_layers - 1:
            nodes.append(helper.make_node("Relu", [h], [f"relu{i}"], name=f"relu{i}"))
            h = f"relu{i}"
    graph = helper.make_graph(
        nodes, "digits_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits)
    save_model(graph, path)


# ---------------------------------------------------------------------------- CNN (numpy)

def conv_forward(x, w, b, stride, pad):
    """x [B,C,H,W], w [O,C,k,k] -> y [B,O,Ho,Wo], cache."""
    B, C, H, W = x.shape
    O, _, k, _ = w.shape
    Ho = (H + 2 * pad - k) // stride + 1
    Wo = (W + 2 * pad - k) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((B, C, k, k, Ho, Wo), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride]
    cols = cols.reshape(B, C * k * k, Ho * Wo).transpose(0, 2, 1).reshape(B * Ho * Wo, C * k * k)
    y = cols @ w.reshape(O, -1).T
    if b is not None:
        y = y + b
    y = y.reshape(B, Ho, Wo, O).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(y), (x.shape, cols, stride, pad, k, Ho, Wo)


def conv_backward(dy, w, cache):
    (B, C, H, W), cols, stride, pad, k, Ho, Wo = cache
    O = w.shape[0]
    dyf = dy.transpose(0, 2, 3, 1).reshape(B * Ho * Wo, O)
    dw = (dyf.T @ cols).reshape(w.shape)
    db = dyf.sum(0)
    dcols = (dyf @ w.reshape(O, -1)).reshape(B, Ho, Wo, C, k, k).transpose(0, 3, 4, 5, 1, 2)
    dxp = np.zeros((B, C, H + 2 * pad, W + 2 * pad), dtype=dy.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + stride * Ho:stride, j:j + stride * Wo:stride] += dcols[:, :, i, j]
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, db


class CNN:
    EPS = 1e-5
    MOMENTUM = 0.1

    def __init__(self, rng, dtype=np.float32):
        def he(shape):
            fan_in = int(np.prod(shape[1:]))
            return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
        self.p = {
            "conv1.w": he((16, 1, 3, 3)),
            "bn1.g": np.ones(16, dtype), "bn1.b": np.zeros(16, dtype),
            "conv2.w": he((32, 16, 3, 3)), "conv2.b": np.zeros(32, dtype),
            "conv3.w": he((32, 32, 3, 3)), "conv3.b": np.zeros(32, dtype),
            "fc.w": (rng.standard_normal((10, 32)) * np.sqrt(1.0 / 32)).astype(dtype),
            "fc.b": np.zeros(10, dtype),
        }
        self.running_mean = np.zeros(16, dtype)
        self.running_var = np.ones(16, dtype)

    def forward(self, x, train):
        p, c = self.p, {}
        h, c["conv1"] = conv_forward(x, p["conv1.w"], None, 1, 1)
        if train:
            mu = h.mean(axis=(0, 2, 3))
            var = h.var(axis=(0, 2, 3))
            n = h.size / h.shape[1]
            self.running_mean = (1 - self.MOMENTUM) * self.running_mean + self.MOMENTUM * mu
            self.running_var = ((1 - self.MOMENTUM) * self.running_var
                                + self.MOMENTUM * var * n / (n - 1))
        else:
            mu, var = self.running_mean, self.running_var
        invstd = 1.0 / np.sqrt(var + self.EPS)
        xhat = (h - mu[None, :, None, None]) * invstd[None, :, None, None]
        c["bn"] = (xhat, invstd)
        h = xhat * p["bn1.g"][None, :, None, None] + p["bn1.b"][None, :, None, None]
        c["relu1"] = h > 0
        h = h * c["relu1"]
        h, c["conv2"] = conv_forward(h, p["conv2.w"], p["conv2.b"], 2, 1)
        c["relu2"] = h > 0
        h = h * c["relu2"]
        h, c["conv3"] = conv_forward(h, p["conv3.w"], p["conv3.b"], 1, 1)
        c["relu3"] = h > 0
        h = h * c["relu3"]
        c["gap_shape"] = h.shape
        g = h.mean(axis=(2, 3))
        c["gap"] = g
        return g @ p["fc.w"].T + p["fc.b"], c

    def backward(self, dlogits, c):
        p, gr = self.p, {}
        gr["fc.w"] = dlogits.T @ c["gap"]
        gr["fc.b"] = dlogits.sum(0)
        dg = dlogits @ p["fc.w"]
        B, C, H, W = c["gap_shape"]
        dh = np.broadcast_to(dg[:, :, None, None] / (H * W), (B, C, H, W)) * c["relu3"]
        dh, gr["conv3.w"], gr["conv3.b"] = conv_backward(dh, p["conv3.w"], c["conv3"])
        dh = dh * c["relu2"]
        dh, gr["conv2.w"], gr["conv2.b"] = conv_backward(dh, p["conv2.w"], c["conv2"])
        dh = dh * c["relu1"]
        xhat, invstd = c["bn"]
        gr["bn1.g"] = (dh * xhat).sum(axis=(0, 2, 3))
        gr["bn1.b"] = dh.sum(axis=(0, 2, 3))
        dxhat = dh * p["bn1.g"][None, :, None, None]
        n = dh.size / dh.shape[1]
        dh = (invstd[None, :, None, None] / n) * (
            n * dxhat - dxhat.sum(axis=(0, 2, 3), keepdims=True)
            - xhat * (dxhat * xhat).sum(axis=(0, 2, 3), keepdims=True))
        _, gr["conv1.w"], _ = conv_backward(dh, p["conv1.w"], c["conv1"])
        return gr


def softmax_xent(logits, y):
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    prob = e / e.sum(1, keepdims=True)
    loss = -np.log(prob[np.arange(len(y)), y] + 1e-12).mean()
    d = prob
    d[np.arange(len(y)), y] -= 1
    return loss, d / len(y)


def grad_check():
    """Finite-difference check of the numpy CNN in float64 (train-mode BN)."""
    rng = np.random.default_rng(123)
    net = CNN(rng, dtype=np.float64)
    for k in net.p:
        net.p[k] = net.p[k] + rng.standard_normal(net.p[k].shape) * 0.1
    x = rng.standard_normal((4, 1, 8, 8))
    y = rng.integers(0, 10, 4)

    def loss_of():
        saved = (net.running_mean.copy(), net.running_var.copy())
        lg, _ = net.forward(x, True)
        net.running_mean, net.running_var = saved
        return softmax_xent(lg, y)[0]

    saved = (net.running_mean.copy(), net.running_var.copy())
    lg, c = net.forward(x, True)
    net.running_mean, net.running_var = saved
    _, d = softmax_xent(lg, y)
    gr = net.backward(d, c)
    worst = 0.0
    for k, v in net.p.items():
        for idx in [tuple(rng.integers(0, s) for s in v.shape) for _ in range(4)]:
            old = v[idx]
            v[idx] = old + 1e-6
            lp = loss_of()
            v[idx] = old - 1e-6
            lm = loss_of()
            v[idx] = old
            num = (lp - lm) / 2e-6
            worst = max(worst, abs(num - gr[k][idx]) / max(1e-8, abs(num) + abs(gr[k][idx])))
    assert worst < 1e-4, f"gradient check failed: rel err {worst}"
    return worst


def augment(rng, x):
    """Random +-1 pixel shifts (zero fill)."""
    out = np.zeros_like(x)
    for i in range(len(x)):
        dy, dx = rng.integers(-1, 2, 2)
        src = x[i, 0, max(0, -dy):8 - max(0, dy), max(0, -dx):8 - max(0, dx)]
        out[i, 0, max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
    return out


def train_cnn(xtr, ytr, epochs):
    rng = np.random.default_rng(SEED)
    net = CNN(rng)
    m = {k: np.zeros_like(v) for k, v in net.p.items()}
    v2 = {k: np.zeros_like(v) for k, v in net.p.items()}
    b1, b2, lr0, wd = 0.9, 0.999, 3e-3, 1e-4
    bs, t = 32, 0
    n = len(xtr)
    steps = epochs * ((n + bs - 1) // bs)
    for ep in range(epochs):
        perm = rng.permutation(n)
        tot = 0.0
        for s in range(0, n, bs):
            idx = perm[s:s + bs]
            xb = augment(rng, xtr[idx]) if ep < epochs - 5 else xtr[idx]
            logits, c = net.forward(xb, True)
            loss, d = softmax_xent(logits, ytr[idx])
            tot += loss * len(idx)
            gr = net.backward(d, c)
            t += 1
            lr = lr0 * 0.5 * (1 + np.cos(np.pi * t / steps))
            for k in net.p:
                g = gr[k] + (wd * net.p[k] if k.endswith(".w") else 0)
                m[k] = b1 * m[k] + (1 - b1) * g
                v2[k] = b2 * v2[k] + (1 - b2) * g * g
                mh = m[k] / (1 - b1 ** t)
                vh = v2[k] / (1 - b2 ** t)
                net.p[k] = (net.p[k] - lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
        if ep % 10 == 9 or ep == epochs - 1:
            print(f"  cnn epoch {ep + 1:3d}  loss {tot / n:.4f}")
    # re-estimate BN running statistics on the un-augmented training set (exact population stats)
    h, _ = conv_forward(xtr, net.p["conv1.w"], None, 1, 1)
    net.running_mean = h.mean(axis=(0, 2, 3)).astype(np.float32)
    net.running_var = h.var(axis=(0, 2, 3)).astype(np.float32)
    return net


def export_cnn(net, path):
    p = net.p
    f = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    inits = [numpy_helper.from_array(f(a), n) for n, a in (
        ("conv1.weight", p["conv1.w"]),
        ("bn1.weight", p["bn1.g"]), ("bn1.bias", p["bn1.b"]),
        ("bn1.running_mean", net.running_mean), ("bn1.running_var", net.running_var),
        ("conv2.weight", p["conv2.w"]), ("conv2.bias", p["conv2.b"]),
        ("conv3.weight", p["conv3.w"]), ("conv3.bias", p["conv3.b"]),
        ("fc.weight", p["fc.w"]), ("fc.bias", p["fc.b"]))]
    N = helper.make_node
    nodes = [
        N("Conv", ["input", "conv1.weight"], ["conv1"], name="conv1",
          kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        N("BatchNormalization", ["conv1", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                 "bn1.running_var"], ["bn1"], name="bn1", epsilon=CNN.EPS),
        N("Relu", ["bn1"], ["relu1"], name="relu1"),
        N("Conv", ["relu1", "conv2.weight", "conv2.bias"], ["conv2"], name="conv2",
          kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
        N("Relu", ["conv2"], ["relu2"], name="relu2"),
        N("Conv", ["relu2", "conv3.weight", "conv3.bias"], ["conv3"], name="conv3",
          kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        N("Relu", ["conv3"], ["relu3"], name="relu3"),
        N("GlobalAveragePool", ["relu3"], ["gap"], name="gap"),
        N("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
        N("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits)
    save_model(graph, path)


# ---------------------------------------------------------------------------- common

def save_model(graph, path):
    m = helper.make_model(graph, producer_name="nibble-train-demo",
                          opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


def ort_logits(path, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "samples", "models"))
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    out = lambda n: os.path.join(args.out, n)  # noqa: E731

    xtr, xte, ytr, yte = load_data()
    print(f"digits: train {len(xtr)}, test {len(xte)}")
    calib = xtr[np.random.default_rng(SEED).choice(len(xtr), 128, replace=False)]
    np.save(out("digits_test_x.npy"), xte)
    np.save(out("digits_test_x_img.npy"), xte.reshape(-1, 1, 8, 8))
    np.save(out("digits_test_y.npy"), yte)
    np.save(out("digits_calib.npy"), calib)
    np.save(out("digits_calib_img.npy"), calib.reshape(-1, 1, 8, 8))

    t0 = time.time()
    clf = train_mlp(xtr, ytr)
    print(f"mlp: sklearn test acc {clf.score(xte, yte):.4f} ({clf.n_iter_} epochs, "
          f"{time.time() - t0:.1f}s)")
    export_mlp(clf, out("digits_mlp.onnx"))

    t0 = time.time()
    print(f"cnn: gradient check ok (max rel err {grad_check():.2e})")
    net = train_cnn(xtr.reshape(-1, 1, 8, 8), ytr, args.epochs)
    np_acc = (net.forward(xte.reshape(-1, 1, 8, 8), False)[0].argmax(1) == yte).mean()
    print(f"cnn: numpy test acc {np_acc:.4f} ({time.time() - t0:.1f}s)")
    export_cnn(net, out("digits_cnn.onnx"))

    acc_mlp = (ort_logits(out("digits_mlp.onnx"), xte).argmax(1) == yte).mean()
    acc_cnn = (ort_logits(out("digits_cnn.onnx"), xte.reshape(-1, 1, 8, 8)).argmax(1) == yte).mean()
    print(f"onnxruntime {ort.__version__} fp32 test accuracy ({len(yte)} samples): "
          f"digits_mlp {acc_mlp:.4f}  digits_cnn {acc_cnn:.4f}")


if __name__ == "__main__":
    main()
