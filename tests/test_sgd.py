"""SGD epochs: one native call (LLVM) or a Python loop (NumPy), same trajectory."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symnet.data import load_digits, reference_split
from symnet.nn import MLP
from symnet.sgd import compile_sgd
from symnet.train import fit, init_params

LAM = sp.Symbol("lambda")


def _setup(sizes, act, batch_size, track_loss, seed=0):
    net = MLP(sizes, act)
    R = net.risk(lam=LAM)
    sgds = {be: compile_sgd(R, net.params, net.X, net.labels(), [LAM], backend=be,
                            track_loss=track_loss) for be in ("numpy", "llvm")}
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((sizes[0], 23))
    y = rng.integers(0, sizes[-1], 23)
    start = [np.ascontiguousarray(v) for v in init_params(net, seed).values()]
    return net, sgds, X, y, start


@pytest.mark.parametrize("batch_size", [1, 4, 7, 23, 50])
@pytest.mark.parametrize("act", ["logistic", "relu", "maxout"])
@pytest.mark.parametrize(("sizes", "track_loss"), [([5, 6, 3], True), ([5, 6, 3], False),
                                                  ([7, 6, 5, 4], False)])
def test_llvm_epoch_equals_numpy_loop(batch_size, act, sizes, track_loss):
    net, sgds, X, y, start = _setup(sizes, act, batch_size, track_loss=track_loss)
    results = {}
    for be, sgd in sgds.items():
        params = [p.copy() for p in start]
        losses = []
        for e in range(3):
            order = np.random.default_rng(e).permutation(X.shape[1])
            losses.append(sgd.epoch(X, y, order, batch_size, 0.2, params, extra=[1e-3]))
        results[be] = (losses, params)
    (l1, p1), (l2, p2) = results["numpy"], results["llvm"]
    for a, b in zip(p1, p2, strict=True):
        assert np.allclose(a, b, rtol=1e-10, atol=1e-13)
    assert not np.allclose(p1[0], start[0])  # it trained
    if track_loss:
        assert np.allclose(l1, l2, rtol=1e-12)
        assert l1[-1] < l1[0]
    else:
        assert np.isnan(l1).all() and np.isnan(l2).all()


def test_updates_are_in_place_and_match_a_manual_step():
    net, sgds, X, y, start = _setup([4, 3, 2], "tanh", 1, track_loss=False)
    from symnet.api import compile_grad

    step = compile_grad(net.risk(lam=LAM), net.params, [net.X, net.labels(), LAM, *net.params])
    want = [p.copy() for p in start]
    order = np.array([5, 2, 9])
    for i in order:
        grads = step(X[:, [i]], y[[i]], 0.01, *want)[1:]
        want = [p - 0.3 * g for p, g in zip(want, grads, strict=True)]
    for be, sgd in sgds.items():
        params = [p.copy() for p in start]
        ids = [id(p) for p in params]
        loss = sgd.epoch(X, y, order, 1, 0.3, params, extra=[0.01])
        assert np.isnan(loss)
        assert [id(p) for p in params] == ids
        for a, b in zip(params, want, strict=True):
            assert np.allclose(a, b, rtol=1e-12, atol=1e-15), be


def test_parameters_must_be_updatable():
    net, sgds, X, y, start = _setup([4, 3, 2], "tanh", 1, track_loss=False)
    bad = [p.copy() for p in start]
    bad[0] = np.asfortranarray(np.ones((3, 4)))[:, :]
    bad[0] = bad[0].T.T if bad[0].flags.c_contiguous else bad[0]
    for sgd in sgds.values():
        with pytest.raises(TypeError, match="parameter W1: updated in place"):
            sgd.epoch(X, y, np.arange(4), 1, 0.1, [np.ones((4, 3)).T, *start[1:]],
                      extra=[0.0])
        with pytest.raises(TypeError, match="parameter b1"):
            sgd.epoch(X, y, np.arange(4), 1, 0.1,
                      [start[0], start[1].astype(np.float32), *start[2:]], extra=[0.0])
        with pytest.raises(ValueError, match="order must index samples"):
            sgd.epoch(X, y, np.array([0, 99]), 1, 0.1, [p.copy() for p in start],
                      extra=[0.0])


def test_fit_same_trajectory_both_backends():
    """Algorithm 4.1 on the digits: NumPy and LLVM give the same parameters
    after 3 epochs from the same seed (relative 1e-9)."""
    X, y = load_digits()
    X_tr, y_tr, X_va, y_va = reference_split(X, y)
    out = {}
    for be in ("numpy", "llvm"):
        net = MLP([64, 32, 10], "logistic")
        res = fit(net, X_tr, y_tr, X_val=X_va, y_val=y_va, epochs=3, patience=None,
                  backend=be, progress=False)
        out[be] = res
    for name, a in out["numpy"].params.items():
        b = out["llvm"].params[name]
        assert np.max(np.abs(a - b)) <= 1e-9 * np.max(np.abs(a)), name
    assert out["numpy"].history.val_error == out["llvm"].history.val_error


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blas_sized_products_folded_into_updates(dtype):
    # Products above the BLAS threshold (here 40 x 32 x 48) go straight into
    # the parameters' in-place updates (one GEMM with beta = 1 - alpha*lambda).
    from symnet.config import BLAS_THRESHOLD

    assert 40 * 32 * 48 >= BLAS_THRESHOLD
    net = MLP([48, 40, 5], "relu")
    R = net.risk(lam=LAM)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((48, 100))
    y = rng.integers(0, 5, 100)
    start = [np.ascontiguousarray(v, dtype=dtype) for v in init_params(net, 1).values()]
    results = {}
    for be in ("numpy", "llvm"):
        sgd = compile_sgd(R, net.params, net.X, net.labels(), [LAM], backend=be, dtype=dtype,
                          track_loss=False)
        params = [p.copy() for p in start]
        for e in range(2):
            sgd.epoch(X, y, np.random.default_rng(e).permutation(100), 32, 0.05, params,
                      extra=[1e-2])
        results[be] = params
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    for a, b, s in zip(results["numpy"], results["llvm"], start, strict=True):
        assert np.allclose(a, b, **tol)
        assert not np.allclose(a, s)


def test_compile_for_generates_the_batch_size_once():
    net = MLP([4, 3, 2], "tanh")
    sgd = compile_sgd(net.risk(lam=0.0), net.params, net.X, net.labels(), backend="llvm")
    assert not sgd.native._specs  # nothing generated before an epoch or compile_for
    sgd.compile_for(5)
    assert list(sgd.native._specs) == [("batch", 5)]
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, 12)), rng.integers(0, 2, 12)
    params = [np.ascontiguousarray(v) for v in init_params(net, 0).values()]
    sgd.epoch(X, y, np.arange(12), 5, 0.1, params)
    assert list(sgd.native._specs) == [("batch", 5)]  # the epoch reused it
    with pytest.raises(ValueError, match="batch_size"):
        sgd.compile_for(0)


def _offset(a: np.ndarray, shift: int) -> np.ndarray:
    """A C-contiguous copy of ``a`` starting ``shift`` elements into a buffer
    (shift 1: not on a 64-byte line, so the epoch works on an aligned copy)."""
    raw = np.empty(a.size + 32, dtype=a.dtype)
    start = (-raw.ctypes.data % 64) // a.itemsize + shift
    out = raw[start:start + a.size].reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_repeated_epochs_on_prepared_data_match_fresh_calls(dtype):
    """Epochs after the first on one prepared data set reuse their argument
    binding and their call's block (workspace and aligned working copies of
    unaligned parameters): the trajectory equals the NumPy backend's, for
    aligned and unaligned parameters, and wrong arguments are still refused."""
    tol = dict(rtol=1e-10, atol=1e-13) if dtype == "float64" else dict(rtol=2e-4, atol=1e-6)
    net, _, X, y, start = _setup([6, 5, 3], "logistic", 1, track_loss=True)
    R = net.risk(lam=LAM)
    sgds = {be: compile_sgd(R, net.params, net.X, net.labels(), [LAM], backend=be,
                            dtype=dtype, track_loss=True) for be in ("numpy", "llvm")}
    got = {}
    for be, sgd in sgds.items():
        data = sgd.prepare(X, y)
        for shift in (0, 1):
            params = [_offset(p.astype(dtype), shift) for p in start]
            for e in range(4):
                order = np.random.default_rng(e).permutation(X.shape[1])
                batch = (1, 3)[e % 2]
                loss = sgd.epoch(data, None, order, batch, 0.3, params, extra=[1e-3])
                assert np.isfinite(loss)
            got[be, shift] = [p.copy() for p in params]
    for shift in (0, 1):
        for a, b in zip(got["numpy", shift], got["llvm", shift], strict=True):
            assert np.allclose(a, b, **tol)
        assert not np.allclose(got["llvm", shift][0], start[0])
    for a, b in zip(got["llvm", 0], got["llvm", 1], strict=True):
        assert np.array_equal(a, b)  # an aligned working copy changes no bit
    sgd = sgds["llvm"]
    data = sgd.prepare(X, y)
    params = [p.astype(dtype) for p in start]
    sgd.epoch(data, None, np.arange(5), 1, 0.1, params, extra=[0.0])
    with pytest.raises(Exception, match="W1"):
        sgd.epoch(data, None, np.arange(5), 1, 0.1,
                  [np.ones((5, 7), dtype=dtype), *params[1:]], extra=[0.0])
    with pytest.raises(TypeError, match="alpha"):
        sgd.epoch(data, None, np.arange(5), 1, "fast", params, extra=[0.0])
    with pytest.raises(Exception, match="lambda"):
        sgd.epoch(data, None, np.arange(5), 1, 0.1, params, extra=[np.ones(3)])


def test_concurrent_epochs_of_one_kernel_do_not_share_a_block():
    """Two threads running epochs of one compiled SGD at once, each on its own
    parameters: each ends where it would alone."""
    from concurrent.futures import ThreadPoolExecutor

    net, sgds, _, _, start = _setup([6, 5, 3], "tanh", 1, track_loss=False)
    sgd = sgds["llvm"]
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((6, 4000)), rng.integers(0, 3, 4000)
    data = sgd.prepare(X, y)
    orders = [np.random.default_rng(e).permutation(X.shape[1]) for e in range(20)]

    def run(lam: float, shift: int) -> list[np.ndarray]:
        params = [_offset(p, shift) for p in start]
        for order in orders:
            sgd.epoch(data, None, order, 1, 0.05, params, extra=[lam])
        return params

    alone = [run(1e-3, 1), run(3e-2, 1)]
    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda a: run(*a), [(1e-3, 1), (3e-2, 1)]))
    for want, have in zip(alone, both, strict=True):
        for a, b in zip(want, have, strict=True):
            assert np.array_equal(a, b)
    assert not np.allclose(alone[0][0], alone[1][0])
