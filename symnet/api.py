"""Public entry points: grad, compile, check_grad."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

from . import backends, config, diskcache, serialize
from .derive import NoDependenceError, derive
from .formulas import Gradients, equations, name_layers
from .frontend import Frontend
from .graph import Graph
from .identity import kernel_identity
from .ops import ShapeError
from .passes import FORWARD_PASSES, LOWERING_PASSES, run_passes
from .runtime import Kernel
from .schedule import Program, schedule
from .tosympy import ToSympy

__all__ = ["grad", "compile", "compile_grad", "check_grad", "GradCheck", "lower"]


def _is_matrix(e) -> bool:
    return isinstance(e, MatrixExpr) or getattr(e, "is_Matrix", False)


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


def _check_wrt(wrt: Sequence[sp.Basic]) -> None:
    for w in wrt:
        if not isinstance(w, (sp.Symbol, sp.MatrixSymbol)):
            raise TypeError(f"can only differentiate with respect to a Symbol or MatrixSymbol, "
                            f"got {w!r} ({type(w).__name__})")


def _loss_node(fe: Frontend, expr: sp.Basic) -> int:
    if _is_matrix(expr) and expr.shape != (1, 1):
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
    _check_wrt(wrt)
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
    if isinstance(w, sp.MatrixSymbol) and not _is_matrix(e):
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
    dtype = _dtype(dtype)

    def derive_program():
        fe = Frontend()
        g = fe.g
        g.outputs = [fe.add(o) for o in outs]
        _check_inputs(g, ins)
        trace = _debug_trace()
        g = run_passes(g, FORWARD_PASSES, trace)
        name_layers(g, {}, len(g.nodes) - 1)
        g = run_passes(g, LOWERING_PASSES, trace)
        return schedule(g, ins), outs

    prog, outs = _cached_program(("compile", outs, ins), derive_program)
    return _kernel(prog, ins, outs, backend, dtype, name)


def _check_inputs(g: Graph, ins: list) -> None:
    _check_wrt(ins)
    if len(set(ins)) != len(ins):
        raise ValueError(f"inputs repeat a symbol: {ins}")
    alive = g.live()
    leaves = {g.nodes[i].attr for i in g.leaves() if alive[i]}
    missing = sorted(str(s) for s in leaves
                      if isinstance(s, (sp.Symbol, sp.MatrixSymbol)) and s not in ins)
    if missing:
        raise ValueError(f"the outputs use {', '.join(missing)}, which is not among the "
                         f"inputs {[str(s) for s in ins]}")


def _dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float64, np.float32):
        raise TypeError(f"dtype must be float64 or float32, got {dtype}")
    return dtype


_PROGRAMS: dict[str, tuple[Program, list]] = {}


def _cached_program(what: tuple, derive_program) -> tuple[Program, list]:
    """(Program, output expressions) for ``what``, derived once per machine.

    Identified by the exact SymPy structure (``srepr``) of the request and
    the version of symnet's sources, in memory and in the disk cache, so a
    warm process skips derivation and the passes entirely. On disk the
    program is data (:mod:`symnet.serialize`), read back without running code.
    """
    ident = kernel_identity("program", {"request": sp.srepr(what)})
    hit = _PROGRAMS.get(ident.digest)
    if hit is None:
        payload = diskcache.read("prog", ident)
        if payload is not None:
            try:
                prog, outs = serialize.loads(payload)
                if isinstance(prog, Program) and isinstance(outs, list):
                    hit = prog, outs
            except (serialize.SerializeError, TypeError, ValueError):
                hit = None  # damaged or from an older format: derive again
    if hit is None:
        hit = derive_program()
        try:
            text = serialize.dumps(list(hit))
        except serialize.SerializeError:
            pass  # an expression symnet cannot store is derived again next time
        else:
            diskcache.write("prog", ident, text.encode())
    _PROGRAMS[ident.digest] = hit
    return hit


def _kernel(prog: Program, ins: list, outs: list, backend: str, dtype, name: str) -> Kernel:
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
    dtype = _dtype(dtype)
    expr = sp.sympify(expr)

    def derive_program():
        g, _, grads = lower(expr, wrt)
        _check_inputs(g, ins)
        conv = ToSympy(g)
        outs = [expr, *[_fix_shape(conv(i), w) for i, w in zip(grads, wrt, strict=True)]]
        return schedule(g, ins), outs

    prog, outs = _cached_program(("compile_grad", expr, wrt, ins), derive_program)
    return _kernel(prog, ins, outs, backend, dtype, name)


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
    ``values`` maps every symbol of ``expr`` to a number or array.

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
