"""Forward mode on the matrix graph: tangents by forward accumulation (the R-operator).

Each node kind has one rule in ``RULES`` mapping the tangents of a node's
arguments (``None`` where an argument does not depend on the seeds) to the
node's tangent, the same table structure as reverse mode in
:mod:`symnet.derive`. Column and linear-algebra ops keep their rules in
their registry rows. For a dense layer this is Pearlmutter's R-operator::

    R{z} = R{W} a + W R{a} + R{b},     R{a} = f'(z) * R{z}

Run over a graph that already holds a derived gradient, it gives the
directional derivative of the gradient: a Hessian-vector product by
forward-over-reverse, never forming the Hessian.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from . import registry
from .derive import body_partials
from .graph import VARS, Graph, Node
from .registry.linalg import LINALG_ROWS

__all__ = ["RULES", "tangents"]

Tangent = int | None


def _sum(g: Graph, parts: list[Tangent], shape) -> Tangent:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return g.ew(sp.Add(*VARS[: len(parts)]), parts, shape)


def _fwd_matmul(g: Graph, i: int, n: Node, T: list[Tangent]) -> Tangent:
    a, b = n.args
    ta, tb = n.attr
    da, db = T
    return _sum(g, [None if da is None else g.matmul(da, b, ta, tb),
                    None if db is None else g.matmul(a, db, ta, tb)], n.shape)


def _fwd_transpose(g: Graph, i: int, n: Node, T: list[Tangent]) -> Tangent:
    return None if T[0] is None else g.transpose(T[0])


def _fwd_reduce(g: Graph, i: int, n: Node, T: list[Tangent]) -> Tangent:
    return None if T[0] is None else g.reduce(T[0], n.attr)


def _fwd_ew(g: Graph, i: int, n: Node, T: list[Tangent]) -> Tangent:
    # R{f(x_1..x_k)} = sum_j df/dx_j R{x_j}, the partials from the body's DAG.
    k = len(n.args)
    moving = [j for j in range(k) if T[j] is not None]
    if not moving:
        return None
    partials = body_partials(n.attr, k)
    own = VARS[k + len(moving)]
    terms = []
    for slot, j in enumerate(moving):
        p = partials[j]
        if p == 0:
            continue
        # Reuse the node's own output where a partial mentions it (sigma' = a (1 - a)).
        p = p.xreplace({n.attr: own}) if n.attr.args else p
        terms.append(VARS[k + slot] * p)
    if not terms:
        return None
    args = list(n.args) + [T[j] for j in moving] + [i]
    return g.ew(sp.Add(*terms), args, n.shape)


def _column(row) -> Callable[[Graph, int, Node, list[Tangent]], Tangent]:
    def rule(g: Graph, i: int, n: Node, T: list[Tangent]) -> Tangent:
        return None if T[0] is None else row.forward(g, i, n, T[0])
    return rule


RULES: dict[str, Callable[[Graph, int, Node, list[Tangent]], Tangent]] = {
    "leaf": lambda g, i, n, T: None,
    "const": lambda g, i, n, T: None,
    "matmul": _fwd_matmul,
    "transpose": _fwd_transpose,
    "reduce": _fwd_reduce,
    "ew": _fwd_ew,
    # Column and linear-algebra ops: their rows in the registry hold their rules.
    **{r.op: _column(r) for r in registry.COLUMN_ROWS},
    **{r.op: (lambda row: lambda g, i, n, T: (None if all(t is None for t in T)
                                                  else row.forward(g, i, n, T)))(r)
       for r in LINALG_ROWS},
}


def tangents(g: Graph, seeds: dict[int, int], targets: list[int],
             block: frozenset[int] = frozenset()) -> tuple[list[int], dict[int, int]]:
    """Add to ``g`` the tangent of each of ``targets`` given the tangent
    nodes ``seeds`` (node id -> its tangent node), by forward accumulation in
    node order (the graph is topologically ordered). A target the seeds do
    not reach gets a zero of its shape; nodes in ``block`` are held constant.

    Returns the target tangents and the map from each node the seeds reach
    to its tangent node (the R{.} of every intermediate, for printing).

    >>> from symnet.frontend import Frontend
    >>> x, v = sp.symbols('x v')
    >>> fe = Frontend()
    >>> f = fe.add(sp.sin(x) * x)
    >>> (t,), _ = tangents(fe.g, {fe.g.find_leaf(x): fe.add(v)}, [f])
    >>> from symnet.tosympy import ToSympy
    >>> ToSympy(fe.g)(t)
    v*(x*cos(x) + sin(x))
    """
    needed = g.live(targets)
    tan: dict[int, int] = {}
    top = max(targets, default=-1)
    for i in range(top + 1):
        if i in seeds:
            tan[i] = seeds[i]
            continue
        if not needed[i] or i in block:
            continue
        n = g.nodes[i]
        T = [tan.get(a) for a in n.args]
        if all(t is None for t in T):
            continue
        t = RULES[n.op](g, i, n, T)
        if t is not None:
            tan[i] = t
    return [tan[t] if t in tan else g.const(0, g.shape(t)) for t in targets], tan
