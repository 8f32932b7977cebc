"""Scalar-valued matrix expressions: symnet agrees with SymPy's matrix derivatives."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnet

k = 3
x = sp.MatrixSymbol("x", k, 1)
a = sp.MatrixSymbol("a", k, 1)
b = sp.MatrixSymbol("b", k, 1)
A = sp.MatrixSymbol("A", k, k)
X = sp.MatrixSymbol("X", k, k)
c = sp.MatrixSymbol("c", k, 1)

# (expression, variable) pairs from SymPy's own matrix-derivative tests.
CASES = [
    (x.T * A * x, x),
    (a.T * X * b, X),
    (sp.Trace(X.T * X), X),
    (sp.Trace(X), X),
    (sp.Trace(A * X), X),
    (sp.Trace(X * A), X),
    (sp.Trace(X.T * A * X), X),
    (a.T * X.T * b, X),
    (a.T * X * X.T * b, X),
    (x.T * x, x),
    (c.T * A * x + x.T * x, x),
    (sp.Trace(2 * X.T * X), X),
]


def _numeric(expr, values):
    """Evaluate a SymPy matrix/scalar expression entry by entry."""
    e = expr.subs({s: sp.Matrix(v) for s, v in values.items()}).doit()
    return np.array(sp.Matrix(e) if isinstance(e, sp.MatrixBase) or getattr(e, "is_Matrix", False)
                    else sp.Matrix([[e]]), dtype=float)


@pytest.mark.parametrize("expr,var", CASES, ids=lambda e: str(e))
def test_against_sympy_diff(expr, var):
    rng = np.random.default_rng(3)
    syms = sorted(expr.free_symbols, key=str)
    values = {s: rng.standard_normal(s.shape) for s in syms}
    (ours,) = symnet.grad(expr, [var])
    assert ours.shape == var.shape
    theirs = expr.diff(var)
    got = _numeric(ours, values)
    want = _numeric(theirs, values).reshape(var.shape)
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12)
    kern = symnet.compile([ours], syms)
    assert np.allclose(kern(*[values[s] for s in syms])[0], want, rtol=1e-12, atol=1e-12)


def test_quadratic_form_symbolic():
    (g,) = symnet.grad(x.T * A * x, [x])
    assert sp.simplify((g - (A * x + A.T * x)).as_explicit()) == sp.zeros(k, 1)


def test_trace_of_gram_is_2x():
    (g,) = symnet.grad(sp.Trace(X.T * X), [X])
    assert (g - 2 * X).as_explicit() == sp.zeros(k, k)


def test_symbolic_dimension():
    n = sp.Symbol("n", integer=True, positive=True)
    v = sp.MatrixSymbol("v", n, 1)
    M = sp.MatrixSymbol("M", n, n)
    (g,) = symnet.grad(v.T * M * v, [v])
    assert g.shape == (n, 1)
    kern = symnet.compile([g], [v, M])
    rng = np.random.default_rng(0)
    vv, MM = rng.standard_normal((5, 1)), rng.standard_normal((5, 5))
    assert np.allclose(kern(vv, MM)[0], (MM + MM.T) @ vv, rtol=1e-13)
