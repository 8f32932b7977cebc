"""Light simplification of small elementwise bodies (derivatives, fused chains)."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from . import ops

__all__ = ["SELECT_FOLDS", "SIMPLIFY_REWRITES", "STABLE_REGROUPS", "fold_selects", "simplify_body"]


#: Identities tried on derivative bodies, as (matches, rewrite) rows; the
#: result is kept only if it is smaller. sigma(-u) = 1 - sigma(u).
SIMPLIFY_REWRITES: tuple[tuple[Callable, Callable], ...] = (
    (lambda e: isinstance(e, ops.logistic) and e.args[0].could_extract_minus_sign(),
     lambda e: 1 - ops.logistic(-e.args[0])),
)


def _complements(add: sp.Add) -> sp.Expr:
    """a - a*sigma(u) (any term a) becomes a*(1 - sigma(u)): where sigma(u)
    rounds to 1, the difference of two large terms (SiLU's x - x*sigma(x) at
    x > 2^53) loses everything, while 1 - sigma(u) is exactly 0."""
    terms = list(add.args)
    for k, t in enumerate(terms):
        for f in sp.Mul.make_args(t):
            if not isinstance(f, ops.logistic):
                continue
            a = -t / f
            if a in terms:
                j = terms.index(a)
                rest = [x for i, x in enumerate(terms) if i not in (j, k)]
                return sp.Add(*rest, sp.Mul(a, 1 - f, evaluate=False))
    return add


def _is_indicator(e: sp.Expr) -> bool:
    return isinstance(e, sp.Piecewise) and all(p.expr.is_Number for p in e.args)


def _fold_indicator(mul: sp.Mul) -> sp.Expr:
    """[c] * X becomes Piecewise((X, c), (0, True)): the product would give
    0 * inf = NaN where X overflows on the side the indicator switches off
    (ELU's exp(x) - 1 at x = 1e10); a select never evaluates into the result."""
    k = next(k for k, f in enumerate(mul.args) if _is_indicator(f))
    ind, rest = mul.args[k], sp.Mul(*mul.args[:k], *mul.args[k + 1:])
    return sp.Piecewise(*[(p.expr * rest, p.cond) for p in ind.args])


def _merge_selects(add: sp.Add) -> sp.Expr:
    """Piecewise terms with the same conditions become one Piecewise of the
    branch sums (the partials of each branch of a Piecewise meet here)."""
    groups: dict[tuple, list[sp.Piecewise]] = {}
    rest = []
    for t in add.args:
        if isinstance(t, sp.Piecewise):
            groups.setdefault(tuple(p.cond for p in t.args), []).append(t)
        else:
            rest.append(t)
    if all(len(ts) == 1 for ts in groups.values()):
        return add
    merged = [sp.Piecewise(*[(sp.Add(*[t.args[k].expr for t in ts]), cond)
                             for k, cond in enumerate(conds)])
              for conds, ts in groups.items()]
    return sp.Add(*rest, *merged)


#: Piecewise rewrites, applied to every derivative body whatever its size
#: (each is linear in it): indicators fold into selects, selects over the
#: same conditions merge.
SELECT_FOLDS: tuple[tuple[Callable, Callable], ...] = (
    (lambda e: isinstance(e, sp.Mul) and any(_is_indicator(f) for f in e.args),
     _fold_indicator),
    (lambda e: isinstance(e, sp.Add) and sum(isinstance(t, sp.Piecewise) for t in e.args) > 1,
     _merge_selects),
)


def fold_selects(e: sp.Expr) -> sp.Expr:
    """Products with a 0/1 Piecewise become selects, selects over the same
    conditions merge, so a branch not chosen never reaches the value.

    >>> x = sp.Symbol("_0")
    >>> fold_selects(sp.Piecewise((0, x > 0), (1, True)) * sp.exp(x)
    ...              + sp.Piecewise((1, x > 0), (0, True)))
    Piecewise((1, _0 > 0), (exp(_0), True))
    """
    if not e.has(sp.Piecewise):
        return e
    for pat, rep in SELECT_FOLDS:
        e = e.replace(pat, rep)
    return e


#: Regroupings applied after expansion and factoring: forms that stay exact
#: at the extremes, as (matches, rewrite) rows.
STABLE_REGROUPS: tuple[tuple[Callable, Callable], ...] = (
    (lambda e: isinstance(e, sp.Add) and e.has(ops.logistic), _complements),
)


def simplify_body(e: sp.Expr, limit: int = 60) -> sp.Expr:
    """Light simplification of a small derivative body; never grows it.

    >>> z, y = sp.symbols("_0 _1")
    >>> simplify_body(-y * ops.logistic(-z) + (1 - y) * ops.logistic(z))
    -_1 + logistic(_0)
    """
    e = fold_selects(e)
    if e.is_Atom or sp.count_ops(e) > limit:
        return e
    cand = e
    for pat, rep in SIMPLIFY_REWRITES:
        cand = cand.replace(pat, rep)
    cand = sp.expand(cand)
    cand = sp.factor_terms(cand)
    for pat, rep in STABLE_REGROUPS:
        cand = cand.replace(pat, rep)
    if sp.count_ops(cand) < sp.count_ops(e):
        return cand
    return e
