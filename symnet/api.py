"""Public entry points: grad, compile, check_grad."""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import backends, config
from .derive import NoDependenceError, derive
from .errors import ShapeError
from .formulas import Gradients, equations, name_layers, name_nodes
from .frontend import Frontend
from .graph import Graph
from .ops import is_matrix
from .passes import FORWARD_PASSES, LOWERING_PASSES, run_passes
from .programs import cached_program, check_dtype, check_inputs, check_wrt
from .runtime import Kernel
from .schedule import Program, schedule
from .tosympy import ToSympy

__all__ = ["grad", "compile", "compile_grad", "check_grad", "GradCheck", "build_kernel",
           "lower"]


def debug_level() -> int:
    """SYMNET_DEBUG: 1 graph after each pass, 2 + program and source,
    3 + optimized LLVM IR, 4 + assembly (see :mod:`symnet.config`)."""
    return config.debug_level()


def _debug_trace():
    if debug_level() < 1:
        return None

    def trace(name: str, g: Graph) -> None:
        print(f"--- graph after {name} ---\n{g.table()}")

    return trace


def _as_list(x) -> list:
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _loss_node(fe: Frontend, expr: sp.Basic) -> int:
    if is_matrix(expr) and expr.shape != (1, 1):
        raise ShapeError(f"the expression to differentiate must be a scalar, got the "
                         f"{expr.shape[0]} x {expr.shape[1]} matrix {expr}")
    return fe.add(expr)


def _wrt_nodes(g: Graph, expr, wrt) -> list[int]:
    ids = []
    for w in wrt:
        i = g.find_leaf(w)
        if i is None:
            raise NoDependenceError(f"{expr} does not depend on {w}: it does not occur in "
                                    "the expression. Remove it from the variables, or check "
                                    "the expression.")
        ids.append(i)
    return ids


def lower(expr: sp.Basic, wrt: Sequence[sp.Basic]) -> tuple[Graph, int, list[int]]:
    """Forward graph of ``expr`` with its gradients derived and lowered.

    Returns the graph (outputs: the loss, then one gradient per ``wrt``).
    """
    expr = sp.sympify(expr)
    check_wrt(wrt)
    fe = Frontend()
    loss = _loss_node(fe, expr)
    g = fe.g
    g.outputs = [loss]
    trace = _debug_trace()
    g = run_passes(g, FORWARD_PASSES, trace)
    loss = g.outputs[0]
    grads, adjoint = derive(g, loss, _wrt_nodes(g, expr, wrt))
    name_layers(g, adjoint, loss)
    g.outputs = [loss, *grads]
    g = run_passes(g, LOWERING_PASSES, trace)
    return g, g.outputs[0], g.outputs[1:]


def grad(expr: sp.Basic, wrt: sp.Basic | Iterable[sp.Basic]) -> Gradients:
    """Gradient of a scalar expression w.r.t. each of ``wrt``, as SymPy expressions.

    Derived by reverse accumulation on a shared matrix-level graph; the
    result is a list with one expression per variable (matrix gradients
    have the variable's shape) that also prints the backpropagation
    equations.

    >>> from symnet import logistic
    >>> x, w, b = sp.symbols('x w b')
    >>> dw, db = grad(logistic(w * x + b), [w, b])
    >>> dw.subs({x: 1, w: 0, b: 0}), db.subs({x: 1, w: 0, b: 0})
    (1/4, 1/4)
    """
    wrt = _as_list(wrt)
    g, _, grads = lower(expr, wrt)
    conv = ToSympy(g)
    exprs = [conv(i) for i in grads]
    exprs = [_fix_shape(e, w) for e, w in zip(exprs, wrt, strict=True)]
    defs, named = equations(g, grads)
    return Gradients(exprs, wrt, defs, named)


def _fix_shape(e, w):
    if isinstance(w, sp.MatrixSymbol) and not is_matrix(e):
        # A gradient that is a constant times the all-ones matrix.
        return e * sp.OneMatrix(*w.shape)
    return e


def compile(outputs: sp.Basic | Iterable[sp.Basic], inputs: Iterable[sp.Basic],
            backend: str = "numpy", dtype="float64", name: str = "kernel") -> Kernel:
    """Compile SymPy expressions into a kernel over arrays.

    ``inputs`` lists every Symbol / MatrixSymbol the outputs use, in call
    order. Matrix inputs take 2-D arrays (symbolic sizes are read off them);
    scalar inputs take numbers, or 1-D arrays of points when no input is a
    matrix, in which case every output is evaluated at each point.

    >>> import numpy as np
    >>> from symnet import logistic
    >>> x, w = sp.symbols('x w')
    >>> k = compile([logistic(w * x)], [x, w])
    >>> k(np.array([0.0, 800.0, -800.0]), 1.0)[0]
    array([0.5, 1. , 0. ])
    """
    outs = [sp.sympify(o) for o in _as_list(outputs)]
    ins = list(inputs)
    dtype = check_dtype(dtype)

    def derive_program():
        fe = Frontend()
        g = fe.g
        g.outputs = [fe.add(o) for o in outs]
        check_inputs(g, ins)
        trace = _debug_trace()
        g = run_passes(g, FORWARD_PASSES, trace)
        name_layers(g, {}, len(g.nodes) - 1)
        g = run_passes(g, LOWERING_PASSES, trace)
        return schedule(g, ins), outs

    prog, outs = cached_program(("compile", outs, ins), derive_program)
    return build_kernel(prog, ins, outs, backend, dtype, name)


def build_kernel(prog: Program, ins: list, outs: list, backend: str, dtype,
                 name: str) -> Kernel:
    """The kernel of a derived program: the backend builds its code (a warm disk cache
    loads it), ``ins`` are the input symbols in call order, ``outs`` the outputs.

    >>> x = sp.Symbol('x')
    >>> k = compile([2 * x], [x])
    >>> float(build_kernel(k.program, [x], k.outputs, 'numpy', 'float64', 'twice')(3.0)[0])
    6.0
    """
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"a kernel name must be a C and Python identifier, got {name!r}")
    be = backends.get(backend)
    fn, source = be.build(prog, name=name, dtype=dtype)
    kernel = Kernel(fn, prog, ins, outs, backend, source, dtype)
    level = debug_level()
    if level >= 2:
        print(f"--- program ---\n{prog}\n--- {backend} source ---\n{kernel.source}")
    if level >= 3 and hasattr(fn, "llvm_ir_optimized"):
        print(f"--- optimized LLVM IR ---\n{fn.llvm_ir_optimized}")
    if level >= 4 and hasattr(fn, "asm"):
        print(f"--- assembly ---\n{fn.asm}")
    return kernel


def compile_grad(expr: sp.Basic, wrt: Sequence[sp.Basic], inputs: Iterable[sp.Basic],
                 backend: str = "numpy", dtype="float64", name: str = "step") -> Kernel:
    """Compile the value of ``expr`` and its gradient w.r.t. ``wrt`` in one kernel.

    The kernel returns ``[value, *gradients]``; it is built straight from
    the derived graph, so its buffers carry the textbook names (z1, a1,
    delta1, ...). Same numbers as ``compile([expr, *grad(expr, wrt)], inputs)``.

    >>> x, w = sp.symbols('x w')
    >>> k = compile_grad(w * x ** 2, [w], [x, w])
    >>> [float(v) for v in k(3.0, 2.0)]
    [18.0, 9.0]
    """
    wrt = _as_list(wrt)
    ins = list(inputs)
    dtype = check_dtype(dtype)
    expr = sp.sympify(expr)

    def derive_program():
        g, _, grads = lower(expr, wrt)
        check_inputs(g, ins)
        conv = ToSympy(g)
        outs = [expr, *[_fix_shape(conv(i), w) for i, w in zip(grads, wrt, strict=True)]]
        g_loss = g.outputs[0]
        name_nodes(g, [g_loss, *grads], ["value", *[f"d{w}" for w in wrt]])  # dW1, db1
        return schedule(g, ins), outs

    prog, outs = cached_program(("compile_grad", expr, wrt, ins), derive_program)
    return build_kernel(prog, ins, outs, backend, dtype, name)


@dataclass
class GradCheck:
    """Result of :func:`check_grad`: directional derivative two ways."""

    numerical: float
    analytic: float
    abs_error: float
    rel_error: float
    eps: float
    rtol: float

    @property
    def ok(self) -> bool:
        return self.rel_error <= self.rtol

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = "OK" if self.ok else "MISMATCH"
        return (f"gradient check {verdict}: central difference {self.numerical:.12g}, "
                f"derived {self.analytic:.12g}, relative error {self.rel_error:.3g} "
                f"(tolerance {self.rtol:g}, step {self.eps:g})")


def check_grad(expr: sp.Basic, wrt: Sequence[sp.Basic], values: dict, *, eps: float = 1e-6,
               rtol: float = 1e-6, seed: int = 0) -> GradCheck:
    """Compare the derived gradient with central differences (eq. 4.59).

    Along a random direction v: (f(θ + εv) − f(θ − εv)) / 2ε against ⟨∇f, v⟩.
    ``values`` maps every symbol of ``expr`` to a number or array (a label
    matrix also to 1-D integer labels, as every kernel takes it).

    >>> from symnet import logistic
    >>> x, w = sp.symbols('x w')
    >>> print(check_grad(logistic(w * x), [w], {x: 1.5, w: 0.2}).ok)
    True
    """
    wrt = _as_list(wrt)
    expr = sp.sympify(expr)
    syms = sorted(values, key=str)
    missing = [str(s) for s in wrt if s not in values]
    if missing:
        raise ValueError(f"check_grad needs values for {', '.join(missing)}")
    grads = grad(expr, wrt)
    k = compile([expr, *grads], syms)
    # As every kernel takes them: a label matrix also from 1-D class labels.
    base = {s: np.asarray(values[s], dtype=float) for s in syms}
    rng = np.random.default_rng(seed)
    direction = {w: rng.standard_normal(np.shape(base[w])) for w in wrt}

    def at(t: float) -> float:
        point = dict(base)
        for w in wrt:
            point[w] = base[w] + t * direction[w]
        return float(np.sum(k(*[point[s] for s in syms])[0]))

    outs = k(*[base[s] for s in syms])
    analytic = float(sum(np.sum(np.asarray(gv) * direction[w])
                         for gv, w in zip(outs[1:], wrt, strict=True)))
    numerical = (at(eps) - at(-eps)) / (2 * eps)
    err = abs(numerical - analytic)
    rel = err / max(abs(numerical), abs(analytic), 1e-12)
    return GradCheck(numerical, analytic, err, rel, eps, rtol)
