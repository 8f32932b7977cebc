"""symnet.explain: computational graphs (both modes), finite differences, vanishing gradients."""

import math
import sys

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symnet
from symnet.explain import (
    GradientNormReport,
    compare_gradients,
    computational_graph,
    layer_gradient_norms,
    modes_summary,
    plot_gradient_norms,
    vanishing_gradient_report,
)

x, w, b = sp.symbols("x w b")
y, z = sp.symbols("y z")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def symbolic_gradient(expr, wrt, point):
    """f and symnet.grad evaluated at the point by a compiled kernel (float64)."""
    syms = list(point)
    k = symnet.compile([expr, *symnet.grad(expr, wrt)], syms)
    return [float(v) for v in k(*[float(point[s]) for s in syms])]


# ------------------------------------------------------------------ the textbook example


@pytest.fixture(scope="module")
def textbook():
    return computational_graph(symnet.logistic(w * x + b), {x: 1, w: 0, b: 0})


def test_textbook_nodes_and_forward_values(textbook):
    assert [n.name for n in textbook.nodes] == ["h1", "h2", "h3"]
    assert [str(n.op) for n in textbook.nodes] == ["w*x", "b + h1", "logistic(h2)"]
    assert [n.operands for n in textbook.nodes] == [("w", "x"), ("b", "h1"), ("h2",)]
    assert [n.value for n in textbook.nodes] == [0.0, 0.0, 0.5]
    assert textbook.value == 0.5
    assert textbook.output == "h3"


def test_textbook_local_partials(textbook):
    h1, h2, h3 = textbook.nodes
    assert h1.partials == (1.0, 0.0)      # ∂h1/∂w = x = 1, ∂h1/∂x = w = 0
    assert h2.partials == (1.0, 1.0)
    assert h3.partials == (0.25,)         # σ'(0) = σ(0)(1 - σ(0))
    h = sp.Symbol("h2", real=True)
    assert h3.partial_exprs[0] == sp.diff(symnet.logistic(h), h)


def test_textbook_both_modes_give_a_quarter(textbook):
    assert textbook.gradient == {x: 0.0, w: 0.25, b: 0.25}
    assert textbook.forward_gradient == {x: 0.0, w: 0.25, b: 0.25}
    assert [n.adjoint for n in textbook.nodes] == [0.25, 0.25, 1.0]
    assert textbook.nodes[-1].tangents == {"x": 0.0, "w": 0.25, "b": 0.25}
    assert symbolic_gradient(textbook.expr, [x, w, b], {x: 1, w: 0, b: 0}) == [0.5, 0.0, 0.25,
                                                                                0.25]


def test_textbook_table(textbook):
    text = str(textbook)
    for needle in ("h1", "w*x", "b + h1", "logistic(h2)", "adjoint", "∂h3/∂h2 = 0.25",
                   "∂f/∂w = 0.25, ∂f/∂b = 0.25"):
        assert needle in text, needle
    assert text.count("∂f/∂w = 0.25") == 2    # reverse and forward mode lines


def test_shared_subexpression_is_one_node():
    g = computational_graph(x * y + sp.exp(x * y), {x: 1.0, y: 2.0})
    assert [str(n.op) for n in g.nodes] == ["x*y", "exp(h1)", "h1 + h2"]
    # h1 feeds two nodes: its adjoint sums both paths, 1 + e^2.
    assert g.node("h1").adjoint == pytest.approx(1 + math.exp(2))
    assert g.gradient[x] == pytest.approx(2 * (1 + math.exp(2)))


def test_input_is_output():
    g = computational_graph(x, {x: 3.0})
    assert g.nodes == [] and g.value == 3.0
    assert g.gradient == g.forward_gradient == {x: 1.0}


def test_errors():
    with pytest.raises(ValueError, match="no value for b"):
        computational_graph(w * x + b, {x: 1, w: 2})
    with pytest.raises(ValueError, match="no variables"):
        computational_graph(sp.Integer(3), {})
    with pytest.raises(ValueError, match="not a real number"):
        computational_graph(sp.log(x), {x: -1.0})
    with pytest.raises(TypeError, match="scalar"):
        computational_graph(sp.MatrixSymbol("A", 2, 2), {})
    with pytest.raises(ValueError, match="does not depend on y"):
        compare_gradients(x ** 2, y, {x: 1.0, y: 2.0})


# ------------------------------------------------------------------ random formulas


_UNARY = [symnet.logistic, sp.tanh, symnet.softplus, sp.sin, lambda a: a ** 2,
          lambda a: sp.log(1 + a ** 2), lambda a: sp.exp(a / 4)]
_BINARY = [sp.Add, sp.Mul, lambda a, c: a - c, lambda a, c: a * symnet.logistic(c)]


def _formulas():
    leaves = st.sampled_from([x, y, z]) | st.sampled_from([sp.Integer(2), sp.Rational(1, 3)])
    return st.recursive(
        leaves,
        lambda sub: st.builds(lambda f, a: f(a), st.sampled_from(_UNARY), sub)
        | st.builds(lambda f, a, c: f(a, c), st.sampled_from(_BINARY), sub, sub),
        max_leaves=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=_formulas(), values=st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_reverse_forward_and_symbolic_agree(expr, values):
    syms = sorted(expr.free_symbols, key=str)
    if not syms:
        return
    point = dict(zip([x, y, z], values, strict=True))
    g = computational_graph(expr, point)
    value, *expected = symbolic_gradient(expr, syms, {s: point[s] for s in syms})
    for s, e in zip(syms, expected, strict=True):
        assert g.gradient[s] == pytest.approx(e, rel=1e-9, abs=1e-12), (expr, s)
        assert g.forward_gradient[s] == pytest.approx(e, rel=1e-9, abs=1e-12), (expr, s)
    assert g.value == pytest.approx(value, rel=1e-12, abs=1e-12)


# ------------------------------------------------------------------ finite differences


def test_central_beats_one_sided_then_round_off_wins():
    f = symnet.logistic(w * x + b)
    c = compare_gradients(f, [w, b], {x: 1.5, w: 0.5, b: -0.2})
    assert c.symbolic[w] == pytest.approx(c.reverse[w], rel=1e-14)
    for v in (w, b):
        rows = {r.step: r for r in c.rows_for(v)}
        assert len(rows) == 10
        for h in (1e-1, 1e-2, 1e-3, 1e-4):
            assert rows[h].central_error < rows[h].one_sided_error / 10
        # O(Δx) vs O(Δx²): a 10x smaller step cuts the errors ~10x and ~100x.
        assert 5 < rows[1e-2].one_sided_error / rows[1e-3].one_sided_error < 20
        assert 50 < rows[1e-2].central_error / rows[1e-3].central_error < 200
        # At Δx = 1e-10 round-off dominates: worse than at 1e-5.
        assert rows[1e-10].central_error > 100 * rows[1e-5].central_error
    text = str(c)
    assert "one-sided (4.58)" in text and "central (4.59)" in text and "1e-10" in text


def test_compare_gradients_checks_steps():
    with pytest.raises(ValueError, match="positive"):
        compare_gradients(x ** 2, x, {x: 1.0}, steps=[0.1, -0.1])


# ------------------------------------------------------------------ modes


def test_modes_summary_numbers():
    s = modes_summary(3, 1)
    assert (s.forward_sweeps, s.reverse_sweeps, s.cheaper) == (3, 1, "reverse")
    s = modes_summary(2, 50)
    assert (s.forward_sweeps, s.reverse_sweeps, s.cheaper) == (2, 50, "forward")
    assert modes_summary(4, 4).cheaper == "either"
    assert "R^3 -> R^1" in str(modes_summary(3, 1))
    g = computational_graph(symnet.logistic(w * x + b), {x: 1, w: 0, b: 0})
    assert g.modes_summary() == modes_summary(3, 1)
    with pytest.raises(ValueError, match="positive"):
        modes_summary(0, 1)


def test_modes_summary_second_order_counts():
    s = modes_summary(2410, 1)
    assert (s.hvp_sweeps, s.hessian_hvps) == (3, 2410)
    assert modes_summary(3, 2).hessian_hvps == 6
    assert ("one Hessian-vector product = 1 forward pass + 1 backward sweep + 1 tangent sweep; "
            "the full 2410 x 2410 Hessian = 2410 products") in str(s)
    assert "product per output" in str(modes_summary(3, 2))


# ------------------------------------------------------------------ vanishing gradients


@pytest.fixture(scope="module")
def report():
    return vanishing_gradient_report(depth=6, width=16, samples=50)


def test_logistic_gradients_vanish_relu_do_not(report):
    logistic, relu = report.norms["logistic"], report.norms["relu"]
    assert logistic.shape == relu.shape == (7,)
    assert np.all(np.isfinite(logistic)) and np.all(logistic > 0)
    # The logistic net's norms grow layer by layer towards the output ...
    assert np.all(np.diff(logistic) > 0)
    # ... and its first layer is orders of magnitude behind, unlike ReLU's.
    assert report.ratio("logistic") < 1e-3
    assert report.ratio("relu") > 0.1
    assert report.ratio("logistic") < 1e-3 * report.ratio("relu")
    text = str(report)
    assert "logistic" in text and "relu" in text and "first/last" in text


def test_layer_gradient_norms_match_compile_grad():
    """The norms are those of ∂R/∂W from an independently compiled kernel."""
    from symnet.nn import MLP
    from symnet.train import init_params

    norms = layer_gradient_norms(2, 5, "tanh", seed=3, samples=7, classes=3)
    net = MLP([5, 5, 5, 3], "tanh")
    k = symnet.compile([*symnet.grad(net.loss(), net.weights)],
                       [net.X, net.labels(), *net.params])
    rng = np.random.default_rng(3)
    params = init_params(net, rng)
    X = rng.standard_normal((5, 7))
    labels = rng.integers(3, size=7)
    outs = k(X, labels, *params.values())
    np.testing.assert_allclose(norms, [np.linalg.norm(g) for g in outs], rtol=1e-12)


def test_plot_writes_png(report, tmp_path):
    path = plot_gradient_norms(report, tmp_path / "norms.png")
    assert path.exists() and path.read_bytes()[:8] == PNG_SIGNATURE
    path = plot_gradient_norms({"a": [1.0, 0.1, 0.01]}, tmp_path / "mapping.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_plot_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    report = GradientNormReport(1, 2, {"a": np.array([1.0, 2.0])})
    with pytest.raises(ImportError, match=r"pip install symnet\[plot\]"):
        plot_gradient_norms(report, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
