"""The computational graph of a scalar formula, both modes at a point (figure 4.10)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import sympy as sp

from .modes import ModesSummary, modes_summary
from .tables import _fmt, _table


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
