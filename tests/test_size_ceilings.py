"""Size and depth ceilings: 300 scalar symbols in one body, degree-300
polynomials, a 200-layer network (derived, compiled and trained at the
default recursion limit) and deeply nested expressions."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import sympy as sp
from netcase import flatten_reference, random_problem, rel_err
from reference import risk_and_grads

import symnet
from symnet import serialize
from symnet.nn import MLP
from symnet.train import fit


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_three_hundred_scalar_symbols(backend):
    xs = sp.symbols("x0:300")
    e = sum(symnet.logistic(x) * x for x in xs) + sp.Mul(*xs[:5])
    v = np.linspace(-1, 1, 300)
    k = symnet.compile_grad(e, list(xs), list(xs), backend=backend)
    out = k(*v)
    s = 1 / (1 + np.exp(-v))
    want = np.sum(s * v) + np.prod(v[:5])
    grad = s + v * s * (1 - s)
    grad[:5] += np.prod(v[:5]) / v[:5]
    assert abs(float(out[0]) - want) <= 1e-13 * abs(want)
    np.testing.assert_allclose([float(o) for o in out[1:]], grad, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_polynomial_of_degree_300(backend):
    x = sp.Symbol("x")
    e = sum(sp.Rational(1, k + 1) * x ** k for k in range(301))
    k = symnet.compile_grad(e, [x], [x], backend=backend)
    pts = np.array([-0.9, -0.3, 0.2, 0.8])
    value, grad = k(pts)
    ks = np.arange(301)
    np.testing.assert_allclose(value, [np.sum(p ** ks / (ks + 1)) for p in pts], rtol=1e-12)
    np.testing.assert_allclose(grad, [np.sum(ks[1:] * p ** (ks[1:] - 1) / (ks[1:] + 1))
                                      for p in pts], rtol=1e-11)


# ------------------------------------------------------------ depth

DEPTH = 200


@pytest.fixture(scope="module")
def deep_net():
    """A 200-layer tanh MLP, its risk and a random problem (the reference's layers)."""
    assert sys.getrecursionlimit() <= 1000, "the depth tests must run at the default limit"
    net = MLP([3] + [4] * (DEPTH - 1) + [2], "tanh", output="softmax")
    values, layers, X, Y = random_problem(net, "cross_entropy", 5, np.random.default_rng(7))
    return net, net.risk(lam=1e-3), values, layers, X, Y


def test_a_200_layer_gradient_derives_at_the_default_recursion_limit(deep_net):
    net, R, *_ = deep_net
    grads = symnet.grad(R, net.params)
    assert len(grads) == 2 * DEPTH
    # dR/db1 reaches through every layer: its formula names W200. (SymPy's
    # own traversals recurse, so walk the formula here with a stack.)
    seen, stack, ids = set(), [grads[1]], set()
    while stack:
        node = stack.pop()
        if id(node) not in ids:
            ids.add(id(node))
            seen.add(node) if isinstance(node, sp.MatrixSymbol) else stack.extend(node.args)
    assert sp.MatrixSymbol("W200", 2, 4) in seen
    assert sp.MatrixSymbol("W1", 4, 3) in seen


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_200_layer_step_compiles_and_matches_the_reference(deep_net, backend):
    net, R, values, layers, X, Y = deep_net
    k = symnet.compile_grad(R, net.params, [net.X, net.labels(), *net.params],
                            backend=backend)
    outs = k(X, Y, *[values[p] for p in net.params])
    R_ref, g_ref = risk_and_grads(layers, X, Y, "cross_entropy", 1e-3)
    assert rel_err(outs[0], R_ref) < 1e-12
    for got, want in zip(outs[1:], flatten_reference(net, g_ref), strict=True):
        assert rel_err(got, want) < 1e-10


def test_one_epoch_of_a_200_layer_network_trains_identically_on_both_backends(deep_net):
    net = deep_net[0]
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 3))
    y = (X[:, 0] > 0).astype(int)
    runs = {b: fit(net, X, y, epochs=1, batch_size=4, backend=b, progress=False, seed=1)
            for b in ("numpy", "llvm")}
    loss = {b: r.history.train_loss[-1] for b, r in runs.items()}
    assert np.isfinite(loss["numpy"])
    assert abs(loss["numpy"] - loss["llvm"]) <= 1e-10 * abs(loss["numpy"])
    for name, p in runs["numpy"].params.items():
        np.testing.assert_allclose(runs["llvm"].params[name], p, rtol=1e-9, atol=1e-12)


def test_a_deep_expression_round_trips_through_the_serializer():
    # 5000 nested applications: the writer and reader walk without recursion.
    # (Unevaluated, since SymPy's own assumption queries recurse; hashed as
    # built, since SymPy's hash recurses too.)
    x = sp.Symbol("x")
    e = x
    for k in range(5000):
        e = (sp.Add(sp.tanh(e, evaluate=False), k, evaluate=False) if k % 2
             else symnet.logistic(e, evaluate=False))
        hash(e)
    text = serialize.dumps(e)
    back = serialize.loads(text)
    assert serialize.dumps(back) == text
    assert hash(back) == hash(e)
    node = back
    for _ in range(4999):
        node = node.args[0].args[0] if isinstance(node, sp.Add) else node.args[0]
    assert node.args[0] == x
