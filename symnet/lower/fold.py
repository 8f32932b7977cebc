"""GEMM folds: a product consumed only by an in-place update becomes one GEMM."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..graph import VARS
from ..schedule import Step
from .group import Group

__all__ = ["Fold", "find_folds"]


@dataclass(frozen=True)
class Fold:
    """A product folded into the in-place update that is its only reader:
    param <- beta * param + alpha * product (one GEMM, no stored product)."""

    step: Step        # the elementwise update step (not emitted on its own)
    param: str        # the buffer updated in place
    alpha: sp.Expr    # scalar coefficients, in the update step's variables
    beta: sp.Expr


def find_folds(groups: list[Group], shapes: dict[str, tuple], outputs: list[str],
               inplace: dict[str, str]) -> dict[str, Fold]:
    """Products (by output) that go straight into an in-place update.

    The update must be a group of its own, right after the product's group,
    linear in the product and the parameter with coefficients made of 1 x 1
    values only, and the product read by nothing else.
    """
    found: dict[str, Fold] = {}
    readers: dict[str, int] = {}
    for g in groups:
        for st in g.steps:
            for a in st.args:
                readers[a] = readers.get(a, 0) + 1
    for gi in range(1, len(groups)):
        g, prev = groups[gi], groups[gi - 1]
        if not g.is_loop or len(g.steps) != 1 or prev.op != "matmul":
            continue
        s, mm = g.steps[0], prev.steps[0]
        param = inplace.get(s.out)
        if (param is None or mm.out not in s.args or param in mm.args
                or readers.get(mm.out) != 1 or mm.out in outputs
                or s.views and any(v is not None for v in s.views)
                or shapes[mm.out] != shapes[param]):
            continue
        vg, vw = VARS[s.args.index(mm.out)], VARS[s.args.index(param)]
        alpha, beta = sp.diff(s.attr, vg), sp.diff(s.attr, vw)
        scalars = {VARS[k] for k, a in enumerate(s.args) if shapes[a] == (1, 1)}
        if not (alpha.free_symbols | beta.free_symbols) <= scalars:
            continue
        if sp.expand(s.attr - alpha * vg - beta * vw) != 0:
            continue
        found[mm.out] = Fold(s, param, alpha, beta)
    return found
