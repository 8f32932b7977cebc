"""Shared test helper: one MLP through symnet and through the hand-written reference."""

from __future__ import annotations

import numpy as np
import sympy as sp
from reference import Layer, risk_and_grads

import symnet
from symnet.nn import MLP

PAIRS = [("softmax", "cross_entropy"), ("logistic", "binary_cross_entropy"),
         ("linear", "squared_error"), ("logistic", "squared_error")]

_KERNELS: dict = {}


def kernel_for(sizes, acts, output, loss, backend="numpy"):
    key = (tuple(sizes), tuple(acts), output, loss, backend)
    if key not in _KERNELS:
        net = MLP(sizes, acts, output=output)
        lam = sp.Symbol("lambda")
        R = net.risk(loss, lam)
        grads = symnet.grad(R, net.params)
        Y = net.labels(loss)
        k = symnet.compile([R, *grads], [net.X, Y, lam, *net.params], backend=backend)
        _KERNELS[key] = (net, k)
    return _KERNELS[key]


def random_problem(net: MLP, loss: str, m: int, rng: np.random.Generator):
    """Parameters (by symbol), reference layers, X and Y for a random problem."""
    values = {}
    layers = []
    for layer in net.layers:
        Ws = [rng.standard_normal((int(W.shape[0]), int(W.shape[1]))) / np.sqrt(int(W.shape[1]))
              for W in layer.weights]
        bs = [0.3 * rng.standard_normal((int(b.shape[0]), 1)) for b in layer.biases]
        values.update(zip(layer.weights, Ws, strict=True))
        values.update(zip(layer.biases, bs, strict=True))
        gamma = None
        if layer.gamma is not None:
            gamma = rng.uniform(0.05, 0.3, (int(layer.gamma.shape[0]), 1))
            values[layer.gamma] = gamma
        elif layer.activation == "leaky_relu":
            gamma = 0.01
        if layer.activation == "maxout":
            layers.append(Layer("maxout", Ws, bs, None))
        else:
            layers.append(Layer(layer.activation, Ws[0], bs[0], gamma))
    n0, nL = int(net.sizes[0]), int(net.sizes[-1])
    X = rng.standard_normal((n0, m))
    if loss == "cross_entropy":
        Y = np.eye(nL)[:, rng.integers(0, nL, m)]
    elif loss == "binary_cross_entropy":
        Y = rng.integers(0, 2, (nL, m)).astype(float)
    else:
        Y = rng.standard_normal((nL, m))
    return values, layers, X, Y


def flatten_reference(net: MLP, grads) -> list[np.ndarray]:
    out = []
    for layer, g in zip(net.layers, grads, strict=True):
        Ws = g["W"] if isinstance(g["W"], list) else [g["W"]]
        bs = g["b"] if isinstance(g["b"], list) else [g["b"]]
        for W, b in zip(Ws, bs, strict=True):
            out += [W, b]
        if layer.gamma is not None:
            out.append(g["gamma"])
    return out


def rel_err(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(1e-12, np.max(np.abs(a) + np.abs(b))))


def compare(sizes, acts, output, loss, m, lam, seed, backend="numpy"):
    """Max relative difference of risk and gradients, symnet vs reference."""
    net, k = kernel_for(sizes, acts, output, loss, backend)
    rng = np.random.default_rng(seed)
    values, layers, X, Y = random_problem(net, loss, m, rng)
    outs = k(X, Y, lam, *[values[p] for p in net.params])
    R_ref, g_ref = risk_and_grads(layers, X, Y, loss, lam)
    errs = [rel_err(outs[0], R_ref)]
    errs += [rel_err(a, b) for a, b in zip(outs[1:], flatten_reference(net, g_ref), strict=True)]
    return max(errs), net, k, values, X, Y
