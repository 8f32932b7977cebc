"""Graph -> Graph passes, and the one place that declares their order."""

from __future__ import annotations

from collections.abc import Callable

from ..graph import Graph, verify
from .canonicalize import canonicalize
from .columns import share_logsumexp
from .cse import cse
from .fuse import fuse
from .hoist import hoist
from .stabilize import stabilize

__all__ = ["CODEGEN_PASSES", "FORWARD_PASSES", "LOWERING_PASSES", "run_passes", "canonicalize",
           "stabilize", "fuse", "cse", "share_logsumexp", "hoist"]

Pass = Callable[[Graph], Graph]

#: Before derivation: stable forms first, so the derivative rules see
#: log-softmax and softplus instead of log(softmax) and log(logistic).
FORWARD_PASSES: tuple[tuple[str, Pass], ...] = (
    ("canonicalize", canonicalize),
    ("stabilize", stabilize),
    ("cse", cse),
)

#: After derivation: clean up, fuse elementwise chains, share what is equal.
LOWERING_PASSES: tuple[tuple[str, Pass], ...] = (
    ("canonicalize", canonicalize),
    ("stabilize", stabilize),
    ("fuse", fuse),
    ("cse", cse),
)


#: Just before scheduling, for the generated code only (the printed gradients
#: are read from the graph before these): shared work of column ops, then the
#: elementwise chains that rewrite leaves fused again, then their per-row,
#: per-column and per-step parts computed once (after fusion, which would
#: otherwise see them as producers to inline again).
CODEGEN_PASSES: tuple[tuple[str, Pass], ...] = (
    ("share_logsumexp", share_logsumexp),
    ("fuse", fuse),
    ("cse", cse),
    ("hoist", hoist),
)


def run_passes(g: Graph, passes: tuple[tuple[str, Pass], ...],
               trace: Callable[[str, Graph], None] | None = None) -> Graph:
    """Run passes in order, verifying the graph after each one."""
    for name, p in passes:
        g = p(g)
        verify(g)
        if trace is not None:
            trace(name, g)
    return g
