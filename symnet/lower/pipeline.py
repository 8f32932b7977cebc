"""Pipelined samples: a one-sample step computes the next sample's first product in its update.

A one-sample SGD step of a network starts with ``t = W x`` and ends by
updating ``W`` in place, row by row. Each row of the new ``W`` is then in
registers once more than needed: the next sample's ``t`` is the same rows
times the next sample's ``x``. :func:`pipeline` rewrites the step so that
the update also accumulates ``t[i] = W_new[i, :] . x_next`` (one pass over
``W`` per sample instead of two), and gives the first product alone as the
epoch's *head*, run once before the first sample. ``t`` then carries over
from one step to the next in a buffer of its own; the last sample's step
passes its own ``x`` as ``x_next`` (the value is unused).

The arithmetic is the step's own: ``W`` has the same value when ``t`` is
computed (the update is the only writer of ``W``, in place), and the dot
products sum in the same kind of order as the product's own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .epoch import EpochSpec
from .group import Group
from .plan import KernelPlan
from .products import product_dims

__all__ = ["X_NEXT", "Pipeline", "pipeline"]

#: The buffer through which a pipelined step reads the next sample's input.
X_NEXT = "__x_next"


@dataclass(frozen=True)
class Pipeline:
    """A one-sample step with its first product carried over (see the module)."""

    plan: KernelPlan     # the step without the product; the update computes the next one
    head: KernelPlan     # the product alone, for the epoch's first sample
    product: str         # the product's buffer, kept from one step to the next
    param: str           # the parameter the product reads and the update rewrites


def pipeline(kp: KernelPlan, spec: EpochSpec, buffer_order: list[str]) -> Pipeline | None:
    """The pipelined form of the one-sample step ``kp`` of an epoch, or None
    when its first use of the input is not a product ``W x`` whose ``W`` one
    later loop group rewrites in place, row by row, with nothing after that
    group reading the product (``buffer_order``: the epoch's buffer table,
    which must hold the product's buffer).
    """
    if spec.batch_size != 1 or spec.any_batch:
        return None
    new_of = dict(spec.updates)
    groups = kp.groups
    for pi, g in enumerate(groups):
        if not any(spec.x in s.args for s in g.steps):
            continue
        s = g.steps[0]
        if g.op != "matmul" or s.attr != (False, False) or s.args[1] != spec.x:
            return None  # the input's first reader is something else
        W, t = s.args[0], s.out
        rows, cols, inner = product_dims(s, kp.shapes, kp.const_dims)
        new = new_of.get(W)
        if (new is None or cols != 1 or kp.inplace.get(new) != W or t in kp.outputs
                or t not in buffer_order or t in kp.folds or W in kp.outputs):
            return None
        ui = next((k for k, h in enumerate(groups) if new in h.stores), None)
        if ui is None or ui <= pi:
            return None
        u = groups[ui]
        shape = tuple(kp.shapes[W])
        if (not u.is_loop or u.steps[0].out in kp.folded or u.dot_next is not None
                or tuple(kp.shapes[u.steps[0].out]) != shape
                or not all(int(d) > 1 for d in (rows, inner))):
            return None
        if any(t in st.args for h in groups[ui:] for st in h.steps):
            return None  # the product is still read after the update overwrites it
        fused = Group(list(u.steps), list(u.stores), (new, X_NEXT, t))
        rest = [fused if k == ui else h for k, h in enumerate(groups) if k != pi]
        shapes = {**kp.shapes, X_NEXT: kp.shapes[spec.x]}
        plan = replace(kp, groups=rest, buffers=[*kp.buffers, X_NEXT], shapes=shapes,
                       inputs=[*kp.inputs, X_NEXT])
        head = replace(kp, groups=[g], buffers=[*kp.buffers, X_NEXT], shapes=shapes,
                       inputs=[*kp.inputs, X_NEXT])
        return Pipeline(plan, head, t, W)
    return None
