"""Column ops sharing their work: softmax and log-softmax of one matrix from one log-sum-exp."""

from __future__ import annotations

import sympy as sp

from ..graph import VARS, Graph, Node, rebuild

__all__ = ["share_logsumexp"]

#: Each column op as an elementwise body over (z, logsumexp(z)).
_FROM_LSE = {"softmax": sp.exp(VARS[0] - VARS[1]), "log_softmax": VARS[0] - VARS[1]}


def share_logsumexp(g: Graph) -> Graph:
    """Where a kernel needs both softmax(z) and log_softmax(z) (the loss and its
    gradient), compute the column maxima, exponentials and sums once, as
    lse = logsumexp(z): log_softmax(z) = z - lse and softmax(z) = exp(z - lse).

    A derivative rule creates its own softmax next to the loss's log_softmax,
    and CSE cannot merge two different ops. Only code generation runs this
    pass: the printed gradients keep softmax(z).

    >>> from symnet.frontend import to_graph
    >>> from symnet import ops
    >>> z = sp.MatrixSymbol('z', 3, 2)
    >>> g, _ = to_graph([ops.softmax(z), ops.log_softmax(z)])
    >>> sorted(n.op for n in share_logsumexp(g).live_nodes())
    ['ew', 'ew', 'leaf', 'logsumexp']
    """
    alive = g.live()
    ops: dict[int, set[str]] = {}
    for i, n in enumerate(g.nodes):
        if alive[i] and n.op in _FROM_LSE:
            ops.setdefault(n.args[0], set()).add(n.op)
    both = {z for z, kinds in ops.items() if len(kinds) == len(_FROM_LSE)}
    if not both:
        return g

    def fn(new: Graph, i: int, n: Node, args: list[int]) -> int:
        if n.op not in _FROM_LSE or n.args[0] not in both:
            return -1
        lse = new.column_op("logsumexp", args[0])  # hash-consed: one for both ops
        return new.ew(_FROM_LSE[n.op], [args[0], lse], n.shape)

    return rebuild(g, fn)[0]
