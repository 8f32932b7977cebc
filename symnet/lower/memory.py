"""Memory plan: scratch rows of column ops and the workspace offsets of a call."""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..graph import COLUMN_OPS, LINALG_OPS
from .group import Group

__all__ = ["scratch_buffers", "workspace"]


def scratch_buffers(groups: list[Group], shapes: dict[str, tuple]
                    ) -> tuple[dict[str, str], dict[str, tuple]]:
    """Column ops keep a per-column max and sum: 2 x columns of scratch each;
    linear-algebra ops eliminate on an n x n copy of their matrix.

    Returns (step -> scratch buffer, scratch buffer -> shape).
    """
    scratch: dict[str, str] = {}
    sizes: dict[str, tuple] = {}
    for g in groups:
        s = g.steps[0]
        if s.op in COLUMN_OPS:
            nm = f"{s.out}__scratch"
            scratch[s.out] = nm
            sizes[nm] = (2, shapes[s.args[0]][1])
        elif s.op in LINALG_OPS:
            nm = f"{s.out}__scratch"
            scratch[s.out] = nm
            sizes[nm] = tuple(shapes[s.args[0]])
    return scratch, sizes


def _size(shape: tuple, values: dict) -> tuple[int, ...]:
    return tuple(int(sp.sympify(d).subs(values)) for d in shape)


def workspace(plan, values: dict, lanes: int) -> tuple[dict, dict, int]:
    """Buffer sizes and workspace offsets for these dims: first fit over dead blocks.

    ``plan`` is a :class:`~symnet.lower.KernelPlan`; ``lanes`` the elements of
    one alignment unit (every block is a whole number of them, so every block
    starts aligned). Inputs and outputs are not in the workspace. Returns
    (buffer -> shape, buffer -> offset in elements, total elements >= 1).
    """
    sizes = {n: _size(plan.shapes[n], values) for n in plan.buffers}
    sizes.update({n: _size(s, values) for n, s in plan.scratch_sizes.items()})
    last_use: dict[str, int] = {}
    for gi, g in enumerate(plan.groups):
        for s in g.steps:
            for a in s.args:
                last_use[a] = gi
    scratch_of = plan.scratch
    free: list[tuple[int, int]] = []
    offsets: dict[str, int] = {}
    total = 0

    def block(n: str) -> int:
        return -(-int(np.prod(sizes[n])) // lanes) * lanes

    for gi, g in enumerate(plan.groups):
        wanted = [n for n in g.stores if n not in plan.outputs]
        wanted += [scratch_of[s.out] for s in g.steps if s.out in scratch_of]
        for n in wanted:
            need = block(n)
            for k, (off, length) in enumerate(free):
                if length >= need:
                    offsets[n] = off
                    free[k] = (off + need, length - need)
                    break
            else:
                offsets[n] = total
                total += need
        # Blocks whose last reader was this group (or never read) free up.
        for n in wanted:
            if n in scratch_of.values() or last_use.get(n, gi) <= gi:
                free.append((offsets[n], block(n)))
        for n in list(offsets):
            if last_use.get(n) == gi and n not in wanted:
                free.append((offsets[n], block(n)))
    return sizes, offsets, max(total, 1)
