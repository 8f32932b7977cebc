"""Reverse-mode derivation over the matrix-level Graph (backpropagation).

Each node kind has one rule in ``RULES`` that maps the adjoint G of a node's
output to adjoint contributions for its arguments. Elementwise bodies are
differentiated by reverse accumulation over their own scalar SymPy DAG, with
each head's partial derivative taken from its registry row's ``partials``
or the head's ``fdiff`` (so activations use the derivatives of table 4.1).
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from . import registry
from .errors import NoDependenceError, ShapeError
from .graph import VARS, Graph, Node
from .registry.linalg import LINALG_ROWS
from .simplify import simplify_body

__all__ = ["NoDependenceError", "RULES", "body_partials", "derive"]


def _override(head: type):
    row = registry.lookup(head)
    return row.partials if row is not None else None


def _partial(e: sp.Expr, k: int) -> sp.Expr:
    rule = _override(type(e))
    if rule is not None:
        return rule(e.args, k)
    return e.fdiff(k + 1)


def _postorder(body: sp.Expr) -> list[sp.Expr]:
    seen: set[sp.Expr] = set()
    order: list[sp.Expr] = []
    stack: list[tuple[sp.Expr, bool]] = [(body, False)]
    while stack:
        e, done = stack.pop()
        if done:
            order.append(e)
            continue
        if e in seen:
            continue
        seen.add(e)
        stack.append((e, True))
        for a in reversed(e.args):
            if a not in seen:
                stack.append((a, False))
    return order


def body_partials(body: sp.Expr, nvars: int) -> list[sp.Expr]:
    """d body / d VARS[i] for i < nvars, by reverse accumulation on the body's DAG.

    >>> from symnet import ops
    >>> x, y = VARS[0], VARS[1]
    >>> body_partials(ops.logistic(x * y), 2)
    [_1*(1 - logistic(_0*_1))*logistic(_0*_1), _0*(1 - logistic(_0*_1))*logistic(_0*_1)]
    """
    order = _postorder(body)
    depends: dict[sp.Expr, bool] = {}
    wanted = set(VARS[:nvars])
    for e in order:
        depends[e] = e in wanted or any(depends.get(a, False) for a in e.args)
    adj: dict[sp.Expr, sp.Expr] = {body: sp.S.One}
    for e in reversed(order):
        a = adj.get(e)
        if a is None or not e.args or not depends[e]:
            continue
        if e.is_Add:
            contribs = [(t, a) for t in e.args]
        elif e.is_Mul:
            contribs = [(t, a * sp.Mul(*(e.args[:k] + e.args[k + 1:])))
                        for k, t in enumerate(e.args)]
        elif e.is_Pow:
            b, p = e.args
            contribs = [(b, a * p * b ** (p - 1)), (p, a * e * sp.log(b))]
        else:
            row = registry.lookup(type(e))
            if row is not None and row.adjoint is not None:
                contribs = row.adjoint(e, a)
            else:
                contribs = [(t, a * _partial(e, k)) for k, t in enumerate(e.args)
                            if depends.get(t, False)]
        for t, c in contribs:
            if depends.get(t, False):
                adj[t] = adj[t] + c if t in adj else c
    return [simplify_body(adj.get(v, sp.S.Zero)) for v in VARS[:nvars]]


# ------------------------------------------------------------ matrix rules
# rule(g, i, node, G) -> [(arg position, contribution node)]


def _rule_matmul(g: Graph, i: int, n: Node, G: int):
    a, b = n.args
    ta, tb = n.attr
    da = g.matmul(b, G, tb, True) if ta else g.matmul(G, b, False, not tb)
    db = g.matmul(G, a, True, ta) if tb else g.matmul(a, G, not ta, False)
    return [(0, da), (1, db)]


def _rule_transpose(g: Graph, i: int, n: Node, G: int):
    return [(0, g.transpose(G))]


def _rule_reduce(g: Graph, i: int, n: Node, G: int):
    return [(0, g.ew(VARS[0], [G], g.shape(n.args[0])))]


def _rule_ew(g: Graph, i: int, n: Node, G: int):
    k = len(n.args)
    gvar, own = VARS[k], VARS[k + 1]
    out = []
    for pos, partial in enumerate(body_partials(n.attr, k)):
        if partial == 0:
            continue
        # Reuse the node's own output where its derivative mentions it
        # (logistic' = a (1 - a), tanh' = 1 - a^2, exp' = a).
        partial = partial.xreplace({n.attr: own}) if n.attr.args else partial
        out.append((pos, g.ew(gvar * partial, list(n.args) + [G, i], n.shape)))
    return out


RULES: dict[str, Callable[[Graph, int, Node, int], list[tuple[int, int]]]] = {
    "leaf": lambda g, i, n, G: [],
    "const": lambda g, i, n, G: [],
    "matmul": _rule_matmul,
    "transpose": _rule_transpose,
    "reduce": _rule_reduce,
    "ew": _rule_ew,
    # Column and linear-algebra ops: their rows in the registry hold their rules.
    **{r.op: r.derive for r in registry.COLUMN_ROWS},
    **{r.op: r.derive for r in LINALG_ROWS},
}


def _unbroadcast(g: Graph, contrib: int, shape) -> int:
    """Sum a contribution over the axes its target was broadcast along."""
    cr, cc = g.shape(contrib)
    r, c = shape
    if r == 1 and cr != 1:
        contrib = g.reduce(contrib, 0)
    if c == 1 and cc != 1:
        contrib = g.reduce(contrib, 1)
    return contrib


def derive(g: Graph, loss: int, wrt: list[int], seed: int | None = None,
           stop: frozenset[int] = frozenset()) -> tuple[list[int], dict[int, int]]:
    """Add the adjoint of ``loss`` w.r.t. each node in ``wrt`` to ``g``.

    Returns the gradient node ids (one per ``wrt``) and the map from each
    forward node to its adjoint node. ``seed`` is the cotangent of ``loss``
    (a node of its shape; default 1, and ``loss`` must be a scalar): with it
    the result is the vector-Jacobian product seed^T J. Adjoints do not
    propagate past the nodes in ``stop`` (held constant, as a stop-gradient).
    """
    if seed is None:
        if g.shape(loss) != (1, 1):
            r, c = g.shape(loss)
            raise ShapeError(f"the loss must be a scalar, got a {r} x {c} matrix")
        seed = g.const(1)
    elif g.shape(seed) != g.shape(loss):
        raise ShapeError(f"the cotangent's shape {g.shape(seed)} is not the output's "
                         f"{g.shape(loss)}")
    needed = g.live([loss])
    contribs: dict[int, list[int]] = {loss: [seed]}
    adjoint: dict[int, int] = {}
    for i in range(loss, -1, -1):
        if not needed[i] or i not in contribs:
            continue
        n = g.nodes[i]
        parts = contribs.pop(i)
        G = parts[0] if len(parts) == 1 else g.ew(sp.Add(*VARS[: len(parts)]), parts, n.shape)
        adjoint[i] = G
        if g.is_const(G, 0) or i in stop:
            continue
        for pos, c in RULES[n.op](g, i, n, G):
            a = n.args[pos]
            c = _unbroadcast(g, c, g.shape(a))
            contribs.setdefault(a, []).append(c)
    # A variable the loss reaches only through flat pieces (sign, Heaviside,
    # a step) got no contribution: its gradient is zero almost everywhere.
    out = [adjoint[w] if w in adjoint else g.const(0, g.shape(w)) for w in wrt]
    return out, adjoint
