"""Specialization: rewrite a program for dimensions fixed at compile time."""

from __future__ import annotations

import sympy as sp

from ..graph import VARS
from ..schedule import Program, Step

__all__ = ["outer_products"]


def outer_products(prog: Program, const_dims: dict) -> Program:
    """With a product's inner dimension fixed to 1 (a batch of one sample),
    the product is an outer product: an elementwise step over two vector
    views, which can join (and stay in registers of) a loop group.

    >>> m = sp.Symbol("m")
    >>> prog = Program([("d", None), ("a", None)], [m],
    ...                [Step("g", "matmul", ("d", "a"), (sp.S(3), sp.S(2)), (False, True),
    ...                      ((sp.S(3), m), (sp.S(2), m)))], ["g"])
    >>> s = outer_products(prog, {m: 1}).steps[0]
    >>> s.op, s.attr, s.views
    ('ew', _0*_1, ((3, 1), (1, 2)))
    """
    steps = []
    for s in prog.steps:
        if s.op == "matmul":
            (ra, ca), _ = s.arg_shapes
            ta, _ = s.attr
            inner = ra if ta else ca
            if sp.sympify(inner).subs(const_dims) == 1:
                rows, cols = s.shape
                fixed = tuple(tuple(sp.sympify(d).subs(const_dims) for d in sh)
                              for sh in s.arg_shapes)
                s = Step(s.out, "ew", s.args, s.shape, VARS[0] * VARS[1], fixed,
                         ((rows, 1), (1, cols)))
        steps.append(s)
    return Program(prog.inputs, prog.dims, steps, prog.outputs, prog.output_shapes)
