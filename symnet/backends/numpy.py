"""NumPy backend: a Program -> readable Python source, executed into a function."""

from __future__ import annotations

import hashlib
import linecache
from collections.abc import Callable
from functools import reduce

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from ..graph import VARS
from ..schedule import Program, Step

__all__ = ["NAMESPACE", "SymnetNumPyPrinter", "generate", "load"]


# ------------------------------------------------------------ stable runtime forms
# One function per head, named as the head: the printer emits ``logistic(x)``.


def logistic(x):
    # exp(-|x|) never overflows; pick the form whose division is exact.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def relu(x):
    return np.where(x > 0, x, 0.0 * x)


def leaky_relu(x, gamma):
    return np.where(x > 0, x, gamma * x)


prelu = leaky_relu


def hard_logistic(x):
    return np.clip(0.25 * x + 0.5, 0.0, 1.0)


def hard_tanh(x):
    return np.clip(x, -1.0, 1.0)


def maxout(*xs):
    return reduce(np.maximum, xs)


def heaviside(x, h0):
    # Built from x's own dtype so float32 kernels stay float32.
    x = np.asarray(x)
    one = np.ones_like(x)
    return np.where(x > 0, one, np.where(x < 0, 0.0 * one, h0 * one))


def logsumexp(z):
    m = np.max(z, axis=0, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return m + np.log(np.sum(np.exp(z - m), axis=0, keepdims=True))


def softmax(z):
    m = np.max(z, axis=0, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(z - m)
    return e / np.sum(e, axis=0, keepdims=True)


def log_softmax(z):
    return z - logsumexp(z)


NAMESPACE: dict[str, object] = {
    "np": np,
    "logistic": logistic,
    "softplus": softplus,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "prelu": prelu,
    "hard_logistic": hard_logistic,
    "hard_tanh": hard_tanh,
    "maxout": maxout,
    "heaviside": heaviside,
    "logsumexp": logsumexp,
    "softmax": softmax,
    "log_softmax": log_softmax,
}


class SymnetNumPyPrinter(NumPyPrinter):
    """NumPy printer with one ``_print_<head>`` per symnet head."""

    def __init__(self, names: dict[sp.Symbol, str] | None = None):
        super().__init__({"fully_qualified_modules": False, "inline": True,
                          "allow_unknown_functions": False})
        self.names = names or {}

    def _module_format(self, fqn, register=True):
        return "np." + fqn.split(".")[-1] if fqn.startswith("numpy.") else fqn

    def _print_Symbol(self, e):
        return self.names.get(e, str(e))

    def _call(self, name, e):
        return f"{name}({', '.join(self._print(a) for a in e.args)})"

    def _print_logistic(self, e):
        return self._call("logistic", e)

    def _print_softplus(self, e):
        return self._call("softplus", e)

    def _print_relu(self, e):
        return self._call("relu", e)

    def _print_leaky_relu(self, e):
        return self._call("leaky_relu", e)

    def _print_prelu(self, e):
        return self._call("prelu", e)

    def _print_hard_logistic(self, e):
        return self._call("hard_logistic", e)

    def _print_hard_tanh(self, e):
        return self._call("hard_tanh", e)

    def _print_maxout(self, e):
        return self._call("maxout", e)

    def _print_Heaviside(self, e):
        x = self._print(e.args[0])
        h0 = e.args[1] if len(e.args) > 1 else sp.S.Half
        return f"heaviside({x}, {float(h0)!r})"

    def _print_Max(self, e):
        return reduce(lambda a, b: f"np.maximum({a}, {b})", (self._print(a) for a in e.args))

    def _print_Min(self, e):
        return reduce(lambda a, b: f"np.minimum({a}, {b})", (self._print(a) for a in e.args))

    def _print_Float(self, e):
        return repr(float(e))

    def _print_Rational(self, e):
        return f"{e.p}/{e.q}" if e.q != 1 else str(e.p)

    def _print_Integer(self, e):
        return str(e.p)


# ------------------------------------------------------------ code generation


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


def _step_lines(s: Step, dtype: str) -> list[str]:
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
        if s.attr is None:
            return [f"    {s.out} = np.sum({a[0]})"]
        return [f"    {s.out} = np.sum({a[0]}, axis={s.attr}, keepdims=True)"]
    if op in ("softmax", "log_softmax", "logsumexp"):
        return [f"    {s.out} = {op}({a[0]})"]
    if op == "ew":
        names = {VARS[k]: v for k, v in enumerate(a)}
        printer = SymnetNumPyPrinter(names)
        lines = _body_lines(printer, s.out, s.attr, f"_{s.out}")
        # An argument of full shape makes the result full; otherwise the
        # body only broadcasts smaller arguments and must be spread out.
        if s.shape != (1, 1) and s.shape not in s.arg_shapes:
            lines.append(f"    {s.out} = np.broadcast_to({s.out}, "
                         f"({_dim(s.shape[0])}, {_dim(s.shape[1])}))")
        return lines
    raise ValueError(f"numpy backend: no printer for op {op}")


def generate(prog: Program, name: str = "kernel", dtype=np.float64) -> str:
    """Python source of a function computing the program's outputs."""
    dtype = np.dtype(dtype).name
    params = ", ".join(n for n, _ in prog.inputs)
    lines = [f"def {name}({params}{', ' if params and prog.dims else ''}"
             f"{', '.join(str(d) for d in prog.dims)}):"]
    for s in prog.steps:
        lines.extend(_step_lines(s, dtype))
    lines.append(f"    return ({', '.join(prog.outputs)}{',' if len(prog.outputs) == 1 else ''})")
    return "\n".join(lines) + "\n"


def load(source: str, name: str = "kernel") -> Callable:
    """Execute generated source; keep it in linecache so inspect.getsource works."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    filename = f"<symnet-numpy-{digest}>"
    code = compile(source, filename, "exec")
    ns = dict(NAMESPACE)
    exec(code, ns)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    fn = ns[name]
    fn.__source__ = source
    return fn


def build(prog: Program, name: str = "kernel", dtype=np.float64) -> tuple[Callable, str]:
    """Generate and load the program; return (function, source)."""
    source = generate(prog, name, dtype)
    return load(source, name), source
