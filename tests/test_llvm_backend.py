"""LLVM backend: same numbers as the NumPy backend, vector code, safe boundary."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netcase import PAIRS, compare, kernel_for, random_problem, rel_err

import symnet
from symnet.nn import MLP

HIDDEN = ["logistic", "tanh", "hard_logistic", "hard_tanh", "relu", "leaky_relu", "prelu",
          "softplus", "maxout"]


def _both(sizes, acts, output, loss, m, lam, seed, dtype="float64"):
    net, kn = kernel_for(sizes, acts, output, loss, "numpy")
    _, kl = kernel_for(sizes, acts, output, loss, "llvm")
    rng = np.random.default_rng(seed)
    values, _, X, Y = random_problem(net, loss, m, rng)
    args = [X, Y, lam, *[values[p] for p in net.params]]
    return kn(*args), kl(*args)


@pytest.mark.parametrize("act", HIDDEN)
@pytest.mark.parametrize("output,loss", PAIRS)
@pytest.mark.parametrize("m", [1, 5])
def test_llvm_equals_numpy(act, output, loss, m):
    a, b = _both([4, 5, 3], [act], output, loss, m, 0.1, seed=3)
    for x, y in zip(a, b, strict=True):
        assert rel_err(x, y) <= 1e-12


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_llvm_deep(depth):
    acts = [HIDDEN[(depth + i) % len(HIDDEN)] for i in range(depth)]
    a, b = _both([3] + [6] * depth + [4], acts, "softmax", "cross_entropy", 7, 0.05, seed=depth)
    for x, y in zip(a, b, strict=True):
        assert rel_err(x, y) <= 1e-12


@pytest.mark.parametrize("acts", [["tanh"], ["relu", "logistic", "softplus"]])
def test_deep_step_calls_its_groups_from_chunks(acts):
    # Past CHUNK_CALLS group calls the entry function calls chunks of them.
    depth = 24
    acts = [acts[i % len(acts)] for i in range(depth)]
    err, net, k, *_ = compare([3] + [5] * depth + [4], acts, "softmax", "cross_entropy", 6,
                              0.01, seed=depth, backend="llvm")
    assert err <= 1e-10
    assert ".calls1" in k.llvm_ir


def test_float32_close_to_float64():
    net = MLP([6, 8, 3], "tanh")
    R = net.risk(lam=0.01)
    ins = [net.X, net.labels(), *net.params]
    k64 = symnet.compile_grad(R, net.params, ins, backend="llvm")
    k32 = symnet.compile_grad(R, net.params, ins, backend="llvm", dtype="float32")
    rng = np.random.default_rng(1)
    args = [rng.standard_normal((6, 9)), rng.integers(0, 3, 9)]
    args += [0.5 * rng.standard_normal(tuple(int(d) for d in p.shape)) for p in net.params]
    for x, y in zip(k64(*args), k32(*args), strict=True):
        assert np.asarray(y).dtype == np.float32
        assert rel_err(x, y) <= 1e-5


def test_large_products_use_blas_and_agree():
    net = MLP([64, 96, 10], "relu")
    R = net.risk(lam=0.0)
    ins = [net.X, net.labels(), *net.params]
    kn = symnet.compile_grad(R, net.params, ins)
    kl = symnet.compile_grad(R, net.params, ins, backend="llvm")
    assert "symnet_dgemm" in kl.fn.llvm_ir
    rng = np.random.default_rng(0)
    args = [rng.standard_normal((64, 100)), rng.integers(0, 10, 100)]
    args += [rng.standard_normal(tuple(int(d) for d in p.shape)) / 8 for p in net.params]
    for x, y in zip(kn(*args), kl(*args), strict=True):
        assert rel_err(x, y) <= 1e-12


def test_elementwise_chain_is_vectorized():
    x, w = sp.symbols("x w")
    k = symnet.compile([sp.tanh(symnet.logistic(w * x) * x) + symnet.softplus(x)], [x, w],
                       backend="llvm")
    pts = np.linspace(-900, 900, 1001)
    k(pts, 0.7)  # the point-wise specialization is compiled on first use
    opt = k.fn.llvm_ir_optimized
    assert "<4 x double>" in opt or "<8 x double>" in opt
    assert "call double @exp" not in opt
    want = symnet.compile([sp.tanh(symnet.logistic(w * x) * x) + symnet.softplus(x)],
                          [x, w])(pts, 0.7)[0]
    got = k(pts, 0.7)[0]
    assert np.allclose(got, want, rtol=1e-13, atol=0)


def test_scalar_formula_over_points_all_partials():
    """W3 shape: 17 partials of a tanh/logistic formula at many points, one loop."""
    x1, x2, t = sp.symbols("x1 x2 t")
    w = sp.symbols("w1:9")
    c = sp.symbols("c1:5")
    v = sp.symbols("v1:5")
    d = sp.Symbol("d")
    h = [sp.tanh(w[2 * j] * x1 + w[2 * j + 1] * x2 + c[j]) for j in range(4)]
    L = (symnet.logistic(sum(v[j] * h[j] for j in range(4)) + d) - t) ** 2
    params = [*w, *c, *v, d]
    grads = symnet.grad(L, params)
    kn = symnet.compile(list(grads), [x1, x2, t, *params])
    kl = symnet.compile(list(grads), [x1, x2, t, *params], backend="llvm")
    rng = np.random.default_rng(0)
    pts = [rng.standard_normal(1000) for _ in range(3)]
    pv = list(rng.standard_normal(len(params)))
    for a, b in zip(kn(*pts, *pv), kl(*pts, *pv), strict=True):
        assert a.shape == (1000,) and rel_err(a, b) <= 1e-12
    # scalars only also work (a different specialization)
    a = kn(0.1, 0.2, 0.3, *pv)
    b = kl(0.1, 0.2, 0.3, *pv)
    assert all(rel_err(x, y) <= 1e-12 for x, y in zip(a, b, strict=True))


def test_inspection_artifacts():
    x = sp.Symbol("x")
    k = symnet.compile([symnet.logistic(x)], [x], backend="llvm")
    assert "define" in k.fn.llvm_ir and "define" in k.fn.llvm_ir_optimized
    assert ".text" in k.fn.asm or "ret" in k.fn.asm
    assert k.source == k.fn.llvm_ir


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(act=st.sampled_from(HIDDEN), pair=st.sampled_from(PAIRS),
       hidden=st.lists(st.integers(1, 5), min_size=1, max_size=2),
       n_in=st.integers(1, 4), n_out=st.integers(2, 3), m=st.integers(1, 6),
       seed=st.integers(0, 1000))
def test_property_llvm_equals_numpy(act, pair, hidden, n_in, n_out, m, seed):
    a, b = _both([n_in, *hidden, n_out], [act] * len(hidden), *pair, m, 0.2, seed)
    for x, y in zip(a, b, strict=True):
        assert rel_err(x, y) <= 1e-12


def _child_evaluates(k, pts, want, conn):
    conn.send(bool(np.array_equal(k(pts, 0.3)[0], want)))


def test_point_threads_work_in_a_forked_child():
    # The parent's point threads do not exist in a forked child: the child
    # makes its own pool (an inherited one would queue work for no thread).
    import multiprocessing as mp

    from symnet.backends.llvm import PARALLEL_POINTS

    x, w = sp.symbols("x w")
    k = symnet.compile([sp.tanh(w * x)], [x, w], backend="llvm")
    pts = np.linspace(-3, 3, 2 * PARALLEL_POINTS + 77)
    want = k(pts, 0.3)[0]  # the parent's pool exists now
    ctx = mp.get_context("fork")
    here, there = ctx.Pipe()
    child = ctx.Process(target=_child_evaluates, args=(k, pts, want, there))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child's point kernel never returned")
    assert child.exitcode == 0 and here.recv() is True


def test_many_points_split_over_threads():
    """From PARALLEL_POINTS on, the point range is split across the cores."""
    from symnet.backends.llvm import PARALLEL_POINTS

    x, w = sp.symbols("x w")
    f = symnet.logistic(w * x) * sp.tanh(x)
    (dw,) = symnet.grad(f, [w])
    n = PARALLEL_POINTS + 1234
    pts = np.linspace(-30, 30, n)
    kl = symnet.compile([f, dw], [x, w], backend="llvm")
    kn = symnet.compile([f, dw], [x, w])
    for a, b in zip(kl(pts, 0.3), kn(pts, 0.3), strict=True):
        assert a.shape == (n,) and rel_err(a, b) <= 1e-12
