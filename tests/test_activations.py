"""Activation heads: derivatives of table 4.1, kink conventions, stable evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet import ops

x = sp.Symbol("x")

# Derivatives of table 4.1, written out independently of the heads' fdiff.
TABLE_4_1 = [
    (symnet.logistic(x), lambda v: 1 / (1 + np.exp(-v)) * (1 - 1 / (1 + np.exp(-v)))),
    (sp.tanh(x), lambda v: 1 - np.tanh(v) ** 2),
    (symnet.relu(x), lambda v: (v > 0).astype(float)),
    (symnet.softplus(x), lambda v: 1 / (1 + np.exp(-v))),
    (symnet.hard_logistic(x), lambda v: 0.25 * ((v > -2) & (v < 2))),
    (symnet.hard_tanh(x), lambda v: 1.0 * ((v > -1) & (v < 1))),
    (symnet.leaky_relu(x), lambda v: np.where(v > 0, 1.0, 0.01)),
    (symnet.leaky_relu(x, sp.Rational(1, 5)), lambda v: np.where(v > 0, 1.0, 0.2)),
    # A user-defined activation (Mish): any SymPy expression works the same way.
    (x * sp.tanh(symnet.softplus(x)),
     lambda v: np.tanh(np.log1p(np.exp(v)))
     + v * (1 - np.tanh(np.log1p(np.exp(v))) ** 2) / (1 + np.exp(-v))),
]

BACKENDS = ["numpy", "llvm"]

POINTS = np.array([-3.7, -2.0, -1.0, -0.3, 0.0, 0.4, 1.0, 2.0, 5.5])


@pytest.mark.parametrize("f,df", TABLE_4_1, ids=lambda e: str(e)[:30])
@pytest.mark.parametrize("backend", BACKENDS)
def test_derivative_matches_table(f, df, backend):
    (d,) = symnet.grad(f, [x])
    k = symnet.compile([d], [x], backend=backend)
    assert np.allclose(k(POINTS)[0], df(POINTS), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("f,df", TABLE_4_1, ids=lambda e: str(e)[:30])
@pytest.mark.parametrize("backend", BACKENDS)
def test_derivative_matches_central_differences(f, df, backend):
    (d,) = symnet.grad(f, [x])
    k = symnet.compile([f, d], [x], backend=backend)
    pts = POINTS + 0.0137  # off the kinks
    h = 1e-6
    num = (k(pts + h)[0] - k(pts - h)[0]) / (2 * h)
    assert np.allclose(k(pts)[1], num, rtol=1e-6, atol=1e-8)


def test_symbolic_forms_of_table_4_1():
    s = symnet.logistic(x)
    assert sp.simplify(symnet.grad(s, [x])[0] - s * (1 - s)) == 0
    assert sp.simplify(symnet.grad(sp.tanh(x), [x])[0] - (1 - sp.tanh(x) ** 2)) == 0
    assert symnet.grad(symnet.relu(x), [x])[0] == sp.Heaviside(x, 0)
    assert symnet.grad(symnet.softplus(x), [x])[0] == symnet.logistic(x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kink_conventions(backend):
    """ReLU'(0) = 0; hard functions take the flat side's derivative at their kinks."""
    cases = [(symnet.relu(x), 0.0, 0.0), (symnet.hard_tanh(x), 1.0, 0.0),
             (symnet.hard_tanh(x), -1.0, 0.0), (symnet.hard_logistic(x), 2.0, 0.0),
             (symnet.hard_logistic(x), -2.0, 0.0), (symnet.leaky_relu(x), 0.0, 0.01)]
    for f, at, want in cases:
        (d,) = symnet.grad(f, [x])
        assert float(d.subs(x, at)) == want, (f, at)
        assert symnet.compile([d], [x], backend=backend)(at)[0] == want, (f, at)


@pytest.mark.parametrize("backend", BACKENDS)
def test_maxout_ties_go_to_first_piece(backend):
    a, b, c = sp.symbols("a b c")
    grads = symnet.grad(symnet.maxout(a, b, c), [a, b, c])
    k = symnet.compile(list(grads), [a, b, c], backend=backend)
    assert [float(v) for v in k(1.0, 1.0, 1.0)] == [1.0, 0.0, 0.0]
    assert [float(v) for v in k(0.0, 2.0, 2.0)] == [0.0, 1.0, 0.0]
    assert [float(v) for v in k(0.0, 1.0, 3.0)] == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_prelu_gradient_wrt_slope(backend):
    g = sp.Symbol("gamma")
    dx, dg = symnet.grad(symnet.prelu(x, g), [x, g])
    k = symnet.compile([dx, dg], [x, g], backend=backend)
    vx, vg = k(np.array([-2.0, 0.0, 3.0]), 0.2)
    assert np.array_equal(vx, [0.2, 0.2, 1.0])
    assert np.array_equal(vg, [-2.0, 0.0, 0.0])


@pytest.mark.parametrize("f", [symnet.logistic(x), symnet.softplus(x), sp.tanh(x),
                               x * sp.tanh(symnet.softplus(x))])
@pytest.mark.parametrize("backend", BACKENDS)
def test_finite_at_extremes(f, backend):
    (d,) = symnet.grad(f, [x])
    k = symnet.compile([f, d], [x], backend=backend)
    v, dv = k(np.array([-800.0, -40.0, 40.0, 800.0]))
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(dv))


@pytest.mark.parametrize("backend", BACKENDS)
def test_stable_values_at_extremes(backend):
    k = symnet.compile([symnet.logistic(x), symnet.softplus(x)], [x], backend=backend)
    s, sp_ = k(np.array([-800.0, 800.0]))
    assert s[0] == 0.0 and s[1] == 1.0
    assert sp_[0] == 0.0 and sp_[1] == 800.0
    s, sp_ = k(np.array([-30.0]))
    assert np.isclose(s[0], np.exp(-30.0) / (1 + np.exp(-30.0)), rtol=1e-15)


def test_printing():
    assert sp.latex(symnet.logistic(x)) == r"\sigma\left(x\right)"
    assert sp.pretty(symnet.logistic(x)) == "σ(x)"
    assert sp.latex(symnet.relu(x)) == r"\operatorname{ReLU}\left(x\right)"
    n, m = sp.symbols("n m")
    Z = sp.MatrixSymbol("Z", n, m)
    assert str(symnet.logistic(Z)) == "logistic(Z)"
    assert sp.latex(symnet.softmax(Z)) == r"\operatorname{softmax}\left(Z\right)"


def test_numeric_evaluation_of_heads():
    assert symnet.logistic(0) == sp.S.Half
    assert symnet.relu(-3) == 0 and symnet.relu(2) == 2
    assert symnet.hard_tanh(5) == 1 and symnet.hard_logistic(-9) == 0
    assert symnet.maxout(1, 4, 2) == 4
    assert sp.N(symnet.softplus(0)) == pytest.approx(np.log(2))


def test_activations_apply_elementwise_to_matrices():
    A = sp.MatrixSymbol("A", 2, 2)
    E = symnet.relu(A)
    assert isinstance(E, ops.Elementwise) and E.shape == (2, 2)
    M = sp.Matrix([[-1, 2], [3, -4]])
    assert E.subs(A, M).doit() == sp.Matrix([[0, 2], [3, 0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_family_explicit_values(backend):
    Z = sp.MatrixSymbol("Z", 3, 2)
    vals = np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]])
    k = symnet.compile([symnet.softmax(Z), symnet.log_softmax(Z), symnet.logsumexp(Z)], [Z],
                       backend=backend)
    s, ls, lse = k(vals)
    ref_lse = np.log(np.exp(vals).sum(axis=0, keepdims=True))
    assert np.allclose(lse, ref_lse, rtol=1e-15)
    assert np.allclose(s, np.exp(vals - ref_lse), rtol=1e-15)
    assert np.allclose(ls, vals - ref_lse, rtol=1e-15)
    big = k(vals * 800)
    assert all(np.all(np.isfinite(b)) for b in big)
    explicit = symnet.softmax(Z).subs(Z, sp.Matrix(vals)).doit()
    assert np.allclose(np.array(explicit, dtype=float), s)
