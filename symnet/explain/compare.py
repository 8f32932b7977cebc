"""Numerical versus symbolic gradients: one- and two-sided differences by step size."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..api import compile as compile_kernel
from ..api import grad
from .graph import _float, computational_graph
from .tables import _fmt, _table

#: Step sizes Δx of :func:`compare_gradients`: 1e-1, 1e-2, ..., 1e-10.
DEFAULT_STEPS: tuple[float, ...] = tuple(10.0 ** -k for k in range(1, 11))


@dataclass(frozen=True)
class DifferenceRow:
    """Finite differences of ∂f/∂``variable`` with step Δx = ``step``:
    one-sided (eq. 4.58) and central (eq. 4.59), and their absolute errors
    against the symbolic gradient."""

    variable: sp.Symbol
    step: float
    one_sided: float
    central: float
    one_sided_error: float
    central_error: float


@dataclass
class GradientComparison:
    """Symbolic gradient, reverse mode on the computational graph and finite
    differences, side by side (sections 4.5.2 and 4.5.3).

    ``symbolic[v]`` is ``symnet.grad`` evaluated (30 digits), ``reverse[v]``
    the adjoint from :func:`computational_graph`, ``rows`` one
    :class:`DifferenceRow` per variable and step, f evaluated in float64.
    """

    expr: sp.Expr
    point: dict[str, float]
    symbolic: dict[sp.Symbol, float]
    reverse: dict[sp.Symbol, float]
    rows: list[DifferenceRow]

    def rows_for(self, variable: sp.Symbol) -> list[DifferenceRow]:
        """The rows of one variable, in step order."""
        return [r for r in self.rows if r.variable == variable]

    def __str__(self) -> str:
        at = ", ".join(f"{k} = {_fmt(v)}" for k, v in self.point.items())
        lines = [f"f = {self.expr} at {at}"]
        for v in self.symbolic:
            lines += ["", f"∂f/∂{v}: symbolic (symnet.grad) {self.symbolic[v]:.15g}, "
                          f"reverse mode {self.reverse[v]:.15g}"]
            lines.append(_table(
                ["Δx", "one-sided (4.58)", "error", "central (4.59)", "error"],
                [[f"{r.step:.0e}", f"{r.one_sided:.12f}", f"{r.one_sided_error:.1e}",
                  f"{r.central:.12f}", f"{r.central_error:.1e}"] for r in self.rows_for(v)]))
        lines += ["", "One-sided errors shrink like Δx, central ones like Δx²; at tiny Δx "
                      "round-off (≈ ε·|f|/Δx) takes over and both grow again."]
        return "\n".join(lines)


def compare_gradients(expr: sp.Basic, wrt: sp.Symbol | Sequence[sp.Symbol], point: Mapping,
                      steps: Sequence[float] = DEFAULT_STEPS) -> GradientComparison:
    """Compare the symbolic gradient, reverse mode and finite differences.

    For each variable in ``wrt`` and each Δx in ``steps``: the one-sided
    difference (f(x + Δx) − f(x))/Δx (eq. 4.58) and the central difference
    (f(x + Δx) − f(x − Δx))/(2Δx) (eq. 4.59) with f in float64, and their
    absolute errors against ``symnet.grad`` evaluated at the point.

    >>> import symnet
    >>> x, w, b = sp.symbols('x w b')
    >>> c = compare_gradients(symnet.logistic(w * x + b), w, {x: 1.5, w: 0.5, b: -0.2},
    ...                       steps=[1e-2, 1e-4])
    >>> r = c.rows_for(w)
    >>> r[0].central_error < r[0].one_sided_error, r[1].central_error < 1e-8
    (True, True)
    >>> abs(c.symbolic[w] - c.reverse[w]) < 1e-14
    True
    """
    expr = sp.sympify(expr)
    wrt = [wrt] if isinstance(wrt, sp.Symbol) else list(wrt)
    if not wrt:
        raise ValueError("give at least one variable to differentiate with respect to")
    for s in wrt:
        if not isinstance(s, sp.Symbol):
            raise TypeError(f"can only differentiate with respect to Symbols, got {s!r}")
    steps = [float(h) for h in steps]
    if not steps or any(not (math.isfinite(h) and h > 0) for h in steps):
        raise ValueError(f"steps must be positive finite numbers, got {steps}")
    graph = computational_graph(expr, point)
    syms = list(graph.inputs)
    for s in wrt:
        if s not in syms:
            raise ValueError(f"{expr} does not depend on {s}")
    values = graph.input_values
    grads = grad(expr, wrt)
    at = {s: sp.Float(values[s.name], 30) for s in syms}
    symbolic = {s: _float(g.xreplace(at), f"∂f/∂{s}", 30)
                for s, g in zip(wrt, grads, strict=True)}
    f = compile_kernel([expr], syms, name="f")
    h = np.array(steps)
    base = [np.full(len(h), values[s.name]) for s in syms]
    (f0,) = f(*[values[s.name] for s in syms])
    rows: list[DifferenceRow] = []
    def shifted(s: sp.Symbol, sign: float) -> np.ndarray:
        args = list(base)
        args[syms.index(s)] = values[s.name] + sign * h
        return np.asarray(f(*args)[0], dtype=float)

    for s in wrt:
        plus, minus = shifted(s, 1.0), shifted(s, -1.0)
        one = (plus - float(f0)) / h
        cen = (plus - minus) / (2 * h)
        rows += [DifferenceRow(s, float(hk), float(o), float(c), abs(float(o) - symbolic[s]),
                               abs(float(c) - symbolic[s]))
                 for hk, o, c in zip(h, one, cen, strict=True)]
    return GradientComparison(expr, dict(values), symbolic,
                              {s: graph.gradient[s] for s in wrt}, rows)
