"""Generated NumPy code: visible, inspectable, deterministic, and sharing work."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet.nn import MLP

SCRIPT = """
import sympy as sp, symnet
from symnet.nn import MLP
net = MLP([4, 5, 3], 'tanh')
R = net.risk()
g = symnet.grad(R, net.params)
k = symnet.compile([R, *g], [net.X, net.labels(), sp.Symbol('lambda'), *net.params])
print(str(g)); print(k.source)
"""


def test_source_and_getsource():
    x, w = sp.symbols("x w")
    k = symnet.compile([symnet.logistic(w * x)], [x, w])
    assert "def kernel(x, w):" in k.source
    assert inspect.getsource(k.fn) == k.source


def test_deterministic_across_processes():
    outs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                           env=env, check=True)
        outs.append(r.stdout)
    assert outs[0] == outs[1] and "delta1" in outs[0]


def test_forward_values_computed_once():
    """CSE across forward and backward: each z and a is computed once."""
    net = MLP([4, 5, 3], "logistic")
    R = net.risk()
    g = symnet.grad(R, net.params)
    k = symnet.compile([R, *g], [net.X, net.labels(), sp.Symbol("lambda"), *net.params])
    src = k.source
    assert src.count("logistic(") == 1
    assert src.count("W1 @ X") == 1
    step = symnet.compile_grad(R, net.params, [net.X, net.labels(), sp.Symbol("lambda"),
                                               *net.params])
    assert "delta1 =" in step.source and "z2 =" in step.source
    assert step.source.count("logistic(") == 1


def test_kernel_matches_numpy_written_by_hand():
    net = MLP([3, 4, 2], "relu")
    R = net.risk(lam=0.0)
    g = symnet.grad(R, net.params)
    k = symnet.compile([R, *g], [net.X, net.labels(), *net.params])
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3, 6))
    y = rng.integers(0, 2, 6)
    W1, b1 = rng.standard_normal((4, 3)), rng.standard_normal((4, 1))
    W2, b2 = rng.standard_normal((2, 4)), rng.standard_normal((2, 1))
    R_v, dW1, db1, dW2, db2 = k(X, y, W1, b1, W2, b2)
    Y = np.eye(2)[:, y]
    z1 = W1 @ X + b1
    a1 = np.maximum(z1, 0)
    z2 = W2 @ a1 + b2
    p = np.exp(z2 - z2.max(0)) / np.exp(z2 - z2.max(0)).sum(0)
    d2 = (p - Y) / 6
    d1 = (W2.T @ d2) * (z1 > 0)
    assert np.isclose(R_v, -np.sum(Y * np.log(p)) / 6, rtol=1e-13)
    for got, want in [(dW2, d2 @ a1.T), (db2, d2.sum(1, keepdims=True)), (dW1, d1 @ X.T),
                      (db1, d1.sum(1, keepdims=True))]:
        assert np.allclose(got, want, rtol=1e-12, atol=1e-15)


def test_extreme_logits_finite():
    """Softmax + CE, logistic + BCE and softplus at logits of +-800."""
    for output, loss, act in [("softmax", "cross_entropy", "softplus"),
                              ("logistic", "binary_cross_entropy", "softplus")]:
        net = MLP([2, 3, 2], act, output=output)
        R = net.risk(loss, 0.0)
        g = symnet.grad(R, net.params)
        k = symnet.compile([R, *g], [net.X, net.labels(loss), *net.params])
        X = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0]])
        Y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        W1 = np.full((3, 2), 400.0)
        W2 = np.array([[800.0, -800.0, 800.0], [-800.0, 800.0, -800.0]])
        outs = k(X, Y, W1, np.zeros((3, 1)), W2, np.zeros((2, 1)))
        assert all(np.all(np.isfinite(o)) for o in outs), (output, outs)
        assert outs[0] > 100  # confidently wrong predictions have a large, finite loss


def test_scalar_formula_over_points():
    x1, x2, t = sp.symbols("x1 x2 t")
    w, c = sp.symbols("w c")
    L = (symnet.logistic(w * x1 + c * x2) - t) ** 2
    grads = symnet.grad(L, [w, c])
    k = symnet.compile(list(grads), [x1, x2, t, w, c])
    pts = np.linspace(-2, 2, 7)
    dw, dc = k(pts, pts[::-1], 0.5, 0.3, -0.2)
    s = 1 / (1 + np.exp(-(0.3 * pts - 0.2 * pts[::-1])))
    assert np.allclose(dw, 2 * (s - 0.5) * s * (1 - s) * pts, rtol=1e-13)
    assert dw.shape == (7,) and dc.shape == (7,)


def test_numpy_float32_kernels_stay_float32():
    """No float64 constant or helper silently widens a float32 kernel."""
    net = MLP([5, 4, 3], "relu")
    R = net.risk(lam=0.01)
    k = symnet.compile_grad(R, net.params, [net.X, net.labels(), *net.params], dtype="float32")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 4)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[:, [0, 2, 1, 1]]
    params = [rng.standard_normal(tuple(int(d) for d in p.shape)).astype(np.float32)
              for p in net.params]
    raw = k.fn(X, Y, *params, 4)  # the generated function itself, m = 4
    assert [np.asarray(r).dtype for r in raw] == [np.float32] * len(raw)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_loss_and_gradient_share_one_logsumexp(backend):
    """The loss's log_softmax and the gradient's softmax come from one column pass;
    the printed gradient keeps softmax, and the values match hand-written NumPy at
    +-800 logits."""
    from symnet.train import training_kernel

    net = MLP([3, 4], "linear", output="softmax")
    k = training_kernel(net, lam=0.0, backend=backend)
    ops = [s.op for s in k.program.steps]
    assert ops.count("logsumexp") == 1 and "softmax" not in ops and "log_softmax" not in ops
    assert "softmax(z1)" in str(symnet.grad(net.risk(lam=0.0), net.params))
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 3)) * 400
    b = np.zeros((4, 1))
    X = np.sign(rng.standard_normal((3, 5)))
    y = rng.integers(0, 4, 5)
    loss, dW, db = k(X, y, W, b)
    z = W @ X + b
    lse = z.max(axis=0) + np.log(np.exp(z - z.max(axis=0)).sum(axis=0))
    Y = np.eye(4)[y].T
    np.testing.assert_allclose(loss, np.mean(lse - (z * Y).sum(axis=0)), rtol=1e-12)
    delta = (np.exp(z - lse) - Y) / 5
    np.testing.assert_allclose(dW, delta @ X.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, delta.sum(axis=1, keepdims=True), rtol=1e-10, atol=1e-12)
    assert np.isfinite(loss) and np.isfinite(dW).all()
