"""Grouping: steps in execution order, same-shape elementwise runs fused into loop groups."""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..graph import VARS
from ..schedule import Program, Step

__all__ = ["Group", "group_steps", "needs_broadcast", "pointwise_shapes", "shapes_of", "sink"]


@dataclass
class Group:
    """Steps computed together (one loop nest, or a single step of another op)."""

    steps: list[Step]
    #: names of this group's values that must be written to memory
    stores: list[str] = field(default_factory=list)
    #: (value, vector, out): after each row i of the loop, also
    #: out[i] = sum_j value[i, j] * vector[j] (see :mod:`.pipeline`)
    dot_next: tuple[str, str, str] | None = None

    @property
    def is_loop(self) -> bool:
        return self.steps[0].op == "ew"

    @property
    def op(self) -> str:
        return self.steps[0].op


def pointwise_shapes(prog: Program, pointwise: set[str], points: sp.Symbol) -> dict:
    """Shape overrides evaluating a scalar formula over ``points`` values: the
    point-valued inputs, and every 1 x 1 step that reads one, become 1 x points
    rows (every backend and every export lays a point-wise program out so).

    >>> one = (sp.S(1), sp.S(1))
    >>> prog = Program([("x", sp.Symbol("x")), ("c", sp.Symbol("c"))], [],
    ...                [Step("y", "ew", ("x", "c"), one, VARS[0] * VARS[1], (one, one))], ["y"])
    >>> pointwise_shapes(prog, {"x"}, sp.Symbol("n"))
    {'x': (1, n), 'y': (1, n)}
    """
    shapes = {n: (1, points) for n, _ in prog.inputs if n in pointwise}
    for s in prog.steps:
        if s.shape == (1, 1) and any(a in shapes for a in s.args):
            shapes[s.out] = (1, points)
    return shapes


def needs_broadcast(s: Step) -> bool:
    """Whether an elementwise step's body reads no argument spanning one of the
    result's dimensions (a constant, or 1 x 1 values filling a matrix): its
    value must be spread over the result's shape.

    >>> n = sp.Symbol("n")
    >>> needs_broadcast(Step("y", "ew", ("c",), (n, sp.S(1)), VARS[0] * 2, ((1, 1),)))
    True
    """
    if s.shape == (1, 1):
        return False
    used = s.attr.free_symbols if isinstance(s.attr, sp.Basic) else set()
    shapes = [v if s.views and s.views[k] is not None else sh
              for k, (sh, v) in enumerate(zip(s.arg_shapes, s.views or (None,) * len(s.args),
                                              strict=True)) if VARS[k] in used]
    return any(s.shape[d] != 1 and all(sp.sympify(sh[d]) == 1 for sh in shapes)
               for d in (0, 1))


def shapes_of(prog: Program, shapes: dict[str, tuple] | None = None) -> dict[str, tuple]:
    """Every buffer's (rows, cols); ``shapes`` overrides some (point-wise programs,
    where a 1 x 1 value becomes a 1 x N row)."""
    out = dict(shapes or {})
    for name, sym in prog.inputs:
        out.setdefault(name, tuple(getattr(sym, "shape", (1, 1))))
    for s in prog.steps:
        out.setdefault(s.out, s.shape)
    return out


def sink(steps: list[Step], shapes: dict[str, tuple]) -> list[Step]:
    """Move each elementwise step or product down to just before its first
    reader when that reader is an elementwise step of the same shape.

    An elementwise value then shares the reader's loop and never goes to
    memory. Products move too: with the batch fixed to one sample (the
    epoch's fast step) a product over it is an elementwise outer product
    that joins the in-place update consuming it, and the generic step runs
    its steps in the same order, because both share one memory plan.
    """
    order = list(steps)
    # Positions are looked up by output name: list.index(step) compares
    # steps field by field (SymPy bodies), quadratic in a deep network.
    names = [t.out for t in order]
    for s in reversed(steps):
        if s.op not in ("ew", "matmul"):
            continue
        k = names.index(s.out)
        first = next((j for j in range(k + 1, len(order)) if s.out in order[j].args), None)
        if first is None or first == k + 1:
            continue
        user = order[first]
        if user.op == "ew" and shapes[user.out] == shapes[s.out]:
            order.insert(first - 1, order.pop(k))
            names.insert(first - 1, names.pop(k))
    return order


def group_steps(prog: Program, shapes: dict[str, tuple]) -> tuple[list[Group], list[str]]:
    """Groups in order and the buffers that live in memory (inputs first).

    A loop group stores only the values read outside it (or returned).

    >>> import sympy as sp
    >>> from symnet.graph import VARS
    >>> one = (sp.S(1), sp.S(1))
    >>> prog = Program([("x", sp.Symbol("x"))], [],
    ...                [Step("a", "ew", ("x",), one, VARS[0] + 1, (one,)),
    ...                 Step("b", "ew", ("a",), one, 2 * VARS[0], (one,))], ["b"])
    >>> groups, buffers = group_steps(prog, shapes_of(prog))
    >>> [[s.out for s in g.steps] for g in groups], buffers
    ([['a', 'b']], ['x', 'b'])
    """
    groups: list[Group] = []
    for s in sink(prog.steps, shapes):
        if (s.op == "ew" and groups and groups[-1].is_loop
                and shapes[groups[-1].steps[0].out] == shapes[s.out]):
            groups[-1].steps.append(s)
        else:
            groups.append(Group([s]))
    group_of = {s.out: gi for gi, g in enumerate(groups) for s in g.steps}
    needed_outside: set[str] = set(prog.outputs)
    for gi, g in enumerate(groups):
        for s in g.steps:
            for a in s.args:
                if a in group_of and group_of[a] != gi:
                    needed_outside.add(a)
    for g in groups:
        if g.is_loop:
            g.stores = [s.out for s in g.steps if s.out in needed_outside]
        else:
            g.stores = [s.out for s in g.steps]
    buffers = [n for n, _ in prog.inputs]
    for g in groups:
        buffers += [n for n in g.stores if n not in buffers]
    return groups, buffers
