"""Loop-invariant hoisting (symnet.passes.hoist, symnet.lower.specialize.hoist_steps):
the rewritten code computes the same numbers as the bodies it replaces, on both
backends and dtypes, in one process over one on-disk cache."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from reference import sgd_epoch

from symnet.api import build_kernel
from symnet.graph import VARS, Graph
from symnet.lower import plan_kernel
from symnet.nn import MLP
from symnet.passes.hoist import hoist, lift
from symnet.schedule import schedule
from symnet.sgd import compile_sgd

v0, v1, v2, v3, v4 = VARS[:5]

#: Bodies over (F, r, c, s, G): F, G full matrices, r a column (one value per row),
#: c a row (one value per column), s a 1 x 1 value; with the function computing them.
BODIES = [
    (v0 - v3 * (v1 * v2 + v0 / 10), lambda F, r, c, s, G: F - s * (r * c + F / 10)),
    ((v0 - v1) * sp.exp(v2) / sp.sqrt(v3 + 1) + v4 * v1 * v3,
     lambda F, r, c, s, G: (F - r) * np.exp(c) / np.sqrt(s + 1) + G * r * s),
    (sp.tanh(v0 * v1 + v2) * v3 * v1 + v0 * sp.log(1 + v3 * v3) - v4 * (v1 + v2),
     lambda F, r, c, s, G: np.tanh(F * r + c) * s * r + F * np.log(1 + s * s) - G * (r + c)),
]


def _graph(body, rows: int, cols: int):
    shapes = {"F": (rows, cols), "r": (rows, 1), "c": (1, cols), "s": (1, 1), "G": (rows, cols)}
    syms = [sp.MatrixSymbol(n, *sh) for n, sh in shapes.items()]
    g = Graph()
    leaves = [g.leaf(s) for s in syms]
    g.outputs = [g.ew(body, leaves, (rows, cols))]
    return g, syms


def test_lift_splits_a_body_by_the_axis_its_parts_vary_along():
    kinds = {v0: "full", v1: "row", v2: "col", v3: "one"}
    lifted, found = lift(v0 - v3 * (v1 * v2 + v0 / 10), kinds)
    parts = {str(e) for e in found}
    assert parts == {"1 - _3/10", "-_1*_3"}  # once per step, once per row
    # one multiply and one multiply-add per entry remain
    assert sp.count_ops(lifted) == 3
    # nothing to gain: no per-row or per-column argument, or nothing invariant
    assert lift(v0 * v3 + v4, {v0: "full", v3: "one", v4: "full"}) is None
    assert lift(v0 * v1, {v0: "full", v1: "row"}) is None


@pytest.mark.parametrize("k", range(len(BODIES)))
def test_hoisted_graph_keeps_its_value(k):
    body, fn = BODIES[k]
    g, _ = _graph(body, 3, 5)
    h = hoist(g)
    assert len(h.nodes) > len(g.nodes)  # parts of the body became nodes of their own
    big = [n for n in h.nodes if n.op == "ew" and n.shape == (3, 5)]
    assert len(big) == 1 and sp.count_ops(big[0].attr) < sp.count_ops(body)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_hoisted_kernels_match_the_bodies(backend, dtype, tmp_path, monkeypatch):
    # One cache for every shape and body, as a user's later calls meet it.
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(7)
    for k, (body, fn) in enumerate(BODIES):
        for rows, cols in [(1 + int(rng.integers(1, 13)), 1 + int(rng.integers(1, 13)))
                           for _ in range(3)] + [(9, 17)]:
            g, syms = _graph(body, rows, cols)
            prog = schedule(g, syms)
            # a per-row, per-column or per-step part became a step of its own
            assert any(s.shape in ((rows, 1), (1, cols), (1, 1)) for s in prog.steps)
            out = sp.MatrixSymbol("out", rows, cols)
            kern = build_kernel(prog, syms, [out], backend, dtype, f"h{k}")
            args = [rng.uniform(0.2, 1.5, size=s.shape).astype(dtype) for s in syms]
            got = kern(*args)[0]
            want = fn(*[a.astype(np.float64) for a in args])
            tol = 1e-12 if dtype == "float64" else 2e-5
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_one_sample_epochs_hoist_the_update_and_match_hand_written_sgd(backend, dtype, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(3)
    lam, alpha = 1e-3, 0.2
    for sizes in ([5, 7, 3], [12, 9, 4], [64, 32, 10], [3, 17, 2]):
        net = MLP(sizes, "logistic", output="softmax")
        sgd = compile_sgd(net.risk(lam=lam), net.params, net.X, net.labels(), backend=backend,
                          dtype=dtype, track_loss=False)
        n = 40
        X = rng.standard_normal((sizes[0], n)).astype(dtype)
        y = rng.integers(0, sizes[-1], n)
        params = [np.ascontiguousarray(0.3 * rng.standard_normal(
            tuple(int(d) for d in p.shape))).astype(dtype) for p in net.params]
        start = [p.copy() for p in params]
        order = rng.permutation(n)
        sgd.epoch(X, y, order, 1, alpha, params)
        want = sgd_epoch(start, X, y, order, alpha, lam)
        tol = 1e-11 if dtype == "float64" else 1e-4
        for got, ref in zip(params, want, strict=True):
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
    # The one-sample plan computes the update's coefficients once per row and
    # step and still overwrites the weights in place.
    kp = plan_kernel(sgd.program, const_dims={sgd.batch: 1},
                     inplace=[("W1_new", "W1"), ("W2_new", "W2")])
    hoisted = [s.out for s in kp.steps if s.out.startswith("W1_new_h")]
    assert len(hoisted) == 2 and kp.inplace.get("W1_new") == "W1"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_chunked_calls_keep_every_bit(dtype, tmp_path, monkeypatch):
    # A step calling its groups from chunks (module.CHUNK_CALLS, here forced
    # small) passes its own hoisted buffers through a table: same bits as
    # the step making every call itself, and hand-written SGD's numbers.
    from symnet import programs
    from symnet.backends.llvm import jit, module

    rng = np.random.default_rng(5)
    net = MLP([6, 9, 4], "tanh", output="softmax")
    X = rng.standard_normal((6, 30)).astype(dtype)
    y = rng.integers(0, 4, 30)
    start = [np.ascontiguousarray(0.3 * rng.standard_normal(
        tuple(int(d) for d in p.shape))).astype(dtype) for p in net.params]
    order = rng.permutation(30)
    got = {}
    for chunk in (module.CHUNK_CALLS, 3):
        monkeypatch.setattr(module, "CHUNK_CALLS", chunk)
        monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path / str(chunk)))
        for memo in (programs._PROGRAMS, jit._MEMORY, jit._LOADED):
            memo.clear()  # nothing from the other compile: code of its own
        sgd = compile_sgd(net.risk(lam=1e-3), net.params, net.X, net.labels(),
                          backend="llvm", dtype=dtype, track_loss=False)
        params = [p.copy() for p in start]
        sgd.epoch(X, y, order, 1, 0.2, params)
        got[chunk] = params
        assert (".calls1" in sgd.source) == (chunk == 3)
        assert ('%"table" = alloca' in sgd.source) == (chunk == 3)
    want = sgd_epoch(start, X, y, order, 0.2, 1e-3, act="tanh")
    tol = 1e-11 if dtype == "float64" else 1e-4
    for a, b, ref in zip(got[module.CHUNK_CALLS], got[3], want, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(b, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_hoisted_update_is_finite_at_extreme_inputs(backend):
    net = MLP([6, 5, 3], "logistic", output="softmax")
    sgd = compile_sgd(net.risk(lam=1e-4), net.params, net.X, net.labels(), backend=backend,
                      track_loss=True)
    rng = np.random.default_rng(0)
    X = 800.0 * np.sign(rng.standard_normal((6, 10)))
    y = rng.integers(0, 3, 10)
    params = [np.ascontiguousarray(rng.standard_normal(tuple(int(d) for d in p.shape)))
              for p in net.params]
    loss = sgd.epoch(X, y, np.arange(10), 1, 0.1, params)
    assert np.isfinite(loss)
    assert all(np.isfinite(p).all() for p in params)


def _tied_autoencoder(rows: int, cols: int, lam: float):
    from symnet import ops

    m = sp.Symbol("m", integer=True, positive=True)
    X, Y = sp.MatrixSymbol("X", cols, m), sp.MatrixSymbol("Y", cols, m)
    W, b, c = (sp.MatrixSymbol("W", rows, cols), sp.MatrixSymbol("b", rows, 1),
               sp.MatrixSymbol("c", cols, 1))
    ones = ops.ones(1, m)
    code = ops.logistic(W * X + b * ones)
    recon = W.T * code + c * ones
    risk = (ops.matsum(sp.HadamardPower(recon - Y, 2)) / (2 * m)
            + sp.Float(lam / 2) * ops.matsum(sp.HadamardPower(W, 2)))
    return risk, [W, b, c], X, Y


def _manual_autoencoder(params, X, order, alpha, lam):
    W, b, c = (p.astype(np.float64).copy() for p in params)
    for i in order:
        x = X[:, i:i + 1].astype(np.float64)
        code = 1 / (1 + np.exp(-(W @ x + b)))
        e = W.T @ code + c - x
        d = (W @ e) * code * (1 - code)
        W -= alpha * (code @ e.T + d @ x.T + lam * W)
        b -= alpha * d
        c -= alpha * e
    return W, b, c


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_two_outer_products_and_a_penalty_in_one_update(backend, dtype, tmp_path, monkeypatch):
    # A tied autoencoder's weight gets two rank-one terms per sample (encoder and
    # decoder) plus its penalty: every vector argument of the hoisted update must
    # still broadcast along its own axis (a batch of one is not a literal 1).
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(5)
    lam, alpha = 1e-2, 0.05
    for rows, cols in [(4, 6), (16, 64), (5, 9), (9, 5)]:
        risk, params, X, Y = _tied_autoencoder(rows, cols, lam)
        sgd = compile_sgd(risk, params, X, Y, backend=backend, dtype=dtype, track_loss=False)
        n = 30
        data = rng.standard_normal((cols, n)).astype(dtype)
        start = [(0.3 * rng.standard_normal(tuple(int(d) for d in p.shape))).astype(dtype)
                 for p in params]
        got = [np.ascontiguousarray(p.copy()) for p in start]
        order = rng.permutation(n)
        sgd.epoch(sgd.prepare(data, data), None, order, 1, alpha, got)
        want = _manual_autoencoder(start, data, order, alpha, lam)
        tol = 1e-11 if dtype == "float64" else 1e-4
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
