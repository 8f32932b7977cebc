"""The kernel plan: every program-level decision a backend reads, made once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..schedule import Program
from .fold import Fold, find_folds
from .group import Group, group_steps, shapes_of
from .inplace import safe_overwrites
from .memory import scratch_buffers
from .specialize import hoist_steps, outer_products

__all__ = ["KernelPlan", "plan_kernel"]


@dataclass
class KernelPlan:
    """A program lowered for code generation (backend-neutral).

    ``groups`` run in order; ``buffers`` are the values that live in memory
    (inputs first, then stored step values); ``inplace`` maps a value to the
    buffer it overwrites; ``folds`` maps a product to the update it goes
    straight into; ``scratch`` maps a column op to its scratch buffer.
    """

    program: Program
    groups: list[Group]
    buffers: list[str]
    shapes: dict[str, tuple]
    inputs: list[str]
    outputs: list[str]
    inplace: dict[str, str] = field(default_factory=dict)
    folds: dict[str, Fold] = field(default_factory=dict)
    scratch: dict[str, str] = field(default_factory=dict)
    scratch_sizes: dict[str, tuple] = field(default_factory=dict)
    const_dims: dict = field(default_factory=dict)

    @property
    def buffer_names(self) -> list[str]:
        """Every buffer a call passes: the plan's buffers, then scratch."""
        return self.buffers + list(self.scratch_sizes)

    @property
    def steps(self):
        """The steps in execution order."""
        return [s for g in self.groups for s in g.steps]

    @property
    def folded(self) -> set[str]:
        """Update steps computed by the product before them (see :mod:`.fold`)."""
        return {f.step.out for f in self.folds.values()}


def plan_kernel(prog: Program, shapes: dict[str, tuple] | None = None,
                const_dims: dict | None = None,
                inplace: Iterable[tuple[str, str]] = ()) -> KernelPlan:
    """Lower a program: specialize for ``const_dims``, group, decide in-place
    overwrites (of the requested (value, buffer) pairs), GEMM folds and scratch.

    ``shapes`` overrides buffer shapes (point-wise scalar programs).

    >>> import sympy as sp
    >>> from symnet.graph import VARS
    >>> from symnet.schedule import Step
    >>> one = (sp.S(1), sp.S(1))
    >>> prog = Program([("w", sp.Symbol("w")), ("g", sp.Symbol("g"))], [],
    ...                [Step("w_new", "ew", ("w", "g"), one, VARS[0] - VARS[1], (one, one))],
    ...                ["w_new"])
    >>> kp = plan_kernel(prog, inplace=[("w_new", "w")])
    >>> kp.buffers, kp.inplace
    (['w', 'g', 'w_new'], {'w_new': 'w'})
    """
    const_dims = dict(const_dims or {})
    if const_dims:
        prog = hoist_steps(outer_products(prog, const_dims), const_dims)
    all_shapes = shapes_of(prog, shapes)
    groups, buffers = group_steps(prog, all_shapes)
    outputs = list(prog.outputs)
    overwrites = safe_overwrites(groups, all_shapes, outputs, inplace)
    folds = find_folds(groups, all_shapes, outputs, overwrites)
    scratch, scratch_sizes = scratch_buffers(groups, all_shapes)
    return KernelPlan(prog, groups, buffers, all_shapes, [n for n, _ in prog.inputs], outputs,
                      overwrites, folds, scratch, scratch_sizes, const_dims)
