"""Fusion: inline single-use elementwise producers into their elementwise users."""

from __future__ import annotations

import sympy as sp

from ..graph import Graph, Node, inline_args, rebuild
from ..simplify import simplify_body


def _cheap(body) -> bool:
    # A condition (a Piecewise's test, shared by CSE) is not an Expr.
    return isinstance(body, sp.Expr) and body.is_polynomial() and sp.count_ops(body) <= 2


def fuse(g: Graph) -> Graph:
    """Merge chains of elementwise nodes so each chain is one loop.

    A producer is inlined into its user when that is its only use (or it is
    a cheap polynomial) and it carries no name (named nodes, z, a and
    delta, stay visible in formulas and generated code).
    """
    users = g.users()
    for o in g.outputs:
        users[o].append(-1)

    def fn(new: Graph, i: int, n: Node, args: list[int]) -> int:
        if n.op != "ew":
            return -1
        olds = dict(zip(args, n.args, strict=True))

        def single_use(a: int) -> bool:
            old, src = olds[a], new.nodes[a]
            if old in g.names or src.shape != n.shape:
                return False
            # Recomputing a cheap polynomial (1 - y, -x/m) beats storing it,
            # and lets the user's body simplify against it.
            return len(users[old]) == 1 or _cheap(src.attr)

        if not any(new.nodes[a].op == "ew" and single_use(a) for a in args):
            return -1
        body, flat = inline_args(new, n.attr, args, single_use)
        return new.ew(simplify_body(body), flat, n.shape)

    return rebuild(g, fn)[0]
