"""Group sharing: the groups of a plan that are the same computation on other buffers.

A deep network repeats its layers: the 8 x 8 product, the ``tanh`` loop and
the update of layer 40 are layer 41's on other buffers. A backend that
gives each group its own function then generates, optimises and compiles
the same code once per layer, which is most of an LLVM compile past a few
dozen layers. :func:`share` finds, for each group, an earlier group whose
generated code is the same once each buffer is replaced by its position in
the group's argument list, so a backend emits that function once and calls
it with other pointers.

The signature is built from everything code generation reads: the steps
(outputs and arguments renamed by position; ops, shapes, bodies and views
kept), the stored values, the shapes, in-place targets and workspace
placement of every buffer named, the scratch buffer and its size, and a GEMM
fold's coefficients. Names not in the renaming are kept literally, which
can only make two signatures differ.
"""

from __future__ import annotations

import sympy as sp

from ..schedule import Step
from .group import Group
from .plan import KernelPlan

__all__ = ["group_args", "share"]


def group_args(kp: KernelPlan, g: Group) -> list[str]:
    """The buffers a group's function takes, in order: the values it reads
    that it does not compute, then the values it stores, then its scratch.
    """
    fold = kp.folds.get(g.steps[0].out)
    own = {t.out for t in g.steps}
    bufs = set(kp.buffer_names)
    used: list[str] = []
    for s in g.steps + ([fold.step] if fold else []):
        for a in s.args:
            if a in bufs and a not in used and a not in own:
                used.append(a)
    _, vector, out = g.dot_next or (None, None, None)
    if vector is not None and vector not in used:
        used.append(vector)  # read, so with the reads
    used += [n for n in g.stores if n not in used and fold is None]
    if out is not None and out not in used:
        used.append(out)
    if g.steps[0].out in kp.scratch:
        used.append(kp.scratch[g.steps[0].out])
    return used


def _canon(x: object) -> str:
    if isinstance(x, sp.Basic):
        return sp.srepr(x)
    if isinstance(x, tuple | list):
        return "(" + ",".join(_canon(v) for v in x) + ")"
    return repr(x)


def _step(s: Step, ren: dict[str, str]) -> str:
    return "|".join((ren.get(s.out, s.out), s.op,
                     ",".join(ren.get(a, a) for a in s.args),
                     _canon(s.shape), _canon(s.attr), _canon(s.arg_shapes), _canon(s.views)))


def signature(kp: KernelPlan, g: Group, args: list[str], workspace: frozenset[str]) -> str:
    """Everything the code of group ``g`` over ``args`` depends on, with
    buffer names replaced by positions (see the module docstring)."""
    ren = {n: f"@{k}" for k, n in enumerate(args)}
    for k, s in enumerate(g.steps):
        ren.setdefault(s.out, f"%{k}")
    fold = kp.folds.get(g.steps[0].out)
    if fold is not None:
        ren.setdefault(fold.step.out, "%fold")
    parts = [_step(s, ren) for s in g.steps]
    parts.append("stores:" + ",".join(ren.get(n, n) for n in g.stores))
    if g.dot_next is not None:
        parts.append("dot_next:" + ",".join(ren.get(n, n) for n in g.dot_next))
    for n in sorted(ren, key=ren.__getitem__):
        parts.append(f"{ren[n]}:{_canon(kp.shapes.get(n))}"
                     f":{ren.get(kp.inplace.get(n, ''), kp.inplace.get(n, ''))}"
                     f":{n in workspace}"
                     f":{_canon(kp.scratch_sizes.get(n))}")
    scratch = kp.scratch.get(g.steps[0].out)
    parts.append("scratch:" + ("" if scratch is None else ren.get(scratch, scratch)))
    if fold is not None:
        parts.append("fold:" + "|".join((_step(fold.step, ren), ren.get(fold.param, fold.param),
                                          _canon(fold.alpha), _canon(fold.beta))))
    return "\n".join(parts)


def share(kp: KernelPlan, workspace: frozenset[str]) -> tuple[list[list[str]], list[int]]:
    """Per group, its argument buffers and the index of the first group with
    the same signature (itself when it is the first).

    >>> import sympy as sp
    >>> from symnet.graph import VARS
    >>> from symnet.lower import plan_kernel
    >>> from symnet.schedule import Program, Step
    >>> n = (sp.S(4), sp.S(1))
    >>> tanh = sp.tanh(VARS[0])
    >>> prog = Program([(v, sp.MatrixSymbol(v, 4, 1)) for v in "xyz"], [],
    ...                [Step("a", "matmul", ("x", "y"), n, (True, False)),
    ...                 Step("b", "ew", ("z",), n, tanh, (n,)),
    ...                 Step("c", "matmul", ("b", "y"), n, (True, False))], ["a", "c"])
    >>> share(plan_kernel(prog), frozenset())
    ([['x', 'y', 'a'], ['z', 'b'], ['b', 'y', 'c']], [0, 1, 0])
    """
    sigs: dict[str, int] = {}
    args, first = [], []
    for i, g in enumerate(kp.groups):
        a = group_args(kp, g)
        args.append(a)
        first.append(sigs.setdefault(signature(kp, g, a, workspace), i))
    return args, first
