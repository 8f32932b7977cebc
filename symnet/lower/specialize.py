"""Specialization: rewrite a program for dimensions fixed at compile time."""

from __future__ import annotations

import sympy as sp

from ..graph import VARS
from ..passes.hoist import kind, lift, part_shape
from ..schedule import Program, Step
from .products import product_dims

__all__ = ["hoist_steps", "outer_products"]


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
            rows, cols, inner = product_dims(s)
            if sp.sympify(inner).subs(const_dims) == 1:
                fixed = tuple(tuple(sp.sympify(d).subs(const_dims) for d in sh)
                              for sh in s.arg_shapes)
                s = Step(s.out, "ew", s.args, s.shape, VARS[0] * VARS[1], fixed,
                         ((rows, 1), (1, cols)))
        steps.append(s)
    return Program(prog.inputs, prog.dims, steps, prog.outputs, prog.output_shapes)


def _is_outer(s: Step) -> bool:
    return s.op == "ew" and bool(s.views) and s.attr == VARS[0] * VARS[1] and len(s.args) == 2


def _fixed(shape, const_dims: dict) -> tuple:
    return tuple(sp.sympify(d).subs(const_dims) for d in shape)


def _arg_views(s: Step, const_dims: dict) -> list[tuple]:
    """Each argument's shape as the step reads it, with the fixed dimensions put in."""
    views = s.views or (None,) * len(s.args)
    return [_fixed(v if v is not None else sh, const_dims)
            for v, sh in zip(views, s.arg_shapes, strict=True)]


def _views(written: list, views: list) -> tuple:
    """Step views: None where an argument is read as its shape as the program
    writes it (None: not known). A buffer that is a vector only once the batch
    is fixed keeps its view, since generated code reads broadcasting from the
    shape and ``m`` is not a literal 1 there."""
    return tuple(None if sh is not None and tuple(sh) == tuple(v) else v
                 for sh, v in zip(written, views, strict=True))


def hoist_steps(prog: Program, const_dims: dict) -> Program:
    """With the batch fixed, hoist the loop-invariant parts of matrix-shaped
    elementwise steps (:func:`symnet.passes.hoist.lift`) into steps of their own:
    an outer product read only by one such step is first inlined into it, so a
    one-sample SGD update W - a (delta x^T + lam W) becomes (1 - a lam) W +
    (-a delta) x^T, its coefficients computed once per row and step.

    >>> m = sp.Symbol("m")
    >>> v0, v1, v2, v3 = VARS[:4]
    >>> col, row, one = (sp.S(3), m), (sp.S(2), m), (sp.S(1), sp.S(1))
    >>> prog = Program([("d", None), ("x", None), ("W", None), ("a", None)], [m], [
    ...     Step("g", "matmul", ("d", "x"), (sp.S(3), sp.S(2)), (False, True), (col, row)),
    ...     Step("W_new", "ew", ("W", "g", "a"), (sp.S(3), sp.S(2)), v0 - v2 * (v0 / 10 + v1),
    ...          ((sp.S(3), sp.S(2)), (sp.S(3), sp.S(2)), one))], ["W_new"])
    >>> for s in hoist_steps(outer_products(prog, {m: 1}), {m: 1}).steps:
    ...     print(s.out, s.args, s.attr, s.shape)
    W_new_h0 ('a',) 1 - _0/10 (1, 1)
    W_new_h1 ('a', 'd') -_0*_1 (3, 1)
    W_new ('W', 'x', 'W_new_h0', 'W_new_h1') _0*_2 + _1*_3 (3, 2)
    """
    readers: dict[str, int] = {}
    for s in prog.steps:
        for a in s.args:
            readers[a] = readers.get(a, 0) + 1
    producer = {s.out: s for s in prog.steps}
    names = {n for n, _ in prog.inputs} | set(producer)
    inlined: set[str] = set()
    steps: list[Step] = []
    for s in prog.steps:
        out = _fixed(s.shape, const_dims)
        if s.op != "ew" or 1 in out:
            steps.append(s)
            continue
        args, views, body = list(s.args), _arg_views(s, const_dims), s.attr
        shapes = list(s.arg_shapes)
        # outer_products wrote its arguments' shapes with the batch put in
        written = list(s.arg_shapes)
        for k, a in enumerate(s.args):
            o = producer.get(a)
            if (o is not None and _is_outer(o) and readers[a] == 1 and a not in prog.outputs
                    and _fixed(o.shape, const_dims) == out):
                n = len(args)
                body = body.xreplace({VARS[k]: VARS[n] * VARS[n + 1]})
                args += list(o.args)
                shapes += list(o.arg_shapes)
                written += [None] * len(o.args)
                views += _arg_views(o, const_dims)
                inlined.add(a)
        kinds = {VARS[k]: kind(v, out) for k, v in enumerate(views)}
        done = lift(body, kinds)
        if done is None:
            steps.append(s)
            inlined -= set(s.args)
            continue
        lifted, found = done
        new_args, new_shapes = [], []
        for j, e in enumerate(found):
            used = sorted(VARS.index(v) for v in VARS.among(e.free_symbols))
            name = f"{s.out}_h{j}"
            while name in names:
                name += "_"
            names.add(name)
            shape = part_shape(e, kinds, out)
            steps.append(Step(name, "ew", tuple(args[k] for k in used), shape,
                              e.xreplace({VARS[k]: VARS[i] for i, k in enumerate(used)}),
                              tuple(shapes[k] for k in used),
                              _views([written[k] for k in used], [views[k] for k in used])))
            new_args.append(name)
            new_shapes.append(shape)
        final = lifted.xreplace({sym: VARS[len(args) + j]
                                 for j, sym in enumerate(found.values())})
        all_args, all_shapes = args + new_args, shapes + new_shapes
        all_views, all_written = views + new_shapes, written + new_shapes
        used = sorted(VARS.index(v) for v in VARS.among(final.free_symbols))
        steps.append(Step(s.out, "ew", tuple(all_args[k] for k in used), s.shape,
                          final.xreplace({VARS[k]: VARS[i] for i, k in enumerate(used)}),
                          tuple(all_shapes[k] for k in used),
                          _views([all_written[k] for k in used], [all_views[k] for k in used])))
    steps = [s for s in steps if s.out not in inlined]
    return Program(prog.inputs, prog.dims, steps, prog.outputs, prog.output_shapes)
