"""Expressions beyond the old 254-variable ceiling of elementwise bodies."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnet


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
