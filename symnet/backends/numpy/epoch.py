"""NumPy SGD epochs: one generated Python function looping over batches, step inlined."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import sympy as sp

from ...graph import VARS
from ...lower import EpochData, EpochSpec, KernelPlan, plan_kernel
from ...schedule import Program, Step
from .kernel import load, step_lines, viewed
from .printer import SymnetNumPyPrinter

__all__ = ["NumPyEpoch", "generate_sgd_epoch"]


def _inplace_update(s: Step, param: str) -> list[str] | None:
    """``param -= q`` lines for an update step printed ``param - q``, else None.

    Only when the subtraction Python would run is textually the same, so the
    in-place form rounds exactly as the step's ``param - q`` followed by a copy.
    """
    if s.op != "ew" or param not in s.args or s.shape not in s.arg_shapes:
        return None
    views = s.views or (None,) * len(s.args)
    names = {VARS[k]: viewed(v, s.arg_shapes[k], views[k]) for k, v in enumerate(s.args)}
    printer = SymnetNumPyPrinter(names)
    syms = sp.numbered_symbols(f"_{s.out}_")
    reps, (red,) = sp.cse([s.attr], symbols=syms, optimizations=None, order="canonical")
    p = VARS[s.args.index(param)]
    lines = [f"    {printer.doprint(t)} = {printer.doprint(v)}" for t, v in reps]
    scaled = _scaled_update(red, p, param, printer)
    if scaled is not None:
        return [*lines, *scaled]
    if not (red.is_Add and p in red.args):
        return None
    q = p - red
    # "p - a + b" would be (p - a) + b: only a product, power or call follows unparenthesized.
    if q.is_Add:
        return None
    q_text = printer.doprint(q)
    if printer.doprint(red) != f"{param} - {q_text}":
        return None
    return [*lines, f"    {param} -= {q_text}"]


def _scaled_update(red: sp.Expr, p: sp.Symbol, param: str, printer) -> list[str] | None:
    """``param *= c`` and ``param += q`` for an update ``param*c + q`` (the form
    :func:`symnet.lower.specialize.hoist_steps` gives a one-sample step): NumPy
    rounds ``param*c``, then ``q``, then their sum, the same in place."""
    if not (red.is_Add and len(red.args) == 2):
        return None
    for pc, q in (red.args, red.args[::-1]):
        c = sp.cancel(pc / p)
        if not (c.is_Symbol or c.is_Number) or p in q.free_symbols or q.is_Add:
            continue
        c_text, q_text = printer.doprint(c), printer.doprint(q)
        if printer.doprint(pc) not in (f"{param}*{c_text}", f"{c_text}*{param}"):
            continue
        return [f"    {param} *= {c_text}", f"    {param} += {q_text}"]
    return None


def _epoch_body(kp: KernelPlan, dtype: str, batch: sp.Symbol, one: bool,
                updates: list[tuple[str, str]]) -> list[str]:
    """One batch's statements (4-space indent), in plan order: an update the
    plan lets overwrite its parameter is printed ``param -= q`` where that
    rounds exactly as ``param - q``; every other new value is copied over
    its parameter after the step."""
    lines: list[str] = []
    done: set[str] = set()
    for s in kp.steps:
        param = kp.inplace.get(s.out)
        if param is not None:
            update = _inplace_update(s, param)
            if update is not None:
                lines.extend(update)
                done.add(param)
                continue
        if (one and s.op == "reduce" and s.attr is not None
                and s.arg_shapes[0][s.attr] == batch):
            # A sum over a batch of one is that column plus 0.0 (which turns -0.0
            # into 0.0 as np.add.reduce does): same bits, a tenth of the cost.
            lines.append(f"    {s.out} = {s.args[0]} + 0.0")
            continue
        lines.extend(step_lines(s, dtype))
    lines.extend(f"    {p}[...] = {out}" for p, out in updates if p not in done and p != out)
    return lines


def _fresh(base: str, taken: set[str]) -> str:
    name = base
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def generate_sgd_epoch(prog: Program, name: str, dtype, spec: EpochSpec) -> str:
    """Python source of a whole SGD epoch over a step program.

    ``prog`` computes one step from the batch inputs ``spec.x`` and
    ``spec.y`` (their columns are samples; ``spec.batch`` is the symbol of
    their column count): its output ``spec.loss`` (or None) and, per
    ``(param, output)`` of ``spec.updates``, the parameter's new value. The
    step's statements come from the kernel plans of the step (batch of one:
    products over the batch are outer products) with the plan's in-place
    overwrites. The generated function takes
    the data set twice, sample-major ``(n, rows)`` for batches of one and
    feature-major ``(rows, n)`` for larger ones, then the sample ``order``,
    the batch size, and the program's other inputs and dims as the step
    does. It loops over the batches of ``order`` under one ``np.errstate``
    with the step's statements inlined, updates the parameters in place
    and returns the mean loss (NaN without ``loss``).

    >>> from symnet.schedule import Program, Step
    >>> m = sp.Symbol('m')
    >>> prog = Program([('X', None), ('Y', None), ('alpha', None), ('w', None)], [m])
    >>> prog.steps = [Step('t0', 'reduce', ('X',), (sp.S(1), sp.S(1)), 1, ((sp.S(1), m),)),
    ...               Step('t1', 'ew', ('w', 'alpha', 't0'), (sp.S(1), sp.S(1)),
    ...                    VARS[0] - VARS[1] * VARS[2], ((1, 1), (1, 1), (1, 1)))]
    >>> prog.outputs = ['t1']
    >>> spec = EpochSpec('X', 'Y', m, None, [('w', 't1')])
    >>> print(generate_sgd_epoch(prog, 'epoch', 'float64', spec))
    def epoch(X_rows, Y_rows, X_data, Y_data, order, batch_size, alpha, w):
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            if batch_size == 1:
                # Basic indexing of sample-major (n, rows, 1) copies: no gather per sample.
                X_cols = X_rows.reshape(X_rows.shape + (1,))
                Y_cols = Y_rows.reshape(Y_rows.shape + (1,))
                m = 1
                for i in order.tolist():
                    X = X_cols[i]
                    Y = Y_cols[i]
                    t0 = X + 0.0
                    w -= alpha*t0
            else:
                for start in range(0, order.shape[0], batch_size):
                    idx = order[start:start + batch_size]
                    m = idx.shape[0]
                    X = X_data.take(idx, axis=1)
                    Y = Y_data.take(idx, axis=1)
                    t0 = np.add.reduce(X, axis=1, keepdims=True)
                    w -= alpha*t0
        return float("nan")
    <BLANKLINE>
    """
    dtype = np.dtype(dtype).name
    x, y, batch, loss = spec.x, spec.y, spec.batch, spec.loss
    updates = list(spec.updates)
    bodies = {one: _epoch_body(plan_kernel(prog, const_dims={batch: 1} if one else None,
                                           inplace=spec.wanted), dtype, batch, one, updates)
              for one in (True, False)}

    taken = {n for n, _ in prog.inputs} | {str(d) for d in prog.dims} | {s.out for s in prog.steps}
    for body in bodies.values():
        for line in body:
            taken.update(_IDENTS.findall(line))
    v = {k: _fresh(k.replace("X_", f"{x}_").replace("Y_", f"{y}_"), taken)
         for k in ("X_rows", "Y_rows", "X_data", "Y_data", "order", "batch_size", "X_cols",
                   "Y_cols", "i", "start", "idx", "loss_sum")}
    others = [n for n, _ in prog.inputs if n not in (x, y)]
    dims = [str(d) for d in prog.dims if d != batch]
    head = [v["X_rows"], v["Y_rows"], v["X_data"], v["Y_data"], v["order"], v["batch_size"],
            *others, *dims]
    m = str(batch)

    def loop(body: list[str]) -> list[str]:
        out = [" " * 12 + line[4:] for line in body]
        if loss is not None:
            out.append(f"{' ' * 12}{v['loss_sum']} += float(np.reshape({loss}, ())) * {m}")
        return out

    lines = [f"def {name}({', '.join(head)}):"]
    if loss is not None:
        lines.append(f"    {v['loss_sum']} = 0.0")
    lines += [
        '    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):',
        f"        if {v['batch_size']} == 1:",
        "            # Basic indexing of sample-major (n, rows, 1) copies: no gather per sample.",
        f"            {v['X_cols']} = {v['X_rows']}.reshape({v['X_rows']}.shape + (1,))",
        f"            {v['Y_cols']} = {v['Y_rows']}.reshape({v['Y_rows']}.shape + (1,))",
        f"            {m} = 1",
        f"            for {v['i']} in {v['order']}.tolist():",
        f"                {x} = {v['X_cols']}[{v['i']}]",
        f"                {y} = {v['Y_cols']}[{v['i']}]",
        *["    " + line for line in loop(bodies[True])],
        "        else:",
        f"            for {v['start']} in range(0, {v['order']}.shape[0], {v['batch_size']}):",
        f"                {v['idx']} = {v['order']}[{v['start']}:{v['start']} + "
        f"{v['batch_size']}]",
        f"                {m} = {v['idx']}.shape[0]",
        f"                {x} = {v['X_data']}.take({v['idx']}, axis=1)",
        f"                {y} = {v['Y_data']}.take({v['idx']}, axis=1)",
        *["    " + line for line in loop(bodies[False])],
    ]
    if loss is not None:
        lines.append(f"    return {v['loss_sum']} / max({v['order']}.shape[0], 1)")
    else:
        lines.append('    return float("nan")')
    return "\n".join(lines) + "\n"


_IDENTS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class NumPyEpoch:
    """A whole SGD epoch as one generated Python function (``source``)."""

    def __init__(self, prog: Program, name: str, dtype, spec: EpochSpec):
        self.program, self.spec = prog, spec
        self.dtype = np.dtype(dtype)
        self.source = generate_sgd_epoch(prog, name, dtype, spec)
        self.run: Callable = load(self.source, name)

    def compile_for(self, batch: int) -> None:
        """Nothing to compile ahead: one function serves every batch size."""

    def epoch(self, data: EpochData, arrays: list, order: np.ndarray, batch: int,
              dim_values: dict) -> float:
        """Run one epoch in ``order``; the parameters among ``arrays`` (which
        follow the program's inputs) are updated in place."""
        names = [n for n, _ in self.program.inputs]
        others = [a for n, a in zip(names, arrays, strict=True)
                  if n not in (self.spec.x, self.spec.y)]
        dims = [dim_values[d] for d in self.program.dims if d != self.spec.batch]
        return self.run(data.X_rows, data.Y_rows, data.X, data.Y, order, batch, *others, *dims)
