"""Every kind of output, on both backends and in both dtypes: computed values,
inputs passed through, constants, scalars, point-wise values, matrices,
zero gradients and outputs listed twice -- each equal to an independent NumPy
computation, never aliasing an argument or another output."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet.backends.llvm import PARALLEL_POINTS

BACKENDS = ["numpy", "llvm"]
DTYPES = ["float64", "float32"]

x, y = sp.symbols("x y")
m = sp.Symbol("m", integer=True, positive=True)
W, X = sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("X", 2, m)


def _check(got, want, args, dtype):
    """Values (to the dtype's precision), dtypes, and no aliasing at all."""
    assert len(got) == len(want)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for g, w in zip(got, want, strict=True):
        g = np.asarray(g)
        assert g.dtype == np.dtype(dtype)
        assert g.shape == np.shape(w), (g.shape, np.shape(w))
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    arrays = [g for g in got if isinstance(g, np.ndarray) and g.ndim]
    for i, a in enumerate(arrays):
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)
        for arg in args:
            if isinstance(arg, np.ndarray):
                assert not np.shares_memory(a, arg)


def _points(n: int, dtype):
    rng = np.random.default_rng(n)
    return (rng.uniform(-2, 2, n).astype(dtype), rng.uniform(0.5, 3, n).astype(dtype))


# (outputs, inputs, reference from (xs, ys)) -- scalar formulas over points
POINTWISE = {
    "input passed through": ([y], [x, y], lambda a, b: [b]),
    "first input passed through": ([x], [x, y], lambda a, b: [a]),
    "computed and passed through": ([x * y, x, y], [x, y], lambda a, b: [a * b, a, b]),
    "constant": ([x ** 2, sp.Integer(3)], [x], lambda a, b: [a ** 2, np.full_like(a, 3)]),
    "constant only": ([sp.Rational(1, 2)], [x], lambda a, b: [np.full_like(a, 0.5)]),
    "repeated": ([x * y, x * y, y, y], [x, y], lambda a, b: [a * b, a * b, b, b]),
    "unused input": ([x + 1], [x, y], lambda a, b: [a + 1]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(POINTWISE))
@pytest.mark.parametrize("n", [1, 7, PARALLEL_POINTS + 5])
def test_pointwise_outputs(backend, dtype, case, n):
    outs, ins, ref = POINTWISE[case]
    xs, ys = _points(n, dtype)
    args = [xs, ys][:len(ins)] if ins[0] == x else [ys]
    k = symnet.compile(outs, ins, backend=backend, dtype=dtype)
    for _ in range(2):  # a second call must not see the first call's memory
        got = k(*args)
        _check(got, ref(xs, ys), args, dtype)
    got[0][...] = 123.0  # outputs are the caller's: writing them changes no input
    assert not np.any(xs == 123.0) and not np.any(ys == 123.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_point_and_number_arguments_mixed(backend, dtype):
    xs, _ = _points(9, dtype)
    k = symnet.compile([y, x * y, sp.Integer(4)], [x, y], backend=backend, dtype=dtype)
    got = k(xs, 2.5)
    _check(got, [np.full_like(xs, 2.5), 2.5 * xs, np.full_like(xs, 4)], [xs], dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_scalar_call_outputs(backend, dtype):
    k = symnet.compile([y, sp.Integer(3), x * y, y], [x, y], backend=backend, dtype=dtype)
    got = k(2.0, 3.0)
    assert [float(v) for v in got] == [3.0, 3.0, 6.0, 3.0]
    assert all(np.ndim(v) == 0 for v in got)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [3, PARALLEL_POINTS + 1])
def test_pointwise_gradients_pass_inputs_and_constants(backend, dtype, n):
    xs, ys = _points(n, dtype)
    k = symnet.compile_grad(x * y, [x, y], [x, y], backend=backend, dtype=dtype)
    _check(k(xs, ys), [xs * ys, ys, xs], [xs, ys], dtype)
    k = symnet.compile_grad(3 * x, [x], [x], backend=backend, dtype=dtype)
    _check(k(xs), [3 * xs, np.full_like(xs, 3)], [xs], dtype)
    k = symnet.compile_grad(sp.sign(x) * y, [x, y], [x, y], backend=backend, dtype=dtype)
    _check(k(xs, ys), [np.sign(xs) * ys, np.zeros_like(xs), np.sign(xs)], [xs, ys], dtype)


def _matrices(dtype):
    rng = np.random.default_rng(3)
    return rng.standard_normal((3, 2)).astype(dtype), rng.standard_normal((2, 4)).astype(dtype)


MATRIX = {
    "input passed through": ([W], lambda A, B: [A]),
    "passed through and repeated products": ([W, W * X, W * X, W],
                                             lambda A, B: [A, A @ B, A @ B, A]),
    "constant matrix": ([2 * symnet.ones(3, m)], lambda A, B: [np.full((3, 4), 2.0)]),
    "zero matrix": ([sp.ZeroMatrix(3, m)], lambda A, B: [np.zeros((3, 4))]),
    "constant plus input": ([5 * symnet.ones(3, 2) + W], lambda A, B: [A + 5]),
    "scalar of matrices": ([symnet.matsum(W * X), symnet.matsum(W)],
                           lambda A, B: [np.sum(A @ B), np.sum(A)]),
    "transpose of an input": ([W.T, X.T * W.T], lambda A, B: [A.T, B.T @ A.T]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(MATRIX))
def test_matrix_outputs(backend, dtype, case):
    outs, ref = MATRIX[case]
    A, B = _matrices(dtype)
    k = symnet.compile(outs, [W, X], backend=backend, dtype=dtype)
    for _ in range(2):
        got = k(A, B)
        _check(got, ref(A.astype(float), B.astype(float)), [A, B], dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_gradients_constant_and_zero(backend, dtype):
    A, B = _matrices(dtype)
    # d/dW sum(W X) = 1 X^T: every row the row sums of X; d/dX = W^T 1.
    k = symnet.compile_grad(symnet.matsum(W * X), [W, X], [W, X], backend=backend, dtype=dtype)
    want = [np.sum(A @ B), np.ones((3, 4)) @ B.T, A.T @ np.ones((3, 4))]
    _check(k(A, B), want, [A, B], dtype)
    # sign' = 0: through sign(W) o W only the second factor counts ...
    k = symnet.compile_grad(symnet.matsum(sp.HadamardProduct(symnet.Elementwise(sp.sign, W), W)),
                            [W], [W], backend=backend, dtype=dtype)
    _check(k(A), [np.sum(np.abs(A)), np.sign(A)], [A], dtype)
    # ... and a weight used only through a sign has a zero gradient, not an error.
    k = symnet.compile_grad(symnet.matsum(symnet.Elementwise(sp.sign, W)) + symnet.matsum(W * X),
                            [W, X], [W, X], backend=backend, dtype=dtype)
    want = [np.sum(np.sign(A)) + np.sum(A @ B), np.ones((3, 4)) @ B.T, A.T @ np.ones((3, 4))]
    _check(k(A, B), want, [A, B], dtype)
    k = symnet.compile_grad(symnet.matsum(symnet.Elementwise(sp.Heaviside, W)), [W], [W],
                            backend=backend, dtype=dtype)
    _check(k(A), [np.sum(A > 0), np.zeros((3, 2))], [A], dtype)
