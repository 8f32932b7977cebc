"""Light simplification of small elementwise bodies (derivatives, fused chains)."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from . import ops

__all__ = ["SIMPLIFY_REWRITES", "simplify_body"]


#: Identities tried on derivative bodies, as (matches, rewrite) rows; the
#: result is kept only if it is smaller. sigma(-u) = 1 - sigma(u).
SIMPLIFY_REWRITES: tuple[tuple[Callable, Callable], ...] = (
    (lambda e: isinstance(e, ops.logistic) and e.args[0].could_extract_minus_sign(),
     lambda e: 1 - ops.logistic(-e.args[0])),
)


def simplify_body(e: sp.Expr, limit: int = 60) -> sp.Expr:
    """Light simplification of a small derivative body; never grows it.

    >>> z, y = sp.symbols("_0 _1")
    >>> simplify_body(-y * ops.logistic(-z) + (1 - y) * ops.logistic(z))
    -_1 + logistic(_0)
    """
    if e.is_Atom or sp.count_ops(e) > limit:
        return e
    cand = e
    for pat, rep in SIMPLIFY_REWRITES:
        cand = cand.replace(pat, rep)
    cand = sp.expand(cand)
    cand = sp.factor_terms(cand)
    if sp.count_ops(cand) < sp.count_ops(e):
        return cand
    return e
