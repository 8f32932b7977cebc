"""NumPy kernels: a kernel plan -> the source of one Python function, and loading it."""

from __future__ import annotations

import hashlib
import linecache
from collections.abc import Callable

import numpy as np
import sympy as sp

from ...graph import COLUMN_OPS, KRON_OPS, LINALG_OPS, VARS
from ...lower import KernelPlan, needs_broadcast
from ...schedule import Step
from .printer import SymnetNumPyPrinter
from .runtime import namespace

__all__ = ["generate", "load", "step_lines"]


def _body_lines(printer: SymnetNumPyPrinter, out: str, body: sp.Expr,
                tmp_prefix: str) -> list[str]:
    """CSE a fused body into temporaries, then print it."""
    syms = sp.numbered_symbols(f"{tmp_prefix}_")
    reps, (red,) = sp.cse([body], symbols=syms, optimizations=None, order="canonical")
    lines = [f"    {printer.doprint(t)} = {printer.doprint(v)}" for t, v in reps]
    lines.append(f"    {out} = {printer.doprint(red)}")
    return lines


def _dim(d: sp.Expr) -> str:
    return str(d) if not d.is_Integer else str(int(d))


def viewed(name: str, own: tuple, view: tuple | None) -> str:
    """An argument read through a vector view (same memory, other shape)."""
    if view is None or tuple(view) == tuple(own):
        return name
    if tuple(view) == tuple(own)[::-1]:
        return f"{name}.T"
    return f"{name}.reshape({_dim(sp.sympify(view[0]))}, {_dim(sp.sympify(view[1]))})"


def step_lines(s: Step, dtype: str) -> list[str]:
    """The statements (4-space indent) computing one step."""
    op, a = s.op, s.args
    if op == "leaf":
        if isinstance(s.attr, sp.Identity):
            return [f"    {s.out} = np.eye({_dim(s.shape[0])}, dtype=np.{dtype})"]
        raise ValueError(f"leaf {s.attr} is not an input")
    if op == "const":
        value = SymnetNumPyPrinter().doprint(s.attr)
        if s.shape == (1, 1):
            # A Python float: it takes the arrays' dtype instead of imposing float64.
            return [f"    {s.out} = float({value})"]
        return [f"    {s.out} = np.full(({_dim(s.shape[0])}, {_dim(s.shape[1])}), {value}, "
                f"dtype=np.{dtype})"]
    if op == "matmul":
        ta, tb = s.attr
        return [f"    {s.out} = {a[0]}{'.T' if ta else ''} @ {a[1]}{'.T' if tb else ''}"]
    if op == "transpose":
        return [f"    {s.out} = {a[0]}.T"]
    if op == "reduce":
        # np.add.reduce is what np.sum runs, without its Python wrapper.
        if s.attr is None:
            return [f"    {s.out} = np.add.reduce({a[0]}, axis=None)"]
        return [f"    {s.out} = np.add.reduce({a[0]}, axis={s.attr}, keepdims=True)"]
    if op in COLUMN_OPS or op in LINALG_OPS or op in KRON_OPS:
        return [f"    {s.out} = {op}({', '.join(a)})"]
    if op == "ew":
        views = s.views or (None,) * len(a)
        names = {VARS[k]: viewed(v, s.arg_shapes[k], views[k]) for k, v in enumerate(a)}
        printer = SymnetNumPyPrinter(names)
        lines = _body_lines(printer, s.out, s.attr, f"_{s.out}")
        # Arguments that do not span the result only broadcast: spread it out.
        if needs_broadcast(s):
            lines.append(f"    {s.out} = np.broadcast_to({s.out}, "
                         f"({_dim(s.shape[0])}, {_dim(s.shape[1])}))")
        return lines
    raise ValueError(f"numpy backend: no printer for op {op}")


def generate(kp: KernelPlan, name: str = "kernel", dtype=np.float64) -> str:
    """Python source of a function computing the plan's outputs (steps in plan order)."""
    dtype = np.dtype(dtype).name
    prog = kp.program
    params = ", ".join(n for n, _ in prog.inputs)
    lines = [f"def {name}({params}{', ' if params and prog.dims else ''}"
             f"{', '.join(str(d) for d in prog.dims)}):"]
    for s in kp.steps:
        lines.extend(step_lines(s, dtype))
    lines.append(f"    return ({', '.join(prog.outputs)}{',' if len(prog.outputs) == 1 else ''})")
    return "\n".join(lines) + "\n"


def load(source: str, name: str = "kernel") -> Callable:
    """Execute generated source; keep it in linecache so inspect.getsource works."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    filename = f"<symnet-numpy-{digest}>"
    code = compile(source, filename, "exec")
    ns = namespace()
    exec(code, ns)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    fn = ns[name]
    fn.__source__ = source
    return fn
