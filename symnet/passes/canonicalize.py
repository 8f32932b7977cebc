"""Canonicalization: algebraic clean-ups that make equal things look equal."""

from __future__ import annotations

from collections.abc import Callable

from .. import ops
from ..graph import VARS, Graph, Node, rebuild
from .rules import first_rule


def _sum_of_scaled(new: Graph, i: int, n: Node, args: list[int]) -> int:
    """sum(c * A) -> c * sum(A) for c free of the entries (pulls 1/m out)."""
    if n.op != "reduce":
        return -1
    src = new.nodes[args[0]]
    if src.op != "ew" or len(src.args) != 1 or new.shape(src.args[0]) != src.shape:
        return -1
    coeff, rest = src.attr.as_independent(VARS[0], as_Add=False)
    if rest != VARS[0] or VARS.among(coeff.free_symbols):
        return -1
    return new.ew(coeff * VARS[0], [new.reduce(src.args[0], n.attr)])


def _onehot_column_sums(new: Graph, i: int, n: Node, args: list[int]) -> int:
    """Columns of a OneHot label matrix sum to one (so all of it sums to m)."""
    if n.op != "reduce" or n.attr == 1:
        return -1
    src = new.nodes[args[0]]
    if src.op == "leaf" and isinstance(src.attr, ops.OneHot):
        if n.attr == 0:
            return new.const(1, (1, src.shape[1]))
        return new.const(src.shape[1])
    return -1


#: Rewrite rows, tried in order on every node; a row returns -1 to pass.
RULES: tuple[Callable[[Graph, int, Node, list[int]], int], ...] = (
    _onehot_column_sums,
    _sum_of_scaled,
)


def canonicalize(g: Graph) -> Graph:
    """Apply ``RULES`` bottom-up (builders already fold constants, transposes
    and identities).

    >>> from symnet.frontend import to_graph
    >>> Y = ops.OneHot('Y', 3, 4)
    >>> g, _ = to_graph([ops.matsum(-Y / 4)])
    >>> print(canonicalize(g).table())
    %0             const       1 x 1        [] -1  <- output
    """

    fn = first_rule(RULES)
    # A rule may build nodes other rules would rewrite: repeat to a fixpoint.
    for _ in range(8):
        new = rebuild(g, fn)[0]
        if new.nodes == g.nodes:
            break
        g = new
    return new
