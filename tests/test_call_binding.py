"""A kernel remembers how it bound arguments of given shapes: the remembered
binding must give exactly what binding from scratch gives -- the same bits,
the same errors -- whatever the values, layouts and kinds of the arguments."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symnet
from symnet.nn import MLP
from symnet.runtime import _shape_key

BACKENDS = ["numpy", "llvm"]
DTYPES = ["float64", "float32"]
NET = MLP([3, 4, 2], "tanh")


@functools.cache
def step_kernel(backend: str, dtype: str):
    """Risk and gradient of a small MLP: a batch dimension, one-hot targets."""
    return symnet.compile_grad(NET.risk(lam=1e-3), NET.params, [NET.X, NET.labels(), *NET.params],
                               backend=backend, dtype=dtype)


@functools.cache
def scaled_kernel(backend: str, dtype: str):
    """A matrix and a scalar input (a number, a 0-d array, or a 1 x 1 matrix)."""
    W = sp.MatrixSymbol("W", 2, sp.Symbol("n"))
    a = sp.Symbol("a")
    S = sp.MatrixSymbol("S", 1, 1)
    return symnet.compile([a * W, symnet.matsum(W) * S], [W, a, S], backend=backend,
                          dtype=dtype)


@functools.cache
def point_kernel(backend: str, dtype: str):
    """Scalar inputs only: 1-D arrays are points."""
    x, w = sp.symbols("x w")
    return symnet.compile([symnet.logistic(w * x), x * w ** 2], [x, w], backend=backend,
                          dtype=dtype)


def outcome(kernel, args) -> tuple:
    try:
        return ("ok", [np.array(o, copy=True) for o in kernel(*args)])
    except Exception as exc:  # the error itself is what is compared
        return ("error", type(exc), str(exc))


def same(a: tuple, b: tuple) -> None:
    assert a[0] == b[0], (a, b)
    if a[0] == "error":
        assert a[1:] == b[1:]
        return
    for x, y in zip(a[1], b[1], strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def check_both_ways(kernel, valid: list, args: list) -> None:
    """``valid`` has the shapes of ``args``; bind it first (remembered when it
    can be), then ``args`` through the remembered binding and from scratch."""
    kernel(*valid)
    got = outcome(kernel, args)
    kernel._bound.clear()
    want = outcome(kernel, args)
    same(got, want)


def layout(arr: np.ndarray, form: str) -> np.ndarray:
    """The same values in another memory layout."""
    if form == "fortran":
        return np.asfortranarray(arr)
    if form == "strided":
        big = np.zeros((arr.shape[0], 2 * arr.shape[1]), dtype=arr.dtype)
        big[:, ::2] = arr
        return big[:, ::2]
    if form == "readonly":
        out = arr.copy()
        out.flags.writeable = False
        return out
    return np.ascontiguousarray(arr)


FORMS = st.sampled_from(["c", "fortran", "strided", "readonly"])
TARGETS = st.sampled_from(["onehot", "int labels", "float labels", "sums to 2", "nan",
                           "negative"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(m=st.sampled_from([1, 2, 5]), x_form=FORMS, target=TARGETS, seed=st.integers(0, 99),
       nan_x=st.booleans())
def test_step_kernel(backend, dtype, m, x_form, target, seed, nan_x):
    k = step_kernel(backend, dtype)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((3, m)).astype(dtype)
    labels = rng.integers(0, 2, m)
    Y = np.zeros((2, m), dtype=dtype)
    Y[labels, np.arange(m)] = 1
    params = [rng.standard_normal(tuple(int(d) for d in p.shape)).astype(dtype)
              for p in NET.params]
    valid = [X.copy(), Y.copy(), *params]
    if nan_x:
        X[0, 0] = np.nan  # inputs may hold NaN: it must reach the outputs either way
    Yg: np.ndarray = Y.copy()
    if target == "int labels":
        Yg = labels
    elif target == "float labels":
        Yg = labels.astype(dtype)
    elif target == "sums to 2":
        Yg[:, -1] = 1
    elif target == "nan":
        Yg[0, 0] = np.nan
    elif target == "negative":
        Yg[:, 0] = [-1, 2]
    args = [layout(X, x_form), Yg, *params]
    check_both_ways(k, valid, args)
    if target == "onehot":  # such a call is remembered, then served from memory
        assert _shape_key(tuple(args), len(k.inputs), k.dtype) in k._bound


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(n=st.sampled_from([1, 3]), a_kind=st.sampled_from(["float", "int", "0-d", "np scalar"]),
       s_kind=st.sampled_from(["float", "0-d", "1-d", "1x1"]), w_form=FORMS,
       seed=st.integers(0, 99))
def test_scalar_and_small_matrix_inputs(backend, dtype, n, a_kind, s_kind, w_form, seed):
    k = scaled_kernel(backend, dtype)
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((2, n)).astype(dtype)
    a = float(rng.standard_normal())
    s = float(rng.standard_normal())
    a_arg = {"float": a, "int": int(seed) - 50, "0-d": np.array(a, dtype=dtype),
             "np scalar": np.dtype(dtype).type(a)}[a_kind]
    s_arg = {"float": s, "0-d": np.array(s, dtype=dtype), "1-d": np.array([s], dtype=dtype),
             "1x1": np.array([[s]], dtype=dtype)}[s_kind]
    args = [layout(W, w_form), a_arg, s_arg]
    valid = [W.copy(), a_arg, s_arg]
    check_both_ways(k, valid, args)
    got = k(*args)
    want = (np.asarray(a_arg, np.float64) * W.astype(np.float64), W.astype(np.float64).sum() * s)
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(got[0], want[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(np.reshape(got[1], ()), want[1], rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(n=st.sampled_from([1, 4, 9]), strided=st.booleans(), w_array=st.booleans(),
       seed=st.integers(0, 99))
def test_points(backend, dtype, n, strided, w_array, seed):
    k = point_kernel(backend, dtype)
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(2 * n) * 5).astype(dtype)
    x = x[::2] if strided else x[:n]
    w = rng.standard_normal(n).astype(dtype) if w_array else float(rng.standard_normal())
    check_both_ways(k, [x.copy(), w], [x, w])


@pytest.mark.parametrize("backend", BACKENDS)
def test_remembered_shapes_still_reject_other_shapes(backend):
    k = step_kernel(backend, "float64")
    X, Y = np.zeros((3, 2)), np.eye(2)
    params = [np.zeros(tuple(int(d) for d in p.shape)) for p in NET.params]
    k(X, Y, *params)
    with pytest.raises(symnet.ShapeError, match="argument Y"):
        k(X, np.eye(3)[:2, :3], *params)
    with pytest.raises(symnet.ShapeError, match="argument W1"):
        k(X, Y, np.zeros((4, 4)), *params[1:])
    with pytest.raises(TypeError, match="argument X"):
        k(X.astype(object), Y, *params)
    # A value that is no longer one-hot, in arrays of the remembered shapes.
    bad = Y.copy()
    bad[0, 1] = 0.5
    with pytest.raises(ValueError, match="argument Y.*sum to 1"):
        k(X, bad, *params)
    # Keyword arguments bind from scratch, and agree.
    a = k(X, Y, *params)
    b = k(X, Y=Y, **{str(p): v for p, v in zip(NET.params, params, strict=True)})
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


def test_the_memory_of_bindings_is_bounded():
    k = point_kernel("numpy", "float64")
    for n in range(1, 200):
        k(np.ones(n), 1.0)
    assert 0 < len(k._bound) <= 64
