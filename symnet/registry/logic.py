"""Rows of Piecewise and its conditions: relations and boolean connectives.

Conditions are values of their own kind (a backend's booleans); ``Piecewise``
picks among branches with branch-free selects, first true condition wins,
and is NaN where no condition holds (as SymPy leaves it undefined there).
"""

from __future__ import annotations

import sympy as sp
from sympy.functions.elementary.piecewise import ExprCondPair

from . import Op, register

#: SymPy classes that only structure a Piecewise (no value of their own).
STRUCTURAL: tuple[type, ...] = (ExprCondPair, sp.logic.boolalg.BooleanTrue,
                                sp.logic.boolalg.BooleanFalse)

_RELATIONS = {sp.StrictLessThan: "<", sp.LessThan: "<=", sp.StrictGreaterThan: ">",
              sp.GreaterThan: ">=", sp.Equality: "==", sp.Unequality: "!="}


def condition(b, c, emit):
    """A condition's value: SymPy's true/false, or an emitted relation."""
    if c is sp.true:
        return b.truth(True)
    if c is sp.false:
        return b.truth(False)
    return emit(c)


def _relation(op: str):
    def form(b, e, emit):
        return b.cmp(op, emit(e.args[0]), emit(e.args[1]))

    form.__doc__ = f"fcmp `{op}`"
    form.__qualname__ = f"relation_{op}"
    return form


def _connective(method: str, doc: str):
    def form(b, e, emit):
        vals = [condition(b, a, emit) for a in e.args]
        out = vals[0]
        for v in vals[1:]:
            out = getattr(b, method)(out, v)
        return out

    form.__doc__ = doc
    form.__qualname__ = f"connective_{method}"
    return form


def _not(b, e, emit):
    """not of a condition"""
    return b.negate(condition(b, e.args[0], emit))


def _piecewise(b, e, emit):
    """select chain (all branches computed, first true condition wins)"""
    out = b.const(float("nan"))
    for pair in reversed(e.args):
        expr, cond = pair.args
        if cond is sp.true:
            out = emit(expr)
        elif cond is not sp.false:
            out = b.pick(condition(b, cond, emit), emit(expr), out)
    return out


def piecewise_partial(e: sp.Piecewise, k: int) -> sp.Expr:
    """d Piecewise / d (branch k's expression): 1 where branch k is the one chosen."""
    pieces = [(sp.S.Zero, pair.cond) for pair in e.args[:k]]
    return sp.Piecewise(*pieces, (sp.S.One, e.args[k].cond), (sp.S.Zero, True))


for _cls, _op in _RELATIONS.items():
    register(Op(_cls, _relation(_op)))
register(Op(sp.And, _connective("both", "and of conditions")))
register(Op(sp.Or, _connective("either", "or of conditions")))
register(Op(sp.Not, _not))
def _piecewise_adjoint(e: sp.Piecewise, a: sp.Expr) -> list:
    return [(pair.expr, a * piecewise_partial(e, k)) for k, pair in enumerate(e.args)]


register(Op(sp.Piecewise, _piecewise, adjoint=_piecewise_adjoint,
            example=lambda x: sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True)),  # ELU
            kinks=(0.0,)))
