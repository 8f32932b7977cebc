"""In-place analysis: which values may overwrite a buffer they are computed from.

One analysis for every backend. A backend that implements a transpose or a
renaming step as a view (NumPy) and one that copies (LLVM) both stay
correct, because views are treated as sharing memory with their source.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..graph import VARS
from ..schedule import Step
from .group import Group

__all__ = ["roots", "safe_overwrites"]


def roots(steps: Iterable[Step]) -> dict[str, frozenset[str]]:
    """For each view-like value (a transpose, or an elementwise step that only
    renames an argument), the buffers whose memory it may share.

    >>> import sympy as sp
    >>> one = (sp.S(1), sp.S(1))
    >>> roots([Step("t", "transpose", ("W",), one), Step("u", "ew", ("t",), one, VARS[0])])
    {'t': frozenset({'W'}), 'u': frozenset({'W'})}
    """
    out: dict[str, frozenset[str]] = {}
    for s in steps:
        src = None
        if s.op == "transpose":
            src = s.args[0]
        elif s.op == "ew" and s.attr in VARS[:len(s.args)]:
            src = s.args[VARS.index(s.attr)]
        if src is not None:
            out[s.out] = out.get(src, frozenset({src}))
    return out


def safe_overwrites(groups: list[Group], shapes: dict[str, tuple], outputs: list[str],
                    wanted: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The requested (value, buffer) overwrites that are safe, as value -> buffer.

    Safe: the value is computed by a loop group, by a step that reads the
    buffer at the same entry (same shape, not through a vector view) and is not a mere
    renaming; no later step -- in its group or after it -- reads the buffer,
    anything that may share the buffer's memory, or the value; no other
    output may share the buffer's memory (outputs are read after the last
    group); and neither the value nor the buffer is asked for twice.

    >>> import sympy as sp
    >>> from symnet.lower.group import group_steps, shapes_of
    >>> from symnet.schedule import Program
    >>> one = (sp.S(1), sp.S(1))
    >>> prog = Program([("w", sp.Symbol("w")), ("g", sp.Symbol("g"))], [],
    ...                [Step("w_new", "ew", ("w", "g"), one, VARS[0] - VARS[1], (one, one))],
    ...                ["w_new"])
    >>> shapes = shapes_of(prog)
    >>> groups, _ = group_steps(prog, shapes)
    >>> safe_overwrites(groups, shapes, prog.outputs, [("w_new", "w")])
    {'w_new': 'w'}
    """
    pairs = list(wanted)
    values = [v for v, _ in pairs]
    bufs = [b for _, b in pairs]
    steps = [s for g in groups for s in g.steps]
    view = roots(steps)

    def memory(name: str) -> frozenset[str]:
        return view.get(name, frozenset({name}))

    position = {s.out: (gi, k) for gi, g in enumerate(groups) for k, s in enumerate(g.steps)}
    ok: dict[str, str] = {}
    for value, buf in pairs:
        if values.count(value) > 1 or bufs.count(buf) > 1 or value not in position:
            continue
        gi, k = position[value]
        g = groups[gi]
        step = g.steps[k]
        # Other arguments may be vector views (of other buffers: a view of
        # this one would be in ``memory``); the buffer itself must be read whole.
        if (not g.is_loop or buf not in step.args or step.attr in VARS
                or (step.views and any(v is not None for a, v in zip(step.args, step.views,
                                                                      strict=True) if a == buf))
                or shapes[buf] != shapes[value]):
            continue
        later = [a for s in g.steps[k + 1:] for a in s.args]
        later += [a for h in groups[gi + 1:] for s in h.steps for a in s.args]
        later += [o for o in outputs if o != value]
        shared = memory(buf)
        if value in later or any(memory(a) & shared for a in later):
            continue
        ok[value] = buf
    return ok
