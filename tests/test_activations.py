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


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("offset", [0.0, 1e5, -1e5, 3e7])
def test_float32_log_softmax_exact_near_the_max_at_any_offset(backend, offset):
    """log_softmax and cross entropy of float32 logits far from 0: the shifted
    values z - max are exact, so the result must not carry the spacing of the
    offset (0.008 at 1e5, 2 at 3e7) that z - (max + log sum) would round to."""
    Z = sp.MatrixSymbol("Z", 3, 2)
    Y = sp.MatrixSymbol("Y", 3, 2)
    ce = -sp.Trace(Y.T * symnet.log_softmax(Z))
    k = symnet.compile([symnet.log_softmax(Z), ce], [Z, Y], backend=backend, dtype="float32")
    d = np.array([[0.0, -0.25], [-0.5, -1.0], [-3.0, 0.0]])
    z = (np.float32(offset) + d.astype(np.float32)).astype(np.float32)
    dz = z.astype(np.float64) - z.astype(np.float64).max(axis=0)  # exact in float32 too
    want = dz - np.log(np.exp(dz).sum(axis=0))
    y = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]], np.float32)
    ls, loss = k(z, y)
    np.testing.assert_allclose(ls, want, rtol=2e-6, atol=2e-7)
    assert float(loss) == pytest.approx(-(want * y).sum(), rel=2e-6)


def _log(A):
    t = sp.Symbol("t")
    return ops.Elementwise(sp.Lambda(t, sp.log(t)), A)


def _exp(A):
    t = sp.Symbol("t")
    return ops.Elementwise(sp.Lambda(t, sp.exp(t)), A)


def _lse(v, axis):
    m = v.max(axis=axis, keepdims=True)
    return m + np.log(np.exp(v - m).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_written_out_log_sum_exp_is_stable(backend, dtype):
    """log(ones^T exp(Z)), log(exp(Z) ones) and log(matsum(exp(2 Z))) as a
    user writes them: finite at logits of +-800 with the gradient softmax,
    equal to a max-shifted log-sum-exp computed here."""
    Z = sp.MatrixSymbol("Z", 3, 4)
    col = _log(symnet.ones(1, 3) * _exp(Z))
    row = _log(_exp(Z) * symnet.ones(4, 1))
    total = sp.log(ops.matsum(_exp(2 * Z)))
    rng = np.random.default_rng(7)
    z = rng.normal(size=(3, 4)) * 3
    z[0, 0], z[2, 3] = 800.0, -800.0
    z = z.astype(dtype)
    tol = dict(rtol=1e-5 if dtype == "float32" else 1e-12)
    k = symnet.compile([col, row, total], [Z], backend=backend, dtype=dtype)
    c, r, t = k(z)
    zz = z.astype(np.float64)
    np.testing.assert_allclose(c, _lse(zz, 0), **tol)
    np.testing.assert_allclose(r, _lse(zz, 1), **tol)
    np.testing.assert_allclose(float(t), _lse(2 * zz.ravel(), 0)[0], **tol)
    value, dz = symnet.compile_grad(ops.matsum(col), [Z], [Z], backend=backend, dtype=dtype)(z)
    assert np.all(np.isfinite(dz))
    np.testing.assert_allclose(dz, np.exp(zz - _lse(zz, 0)), atol=1e-6, **tol)


_BIG = np.array([1e10, 2.0 ** 53, 1e30, -1e30, -1e10, 800.0, -800.0])

#: (activation, its derivative's limit at each point of _BIG): forms that stay
#: exact at the extremes (no x - x*sigma(x) cancellation, no 0 * inf from a
#: branch not chosen, no inf / inf from cosh).
_EXTREME_CASES = {
    "silu": (x * symnet.logistic(x), [1, 1, 1, 0, 0, 1, 0]),
    "elu": (sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True)), [1, 1, 1, 0, 0, 1, 0]),
    "selu": (sp.Float(1.0507)
             * sp.Piecewise((x, x > 0), (sp.Float(1.6733) * (sp.exp(x) - 1), True)),
             [1.0507, 1.0507, 1.0507, 0, 0, 1.0507, 0]),
    "log_cosh": (sp.log(sp.cosh(x)), [1, 1, 1, -1, -1, 1, -1]),
    "mish": (x * sp.tanh(symnet.softplus(x)), [1, 1, 1, 0, 0, 1, 0]),
    "gelu": (x / 2 * (1 + sp.erf(x / sp.sqrt(2))), [1, 1, 1, 0, 0, 1, 0]),
}


@pytest.mark.parametrize("name", sorted(_EXTREME_CASES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_exact_at_the_extremes(name, dtype, backend):
    f, limit = _EXTREME_CASES[name]
    (d,) = symnet.grad(f, [x])
    k = symnet.compile([f, d], [x], backend=backend, dtype=dtype)
    v, dv = k(_BIG.astype(dtype))
    assert np.all(np.isfinite(v)), (name, v)
    np.testing.assert_allclose(dv, limit, rtol=1e-6, atol=0, err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_log_cosh_stable_form_matches_the_definition(backend):
    (d,) = symnet.grad(sp.log(sp.cosh(x)), [x])
    k = symnet.compile([sp.log(sp.cosh(x)), d], [x], backend=backend)
    pts = np.linspace(-30, 30, 241)
    v, dv = k(pts)
    np.testing.assert_allclose(v, np.log(np.cosh(pts)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dv, np.tanh(pts), rtol=1e-12, atol=1e-15)
