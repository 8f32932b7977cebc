"""The NumPy backend's generated SGD epoch and its single-ufunc runtime forms."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet import registry
from symnet.backends.numpy import runtime
from symnet.nn import MLP
from symnet.registry import npforms  # noqa: F401  (registry.npforms below)
from symnet.runtime import bind_arguments
from symnet.sgd import compile_sgd
from symnet.train import EVAL_BLOCK, _classes, _eval_blocks, _eval_kernel, _evaluate, init_params

LAM = sp.Symbol("lambda")


#: The NumPy stable forms by name (the registry rows' runtime functions).
npb = SimpleNamespace(**runtime.namespace(), FEW=registry.npforms.FEW)


def _step_loop(sgd, X, y, order, batch_size, alpha, params, extra=()):
    """The epoch as SGD.epoch ran it before the generated epoch: the compiled
    step called per batch from Python, gathered by fancy indexing, copied back."""
    data = sgd.prepare(X, y)
    arrays, dims, _ = bind_arguments(
        sgd.inputs, (data.X[:, :1], data.Y[:, :1], alpha, *extra, *params), {}, sgd.dtype)
    others = arrays[2:len(arrays) - len(params)]
    total = 0.0
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        dims[sgd.batch] = len(idx)
        with np.errstate(all="ignore"):
            outs = sgd.step(data.X[:, idx], data.Y[:, idx], *others, *params,
                            *[dims[d] for d in sgd.program.dims])
        if sgd.track_loss:
            total += float(np.reshape(outs[0], ())) * len(idx)
            outs = outs[1:]
        for p, v in zip(params, outs, strict=True):
            p[...] = v
    return total / max(len(order), 1) if sgd.track_loss else float("nan")


def _close(a, b, dtype):
    rtol = 1e-12 if dtype == "float64" else 1e-5
    scale = max(float(np.max(np.abs(b))), 1e-30)
    return float(np.max(np.abs(np.asarray(a, np.float64) - b))) <= rtol * scale


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("track_loss", [True, False])
@pytest.mark.parametrize("batch_size", [1, 4, 7])
@pytest.mark.parametrize("act", ["logistic", "softplus", "tanh"])
def test_generated_epoch_equals_the_step_loop(act, batch_size, track_loss, dtype):
    # 23 samples: batches of 4 and 7 end with a partial batch (3 and 2 samples).
    net = MLP([5, 6, 3], act, output="softmax")
    sgd = compile_sgd(net.risk(lam=LAM), net.params, net.X, net.labels(), [LAM],
                      dtype=dtype, track_loss=track_loss)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, 23)).astype(dtype)
    y = rng.integers(0, 3, 23)
    start = [np.ascontiguousarray(v) for v in init_params(net, 3, dtype).values()]
    new, old = [p.copy() for p in start], [p.copy() for p in start]
    for e in range(3):
        order = np.random.default_rng(e).permutation(23)
        got = sgd.epoch(X, y, order, batch_size, 0.3, new, extra=[1e-3])
        want = _step_loop(sgd, X, y, order, batch_size, 0.3, old, extra=[1e-3])
        if track_loss:
            # One-sample steps regroup the update (lower.specialize.hoist_steps):
            # the same arithmetic up to rounding, not the same bits in float32.
            assert abs(got - want) <= (1e-12 if dtype == "float64" else 1e-5) * abs(want)
        else:
            assert np.isnan(got) and np.isnan(want)
    for a, b in zip(new, old, strict=True):
        assert a.dtype == np.dtype(dtype)
        assert _close(a, b, dtype)
    assert not np.allclose(new[0], start[0])  # it trained


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_size", [1, 5])
def test_generated_epoch_matches_llvm(batch_size, dtype):
    net = MLP([4, 5, 3], "logistic", output="softmax")
    R = net.risk(lam=LAM)
    sgds = [compile_sgd(R, net.params, net.X, net.labels(), [LAM], backend=be, dtype=dtype)
            for be in ("numpy", "llvm")]
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, 19)).astype(dtype)
    y = rng.integers(0, 3, 19)
    start = [np.ascontiguousarray(v) for v in init_params(net, 0, dtype).values()]
    runs = []
    for sgd in sgds:
        ps = [p.copy() for p in start]
        losses = [sgd.epoch(X, y, np.random.default_rng(e).permutation(19), batch_size, 0.2, ps,
                            extra=[1e-3]) for e in range(3)]
        runs.append((losses, ps))
    (l1, p1), (l2, p2) = runs
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert np.allclose(l1, l2, rtol=tol)
    for a, b in zip(p1, p2, strict=True):
        assert _close(a, b, dtype)


def test_epoch_source_is_readable_and_in_place():
    net = MLP([64, 32, 10], "logistic", output="softmax")
    sgd = compile_sgd(net.risk(lam=1e-4), net.params, net.X, net.labels(), track_loss=False)
    src = sgd.source
    assert src.startswith("def sgd_epoch(")
    assert inspect.getsource(sgd.run_epoch) == src
    assert src.count("np.errstate") == 1
    assert "for i in order.tolist():" in src and ".take(idx, axis=1)" in src
    for p in ("W1", "b1", "W2", "b2"):
        # in place in both loops (one-sample steps scale and add: see hoist_steps)
        assert src.count(f"{p} -= ") + src.count(f"{p} += ") == 2
    assert "[...] =" not in src
    assert "[:, idx]" not in src
    # The per-sample loop sums over the batch axis without a reduction.
    one = src.split("else:")[0]
    assert "np.add.reduce" not in one and "a1 = logistic(z1)" in one
    assert "def sgd_step(" in sgd.step_source
    again = compile_sgd(net.risk(lam=1e-4), net.params, net.X, net.labels(), track_loss=False)
    assert again.source == src  # deterministic


def test_an_update_reading_another_parameter_is_not_done_in_place_first():
    # dR/dA reads B and dR/dB reads A: B's new value must use A from before the step.
    m = sp.Symbol("m", integer=True, positive=True)
    X, Y = sp.MatrixSymbol("X", 3, m), sp.MatrixSymbol("Y", 2, m)
    A, B = sp.MatrixSymbol("A", 2, 3), sp.MatrixSymbol("B", 2, 3)
    E = A * X - Y
    R = (symnet.matsum(sp.HadamardProduct(E, E)) / (2 * m)
         + symnet.matsum(sp.HadamardProduct(A, B)) / 2
         + symnet.matsum(sp.HadamardProduct(B, B)) / 2)
    sgd = compile_sgd(R, [A, B], X, Y)
    # The plan runs A's update first; B's, which reads A, comes after it, so
    # only B (read by nothing later) may be overwritten in place.
    assert "B -= " in sgd.source and "A -= " not in sgd.source
    rng = np.random.default_rng(4)
    Xv, Yv = rng.standard_normal((3, 9)), rng.standard_normal((2, 9))
    start = [rng.standard_normal((2, 3)) for _ in range(2)]
    for batch_size in (1, 4):
        new, old = [p.copy() for p in start], [p.copy() for p in start]
        order = rng.permutation(9)
        got = sgd.epoch(Xv, Yv, order, batch_size, 0.1, new)
        want = _step_loop(sgd, Xv, Yv, order, batch_size, 0.1, old)
        assert abs(got - want) <= 1e-12 * abs(want)
        for a, b in zip(new, old, strict=True):
            assert np.allclose(a, b, rtol=1e-12, atol=1e-15)


def test_empty_order_leaves_parameters_alone():
    net = MLP([3, 2], "logistic", output="softmax")
    sgd = compile_sgd(net.risk(lam=0.0), net.params, net.X, net.labels())
    ps = [np.ascontiguousarray(v) for v in init_params(net, 0).values()]
    before = [p.copy() for p in ps]
    X, y = np.ones((3, 4)), np.array([0, 1, 0, 1])
    assert sgd.epoch(X, y, np.zeros(0, dtype=np.int64), 1, 0.1, ps) == 0.0
    assert all(np.array_equal(a, b) for a, b in zip(ps, before, strict=True))


# ------------------------------------------------------------ runtime forms


def _old_logistic(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _old_softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _old_logsumexp(z):
    m = np.max(z, axis=0, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return m + np.log(np.sum(np.exp(z - m), axis=0, keepdims=True))


def _old_log_softmax(z):
    # From the shifted values: z - (m + log s) would round log s to the spacing of m.
    m = np.max(z, axis=0, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return (z - m) - np.log(np.sum(np.exp(z - m), axis=0, keepdims=True))


def _old_softmax(z):
    m = np.max(z, axis=0, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(z - m)
    return e / np.sum(e, axis=0, keepdims=True)


def _points(n, dtype):
    """Extremes first (±800 overflow any naive exp), then a wide random spread."""
    edge = [-800.0, 800.0, -100.0, 100.0, -30.0, 30.0, -1.0, 0.0, -0.0, 1e-8, 40.0, -40.0]
    rng = np.random.default_rng(n)
    x = np.concatenate([edge, rng.uniform(-60, 60, n - len(edge))])
    return x.reshape(-1, 1).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [32, npb.FEW, 4 * npb.FEW + 1])  # both sides of the switch
@pytest.mark.parametrize("new, old", [(npb.logistic, _old_logistic),
                                      (npb.softplus, _old_softplus)])
def test_elementwise_forms_agree_with_the_sign_split_formulas(new, old, n, dtype):
    x = _points(n, dtype)
    with np.errstate(all="ignore"):
        got, want = new(x), old(x)
    assert got.dtype == dtype and got.shape == x.shape
    assert np.all(np.isfinite(got))
    eps, tiny = np.finfo(dtype).eps, np.finfo(dtype).tiny
    # A few ulps; below the smallest normal number both are zero or subnormal.
    np.testing.assert_allclose(got, want, rtol=8 * eps, atol=tiny)
    assert got[0, 0] == 0.0 and got[1, 0] == (1.0 if new is npb.logistic else 800.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cols", [1, 300])
def test_column_forms_agree_with_the_where_guarded_formulas(cols, dtype):
    rng = np.random.default_rng(cols)
    z = (rng.standard_normal((7, cols)) * 300).astype(dtype)
    z[:, 0] = [800, -800, 0, 1, 2, 3, 799]
    if cols > 1:
        z[:, 1] = -np.inf
        z[2, 2], z[5, 2] = np.inf, 750  # exp(750) overflows too: NaN there, as in LLVM
        z[3, 3] = np.nan
        z[:, 4] = -800
    eps = np.finfo(dtype).eps
    # The whole matrix, and each of the first columns alone (the one-column path).
    for j, part in [(0, z)] + [(j, z[:, [j]]) for j in range(min(cols, 6))]:
        with np.errstate(all="ignore"):
            pairs = [(npb.softmax(part), _old_softmax(part)),
                     (npb.logsumexp(part), _old_logsumexp(part)),
                     (npb.log_softmax(part), _old_log_softmax(part))]
        for got, want in pairs:
            assert got.dtype == dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=4 * eps, atol=0, equal_nan=True)
            if j == 0:
                assert np.all(np.isfinite(got[:, 0]))  # ±800 never overflows
        if j == 0:
            assert np.isclose(pairs[0][0][:, 0].sum(), 1.0)


def test_hard_forms_agree_with_clip():
    x = np.array([[-np.inf], [-5.0], [-2.0], [-0.0], [0.0], [0.3], [2.0], [7.0], [np.inf],
                  [np.nan]], dtype=np.float32)
    for got, want in [(npb.hard_logistic(x), np.clip(0.25 * x + 0.5, 0.0, 1.0)),
                      (npb.hard_tanh(x), np.clip(x, -1.0, 1.0))]:
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))


def test_batch_sum_shortcut_is_bitwise_the_reduction():
    # The per-sample loop writes "x + 0.0" for a sum over a batch of one.
    x = np.array([[-0.0], [0.0], [np.inf], [-np.inf], [np.nan], [-3.5], [1e-310]])
    got, want = x + 0.0, np.add.reduce(x, axis=1, keepdims=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------ fit's evaluation


@pytest.mark.parametrize("n", [EVAL_BLOCK - 1, 3 * EVAL_BLOCK + 17])
def test_blocked_evaluation_equals_one_call(n):
    net = MLP([6, 5, 4], "logistic", output="softmax")
    kernel = _eval_kernel(net, "cross_entropy", "numpy", np.float64)
    rng = np.random.default_rng(n)
    X = rng.standard_normal((6, n))
    T = np.eye(4)[:, rng.integers(0, 4, n)]
    params = [np.ascontiguousarray(v) for v in init_params(net, 1).values()]
    blocks = _eval_blocks(X, T, "numpy")
    assert len(blocks) == -(-n // EVAL_BLOCK)
    assert sum(b[0].shape[1] for b in blocks) == n
    loss, error = _evaluate(kernel, blocks, _classes(T), params)
    want_loss, out = kernel(X, T, *params)
    assert abs(loss - float(want_loss)) <= 1e-13 * abs(float(want_loss))
    assert error == float(np.mean(_classes(out) != _classes(T)))
    assert len(_eval_blocks(X, T, "llvm")) == 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_relu_and_its_derivative_are_bitwise_the_where_forms(dtype):
    # relu: x where x > 0, NaN kept, 0 otherwise (-inf included); relu' is
    # the 0/1 mask, bit for bit the three-pass where() form of heaviside.
    x = np.array([-np.inf, -800, -1, -0.0, 0.0, 1e-300, 1, 800, np.inf, np.nan],
                 dtype=dtype).reshape(2, 5)
    got = npb.relu(x)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, np.where(np.isnan(x) | (x > 0), x, 0.0))
    one = np.ones_like(x)
    for h0 in (0.0, 0.5, 1.0):
        got = npb.heaviside(x, h0)
        want = np.where(x > 0, one, np.where(x < 0, 0.0 * one, h0 * one))
        assert got.dtype == np.dtype(dtype)
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_relu_at_the_edges_is_the_same_in_both_backends(backend):
    x = sp.Symbol("x")
    k = symnet.compile([symnet.relu(x), sp.diff(symnet.relu(x), x)], [x], backend=backend)
    vals = np.array([-np.inf, -1.0, -0.0, 0.0, 2.0, np.inf, np.nan])
    relu, drelu = k(vals)
    np.testing.assert_array_equal(relu, [0.0, 0.0, 0.0, 0.0, 2.0, np.inf, np.nan])
    np.testing.assert_array_equal(drelu, [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0])
