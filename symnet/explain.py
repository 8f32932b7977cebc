"""Inspection tools of chapter 4: computational graphs, gradient checks, vanishing gradients."""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sympy as sp

from .api import compile as compile_kernel
from .api import compile_grad, grad
from .nn import MLP
from .train import init_params

__all__ = [
    "ComputationalGraph",
    "DifferenceRow",
    "GradientComparison",
    "GradientNormReport",
    "ModesSummary",
    "Node",
    "compare_gradients",
    "computational_graph",
    "layer_gradient_norms",
    "modes_summary",
    "plot_gradient_norms",
    "vanishing_gradient_report",
]

#: Step sizes Δx of :func:`compare_gradients`: 1e-1, 1e-2, ..., 1e-10.
DEFAULT_STEPS: tuple[float, ...] = tuple(10.0 ** -k for k in range(1, 11))


def _fmt(v: float) -> str:
    """A number in at most 6 significant digits, with -0 shown as 0."""
    return "0" if v == 0 else f"{v:.6g}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    rows = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ------------------------------------------------------------------ forward vs reverse mode


@dataclass(frozen=True)
class ModesSummary:
    """Passes over the graph that forward and reverse mode need for the whole
    Jacobian of f: R^n -> R^m (section 4.5.3).

    Forward mode propagates tangents from one input at a time: n sweeps, each
    a column of the Jacobian. Reverse mode runs one forward pass to store the
    values and then propagates adjoints from one output at a time: m backward
    sweeps, each a row.
    """

    n_inputs: int
    n_outputs: int

    @property
    def forward_sweeps(self) -> int:
        """Forward-mode sweeps: one per input (n)."""
        return self.n_inputs

    @property
    def reverse_sweeps(self) -> int:
        """Reverse-mode backward sweeps: one per output (m), after one forward pass."""
        return self.n_outputs

    @property
    def cheaper(self) -> str:
        """``"reverse"``, ``"forward"`` or ``"either"``, by the number of sweeps."""
        if self.n_outputs < self.n_inputs:
            return "reverse"
        if self.n_inputs < self.n_outputs:
            return "forward"
        return "either"

    def __str__(self) -> str:
        n, m = self.n_inputs, self.n_outputs
        s = "" if n == 1 else "s"
        t = "" if m == 1 else "s"
        text = (f"f: R^{n} -> R^{m}\n"
                f"  forward mode: {n} forward sweep{s} (one per input, each gives a column "
                f"of the Jacobian)\n"
                f"  reverse mode: 1 forward pass + {m} backward sweep{t} (one per output, "
                f"each gives a row of the Jacobian)\n")
        if self.cheaper == "either":
            return text + "  both modes need the same number of sweeps"
        return text + (f"  {self.cheaper} mode is cheaper; a loss (m = 1) of many parameters "
                       "is why backpropagation is reverse mode")


def modes_summary(n_inputs: int, n_outputs: int = 1) -> ModesSummary:
    """How many sweeps forward and reverse mode need for f: R^n -> R^m.

    >>> s = modes_summary(3, 1)
    >>> s.forward_sweeps, s.reverse_sweeps, s.cheaper
    (3, 1, 'reverse')
    >>> modes_summary(1, 10).cheaper
    'forward'
    """
    for name, v in (("n_inputs", n_inputs), ("n_outputs", n_outputs)):
        if not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return ModesSummary(int(n_inputs), int(n_outputs))


# ------------------------------------------------------------------ computational graph


@dataclass
class Node:
    """One primitive node h_i = op(operands) of a :class:`ComputationalGraph`.

    ``op`` is the node's SymPy operation written over its operands' symbols
    (inputs keep their own symbols, earlier nodes appear as h1, h2, ...);
    ``partial_exprs[k]`` is ``diff(op, operand k)`` and ``partials[k]`` its
    value at the point; ``adjoint`` is ∂f/∂h_i from the backward sweep and
    ``tangents[v]`` is ∂h_i/∂v from the forward sweep of input ``v``.
    """

    name: str
    op: sp.Expr
    operands: tuple[str, ...]
    value: float
    partial_exprs: tuple[sp.Expr, ...]
    partials: tuple[float, ...]
    adjoint: float = 0.0
    tangents: dict[str, float] = field(default_factory=dict)


@dataclass
class ComputationalGraph:
    """A scalar formula split into primitive nodes, with both modes of
    automatic differentiation carried out on it (section 4.5.3, figure 4.7).

    ``inputs`` are the formula's symbols, ``input_values`` their values at
    the point, ``nodes`` the primitive operations h1 .. hn in evaluation
    order (the last one is f, called ``output``; f is an input itself when
    there are no nodes), and ``input_adjoints`` ∂f/∂v for each input from
    the single backward sweep. Each node carries its adjoint and its
    tangents from the forward sweeps. Print it for the table.
    """

    expr: sp.Expr
    inputs: tuple[sp.Symbol, ...]
    input_values: dict[str, float]
    nodes: list[Node]
    output: str
    input_adjoints: dict[str, float]

    @property
    def value(self) -> float:
        """f at the point (the output node's value)."""
        return self.value_of(self.output)

    def value_of(self, name: str) -> float:
        """Forward value of a node or input, by name (``"h2"``, ``"x"``)."""
        if name in self.input_values:
            return self.input_values[name]
        return self.node(name).value

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r}; the graph has {[n.name for n in self.nodes]}")

    @property
    def gradient(self) -> dict[sp.Symbol, float]:
        """∂f/∂v for every input v by reverse mode (one backward sweep)."""
        return {s: self.input_adjoints[s.name] for s in self.inputs}

    @property
    def forward_gradient(self) -> dict[sp.Symbol, float]:
        """∂f/∂v for every input v by forward mode (one forward sweep per input)."""
        if not self.nodes:  # f is one of its inputs
            return {s: float(s.name == self.output) for s in self.inputs}
        out = self.nodes[-1]
        return {s: out.tangents[s.name] for s in self.inputs}

    def modes_summary(self, n_outputs: int = 1) -> ModesSummary:
        """Sweeps each mode needs for this formula's inputs (see :func:`modes_summary`)."""
        return modes_summary(len(self.inputs), n_outputs)

    def __str__(self) -> str:
        names = [s.name for s in self.inputs]
        at = ", ".join(f"{v} = {_fmt(self.input_values[v])}" for v in names)
        lines = [f"f = {self.expr} at {at}", ""]
        rows = [[v, "input", _fmt(self.input_values[v]), "", _fmt(self.input_adjoints[v])]
                for v in names]
        for n in self.nodes:
            local = ", ".join(f"∂{n.name}/∂{o} = {_fmt(p)}"
                              for o, p in zip(n.operands, n.partials, strict=True))
            rows.append([n.name, str(n.op), _fmt(n.value), local, _fmt(n.adjoint)])
        lines.append(_table(["node", "operation", "value", "local partials", "adjoint ∂f/∂h"],
                            rows))
        if self.nodes:
            lines += ["", "local derivatives (SymPy diff of each operation):"]
            for n in self.nodes:
                parts = [f"∂{n.name}/∂{o} = {e}"
                         for o, e in zip(n.operands, n.partial_exprs, strict=True)]
                lines.append("  " + ";  ".join(parts))
            lines += ["", "forward mode: one sweep per input, tangents ∂h/∂v "
                          "(∂h_i/∂v = Σ_j ∂h_i/∂h_j · ∂h_j/∂v)"]
            lines.append(_table(["node", *[f"∂·/∂{v}" for v in names]],
                                [[n.name, *[_fmt(n.tangents[v]) for v in names]]
                                 for n in self.nodes]))
        lines += ["", f"reverse mode: one backward sweep from f = {self.output} "
                      "(∂f/∂h_j = Σ_i ∂f/∂h_i · ∂h_i/∂h_j)"]
        rev = ", ".join(f"∂f/∂{s} = {_fmt(g)}" for s, g in self.gradient.items())
        fwd = ", ".join(f"∂f/∂{s} = {_fmt(g)}" for s, g in self.forward_gradient.items())
        k = len(names)
        labels = ["reverse mode, 1 backward sweep:",
                  f"forward mode, {k} sweep{'s' if k != 1 else ''}:"]
        pad = max(map(len, labels))
        lines.append(f"  gradient by {labels[0].ljust(pad)}  {rev}")
        lines.append(f"  gradient by {labels[1].ljust(pad)}  {fwd}")
        return "\n".join(lines)


def _numeric(e: sp.Basic, digits: int) -> sp.Basic:
    """Evaluate bottom-up: heads such as logistic evaluate only on Number arguments."""
    if not e.args or e.is_Number:
        return e.evalf(digits) if isinstance(e, sp.Expr) else e
    return e.func(*[_numeric(a, digits) for a in e.args]).evalf(digits)


def _float(e: sp.Expr, what: str, digits: int = 15) -> float:
    value = _numeric(e, digits)
    try:
        return float(value)
    except TypeError:
        raise ValueError(f"{what} evaluates to {value}, not a real number") from None


def _prefix(symbols: Iterable[sp.Symbol]) -> str:
    names = {s.name for s in symbols}
    for p in ("h", "v", "node"):
        if not any(re.fullmatch(rf"{p}\d+", n) for n in names):
            return p
    raise ValueError("the formula's symbols clash with every node prefix (h1, v1, node1)")


def _point(point: Mapping, inputs: Iterable[sp.Symbol]) -> dict[str, float]:
    by_name = {(k.name if isinstance(k, sp.Symbol) else str(k)): v for k, v in point.items()}
    missing = [s.name for s in inputs if s.name not in by_name]
    if missing:
        raise ValueError(f"the point gives no value for {', '.join(missing)}")
    return {s.name: float(by_name[s.name]) for s in inputs}


def _ordered_inputs(expr: sp.Expr, point: Mapping) -> tuple[sp.Symbol, ...]:
    free = expr.free_symbols
    if not free:
        raise ValueError(f"{expr} has no variables to differentiate")
    if not all(isinstance(s, sp.Symbol) for s in free):
        raise TypeError(f"{expr} must be a scalar formula of Symbols")
    order = {(k.name if isinstance(k, sp.Symbol) else str(k)): i for i, k in enumerate(point)}
    return tuple(sorted(free, key=lambda s: (order.get(s.name, len(order)), s.name)))


def computational_graph(expr: sp.Basic, point: Mapping) -> ComputationalGraph:
    """Split a scalar SymPy formula into primitive nodes and differentiate it both ways.

    One node per SymPy operation (Add, Mul, Pow, exp, log, logistic, tanh,
    ...), numbered h1, h2, ... in post-order: a node's operands (in SymPy's
    argument order) come before it, so the last node is f. Numeric
    constants stay inside their operation (2*x is one node); equal
    subexpressions share one node. Each node gets its value at ``point``,
    its local partial derivatives ∂h_i/∂h_j (SymPy ``diff`` of its
    operation, evaluated), the adjoint ∂f/∂h_i from one reverse sweep and
    the tangents ∂h_i/∂v from one forward sweep per input v.

    ``point`` maps every symbol (or its name) to a number; the inputs are
    listed in the point's order. The textbook example f = σ(wx + b):

    >>> import symnet
    >>> x, w, b = sp.symbols('x w b')
    >>> g = computational_graph(symnet.logistic(w * x + b), {x: 1, w: 0, b: 0})
    >>> [(n.name, str(n.op), n.value) for n in g.nodes]
    [('h1', 'w*x', 0.0), ('h2', 'b + h1', 0.0), ('h3', 'logistic(h2)', 0.5)]
    >>> g.gradient[w], g.gradient[b], g.forward_gradient[w], g.forward_gradient[b]
    (0.25, 0.25, 0.25, 0.25)
    """
    expr = sp.sympify(expr)
    if not isinstance(expr, sp.Expr) or getattr(expr, "is_Matrix", False) or \
            isinstance(expr, sp.MatrixExpr):
        raise TypeError(f"computational_graph needs a scalar SymPy formula, got {expr!r}")
    inputs = _ordered_inputs(expr, point)
    values = _point(point, inputs)
    prefix = _prefix(inputs)
    memo: dict[sp.Basic, str] = {}
    # Operations are written over real placeholders (named like the inputs and nodes), so
    # that diff of Abs, sign, re, ... stays evaluable at a real point.
    symbol_of: dict[str, sp.Symbol] = {s.name: sp.Symbol(s.name, real=True) for s in inputs}
    nodes: list[Node] = []

    def visit(e: sp.Expr) -> str:
        if e in memo:
            return memo[e]
        if isinstance(e, sp.Symbol):
            memo[e] = e.name
            return e.name
        if not all(isinstance(a, sp.Expr) for a in e.args):
            raise ValueError(f"cannot split {e} ({type(e).__name__}) into primitive nodes: "
                             "its arguments are not all scalar expressions")
        new_args, operands = [], []
        for a in e.args:
            if not a.free_symbols:
                new_args.append(a)  # a constant stays inside the operation
                continue
            name = visit(a)
            if name not in operands:
                operands.append(name)
            new_args.append(symbol_of[name])
        op = e.func(*new_args)
        name = f"{prefix}{len(nodes) + 1}"
        symbol_of[name] = sp.Symbol(name, real=True)
        at = {symbol_of[o]: sp.Float(_value(o)) for o in operands}
        value = _float(op.xreplace(at), f"{name} = {op}")
        pexprs = tuple(sp.diff(op, symbol_of[o]) for o in operands)
        partials = tuple(_float(p.xreplace(at), f"∂{name}/∂{o} = {p}")
                         for p, o in zip(pexprs, operands, strict=True))
        nodes.append(Node(name, op, tuple(operands), value, pexprs, partials))
        memo[e] = name
        return name

    def _value(name: str) -> float:
        return values[name] if name in values else nodes[int(name[len(prefix):]) - 1].value

    output = visit(expr)

    # Reverse mode: one backward sweep of adjoints from f.
    adjoint = dict.fromkeys([*values, *(n.name for n in nodes)], 0.0)
    adjoint[output] = 1.0
    for n in reversed(nodes):
        for o, p in zip(n.operands, n.partials, strict=True):
            adjoint[o] += adjoint[n.name] * p
    for n in nodes:
        n.adjoint = adjoint[n.name]

    # Forward mode: one sweep of tangents per input.
    for s in inputs:
        tangent = {v: float(v == s.name) for v in values}
        for n in nodes:
            tangent[n.name] = sum(p * tangent[o]
                                  for o, p in zip(n.operands, n.partials, strict=True))
            n.tangents[s.name] = tangent[n.name]
    return ComputationalGraph(expr, inputs, values, nodes, output,
                              {v: adjoint[v] for v in values})


# ------------------------------------------------------------------ numerical vs symbolic


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


# ------------------------------------------------------------------ vanishing gradients


def layer_gradient_norms(depth: int, width: int, activation: str | sp.Lambda = "logistic",
                         seed: int = 0, samples: int = 100, classes: int = 10) -> np.ndarray:
    """Frobenius norms ‖∂R/∂W⁽ˡ⁾‖ for l = 1 .. depth + 1 of a deep MLP at initialization.

    The network has ``depth`` hidden layers of ``width`` units with
    ``activation`` (a name or a SymPy Lambda), ``width`` inputs and a
    softmax output over ``classes``; R is the mean cross-entropy (no
    penalty). Its gradient is compiled with :func:`symnet.compile_grad` and
    evaluated at weights ~ N(0, 1/fan_in), zero biases
    (:func:`symnet.train.init_params`), on ``samples`` N(0, 1) inputs with
    random labels, all drawn from ``numpy.random.default_rng(seed)``.
    Entry l - 1 belongs to layer l; the last one is the output layer.

    >>> norms = layer_gradient_norms(3, 8, 'logistic')
    >>> norms.shape, bool(norms[0] < norms[-1])
    ((4,), True)
    """
    if not isinstance(depth, int | np.integer) or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    for name, v in (("width", width), ("samples", samples), ("classes", classes)):
        if not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    net = MLP([width] * (depth + 1) + [classes], [activation] * depth, output="softmax")
    loss = net.loss("cross_entropy")
    step = compile_grad(loss, net.weights, [net.X, net.labels(), *net.params],
                        name="layer_gradients")
    rng = np.random.default_rng(seed)
    params = init_params(net, rng)
    X = rng.standard_normal((width, samples))
    y = rng.integers(classes, size=samples)
    outs = step(X, y, *[params[str(p)] for p in net.params])
    return np.array([float(np.linalg.norm(g)) for g in outs[1:]])


@dataclass
class GradientNormReport:
    """Per-layer gradient norms of equally initialized deep MLPs, one entry
    per activation (section 4.6.2). Print it for the side-by-side table."""

    depth: int
    width: int
    norms: dict[str, np.ndarray]

    def ratio(self, activation: str) -> float:
        """‖∂R/∂W⁽¹⁾‖ / ‖∂R/∂W⁽ᴸ⁾‖: first layer relative to the output layer."""
        n = self.norms[activation]
        return float(n[0] / n[-1])

    def __str__(self) -> str:
        acts = list(self.norms)
        L = self.depth + 1
        head = (f"‖∂R/∂W⁽ˡ⁾‖_F at initialization: {self.depth} hidden layers of {self.width} "
                f"units, weights ~ N(0, 1/fan_in)")
        rows = []
        for l in range(L):
            tag = " (output)" if l == L - 1 else ""
            rows.append([f"{l + 1}{tag}", *[f"{self.norms[a][l]:.3e}" for a in acts]])
        rows.append(["first/last", *[f"{self.ratio(a):.1e}" for a in acts]])
        note = ("The logistic derivative is at most 1/4, so every layer multiplies the "
                "backpropagated δ by ≤ 1/4 · ‖W‖: early layers barely learn. "
                "ReLU passes δ unchanged where units are active.")
        return "\n".join([head, "", _table(["layer", *acts], rows), "",
                          textwrap.fill(note, 90)])


def vanishing_gradient_report(depth: int = 10, width: int = 32,
                              activations: Sequence[str | sp.Lambda] = ("logistic", "relu"),
                              seed: int = 0, samples: int = 100) -> GradientNormReport:
    """Per-layer gradient norms of the same deep MLP with each activation.

    Returns a :class:`GradientNormReport`; ``print`` it for logistic vs
    ReLU side by side. Both networks see the same inputs and labels, drawn
    from ``seed`` (see :func:`layer_gradient_norms`).

    >>> r = vanishing_gradient_report(depth=4, width=8)
    >>> r.ratio('logistic') < r.ratio('relu')
    True
    """
    norms = {str(a): layer_gradient_norms(depth, width, a, seed=seed, samples=samples)
             for a in activations}
    return GradientNormReport(depth, width, norms)


def plot_gradient_norms(report: GradientNormReport | Mapping[str, Sequence[float]],
                        path: str | Path) -> Path:
    """Write a PNG of gradient norm per layer (log scale), one line per activation.

    ``report`` is a :class:`GradientNormReport` or a mapping from a label to
    the norms of layers 1, 2, .... Needs matplotlib: raises ImportError
    naming ``pip install symnet[plot]`` if it is missing. Returns the path.
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install symnet[plot]") from None
    norms = report.norms if isinstance(report, GradientNormReport) else dict(report)
    if not norms:
        raise ValueError("no gradient norms to plot")
    path = Path(path)
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for label, values in norms.items():
        values = np.asarray(values, dtype=float)
        ax.semilogy(np.arange(1, len(values) + 1), values, "o-", label=label)
    ax.set(xlabel="layer $l$", ylabel=r"$\|\partial R / \partial W^{(l)}\|_F$",
           title="gradient norm per layer at initialization")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.savefig(path, format="png", dpi=100)
    return path
