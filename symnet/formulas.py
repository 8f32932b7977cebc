"""Textbook names (z, a, delta) for graph nodes and gradient equations to print."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .graph import COLUMN_OPS, VARS, Graph
from .tosympy import ToSympy

__all__ = ["Formulas", "Gradients", "equations", "name_layers", "name_nodes"]


def _is_nonlinear(g: Graph, i: int) -> bool:
    n = g.nodes[i]
    if n.op in COLUMN_OPS:
        return True
    return n.op == "ew" and any(isinstance(f, sp.Function) for f in sp.preorder_traversal(n.attr))


def _is_activation(g: Graph, i: int) -> bool:
    """softmax(z) or f(z, ...) for a function head f: what deserves the name a."""
    n = g.nodes[i]
    if n.op == "softmax":
        return True
    return n.op == "ew" and (isinstance(n.attr, sp.Function) or (
        len(n.args) == 1 and n.attr.has(sp.Function)))


def _is_affine(g: Graph, i: int) -> bool:
    n = g.nodes[i]
    if n.op == "matmul":
        return True
    if n.op != "ew" or not any(g.nodes[a].op == "matmul" for a in n.args):
        return False
    poly = sp.Poly(n.attr, *VARS[: len(n.args)]) if n.attr.is_polynomial(
        *VARS[: len(n.args)]) else None
    return poly is not None and poly.total_degree() <= 1


def name_layers(g: Graph, adjoint: dict[int, int], loss: int) -> None:
    """Name pre-activations z1, z2, ..., their activations a1, a2, ... and the
    adjoints of the pre-activations delta1, delta2, ... (eq. 4.54)."""
    users = g.users()
    forward = set(range(loss + 1))
    k = 0
    for i in range(loss + 1):
        if i in g.names or not _is_affine(g, i):
            continue
        acts = [u for u in users[i] if _is_nonlinear(g, u) and set(g.nodes[u].args) <= forward]
        if not acts:
            continue
        k += 1
        g.names[i] = f"z{k}"
        acts.sort(key=lambda u: (g.nodes[u].op != "softmax", u))
        if acts[0] not in g.names and _is_activation(g, acts[0]):
            g.names[acts[0]] = f"a{k}"
        d = adjoint.get(i)
        if d is not None and d not in g.names and g.nodes[d].op not in ("leaf", "const"):
            g.names[d] = f"delta{k}"


def name_nodes(g: Graph, nodes: list[int], names: list[str]) -> None:
    """Name computed nodes (gradients dW1, db1; updates W1_new) unless a node
    already has a name, is an input or constant, or the name is taken.

    >>> from symnet.frontend import to_graph
    >>> x = sp.Symbol("x")
    >>> g, (f,) = to_graph([2 * x])
    >>> name_nodes(g, [f], ["dx"]); g.names[f]
    'dx'
    """
    taken = set(g.names.values())
    for i, name in zip(nodes, names, strict=True):
        if i in g.names or g.nodes[i].op in ("leaf", "const") or name in taken:
            continue
        g.names[i] = name
        taken.add(name)


def _symbol_for(g: Graph, i: int, name: str) -> sp.Basic:
    r, c = g.shape(i)
    if (r, c) == (1, 1):
        return sp.Symbol(name)
    return sp.MatrixSymbol(name, r, c)


def equations(g: Graph, roots: list[int]) -> tuple[list[tuple[sp.Basic, sp.Basic]], list[sp.Basic]]:
    """Definitions of the named nodes the roots use, and the roots in terms of them."""
    alive = g.live(roots)
    named = {i: _symbol_for(g, i, nm) for i, nm in sorted(g.names.items()) if alive[i]}
    conv = ToSympy(g, named)
    defs = [(sym, conv.expr(i)) for i, sym in named.items() if i not in roots]
    return defs, [conv(r) if r not in named else conv.expr(r) for r in roots]


@dataclass
class _Eq:
    lhs: sp.Basic
    rhs: sp.Basic


class Formulas(list):
    """Derived expressions (plain SymPy, one per result) plus the equations
    they were derived by, for printing.

    ``str()``, ``pretty()`` and ``latex()`` (``_repr_latex_`` in Jupyter)
    show the definitions of the named intermediates, then each result by its
    label; the list items are fully expanded SymPy expressions that
    ``subs``, ``doit`` and ``latex`` accept.
    """

    def __init__(self, exprs, defs, named, labels: list[tuple[str, sp.Basic, str]]):
        super().__init__(exprs)
        self.definitions = [_Eq(a, b) for a, b in defs]
        self.named = list(named)
        #: (text, pretty-printable, LaTeX) label of each result
        self.labels = list(labels)

    def __str__(self) -> str:
        lines = [f"{e.lhs} = {e.rhs}" for e in self.definitions]
        lines += [f"{t} = {x}" for (t, _, _), x in zip(self.labels, self.named, strict=True)]
        return "\n".join(lines)

    def pretty(self) -> str:
        eqs = [(e.lhs, e.rhs) for e in self.definitions]
        eqs += [(p, x) for (_, p, _), x in zip(self.labels, self.named, strict=True)]
        return "\n".join(sp.pretty(sp.Eq(a, b, evaluate=False)) for a, b in eqs)

    def latex(self) -> str:
        rows = [f"{sp.latex(e.lhs)} &= {sp.latex(e.rhs)}" for e in self.definitions]
        rows += [f"{t} &= {sp.latex(x)}"
                 for (_, _, t), x in zip(self.labels, self.named, strict=True)]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return "$" + self.latex() + "$"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list.__repr__(self)})"


class Gradients(Formulas):
    """The gradients (plain SymPy expressions, one per variable) plus the
    backpropagation equations they were derived by, for printing.

    ``str()`` and ``_repr_latex_`` show the equations with the named
    intermediates z, a and delta; the list items are fully expanded SymPy
    expressions that ``subs``, ``doit`` and ``latex`` accept.
    """

    def __init__(self, exprs, wrt, defs, named, loss_name: str = "L"):
        self.wrt = list(wrt)
        self.loss_name = loss_name
        labels = [(f"d{loss_name}/d{w}", sp.Symbol(f"∂{loss_name}/∂{sp.pretty(w)}"),
                   r"\frac{\partial %s}{\partial %s}" % (loss_name, sp.latex(w)))
                  for w in self.wrt]
        super().__init__(exprs, defs, named, labels)
