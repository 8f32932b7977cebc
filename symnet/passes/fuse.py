"""Fusion: inline single-use elementwise producers into their elementwise users."""

from __future__ import annotations

from ..derive import simplify_body
from ..graph import Graph, Node, inline_args, rebuild


def fuse(g: Graph) -> Graph:
    """Merge chains of elementwise nodes so each chain is one loop.

    A producer is inlined into its user when that is its only use, it is not
    an output and it carries no name (named nodes, z, a and delta, stay
    visible in formulas and generated code).
    """
    users = g.users()
    for o in g.outputs:
        users[o].append(-1)

    def fn(new: Graph, i: int, n: Node, args: list[int]) -> int:
        if n.op != "ew":
            return -1
        olds = dict(zip(args, n.args, strict=True))

        def single_use(a: int) -> bool:
            old = olds[a]
            return (len(users[old]) == 1 and old not in g.names
                    and new.nodes[a].shape == n.shape)

        if not any(new.nodes[a].op == "ew" and single_use(a) for a in args):
            return -1
        body, flat = inline_args(new, n.attr, args, single_use)
        return new.ew(simplify_body(body), flat, n.shape)

    return rebuild(g, fn)[0]
