"""NumPy backend: a Program -> readable Python source, executed into a function."""

from __future__ import annotations

import hashlib
import linecache
import math
import re
from collections.abc import Callable
from functools import reduce

import numpy as np
import sympy as sp
from scipy.special import expit
from sympy.printing.numpy import NumPyPrinter

from ..graph import VARS
from ..schedule import Program, Step

__all__ = ["NAMESPACE", "SymnetNumPyPrinter", "build_sgd_epoch", "generate",
           "generate_sgd_epoch", "load"]


# ------------------------------------------------------------ stable runtime forms
# One function per head, named as the head: the printer emits ``logistic(x)``.
# A single ufunc where one does the job stably: on the small column vectors of
# per-sample SGD, NumPy's per-call overhead (about a microsecond) costs more
# than the arithmetic, so fewer calls is what counts.

#: Up to this many elements one scalar-loop ufunc (SciPy's expit, NumPy's
#: logaddexp) is fastest; beyond it their loops cost several times NumPy's
#: vectorized exp per element, and a few vectorized ufuncs win.
FEW = 256


def logistic(x):
    """1/(1 + exp(-x)), finite everywhere: exp(-x) overflowing to inf gives exactly 0.

    >>> logistic(np.array([-800.0, 0.0, 800.0], dtype=np.float32))
    array([0. , 0.5, 1. ], dtype=float32)
    """
    if getattr(x, "size", 1) <= FEW:
        return expit(x)
    e = np.exp(-x)
    e += 1.0
    return np.divide(1.0, e, out=e)


def softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): never overflows.

    >>> softplus(np.array([-800.0, 0.0, 800.0])).tolist()
    [0.0, 0.6931471805599453, 800.0]
    """
    if getattr(x, "size", 1) <= FEW:
        return np.logaddexp(0, x)  # the same sign-split form in one ufunc
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def relu(x):
    # One pass; NaN propagates and relu(-inf) = 0 (as in the LLVM backend).
    return np.maximum(x, 0.0)


def leaky_relu(x, gamma):
    return np.where(x > 0, x, gamma * x)


prelu = leaky_relu


def hard_logistic(x):
    # np.clip's Python wrapper costs more than these two ufuncs (same result, NaN included).
    return np.minimum(np.maximum(0.25 * x + 0.5, 0.0), 1.0)


def hard_tanh(x):
    return np.minimum(np.maximum(x, -1.0), 1.0)


def maxout(*xs):
    return reduce(np.maximum, xs)


def heaviside(x, h0):
    # Built from x's own dtype so float32 kernels stay float32.
    x = np.asarray(x)
    if h0 == 0:
        # ReLU's derivative: 1 where x > 0, else +0 (NaN too), in two passes.
        return (x > 0).astype(x.dtype)
    one = np.ones_like(x)
    return np.where(x > 0, one, np.where(x < 0, 0.0 * one, h0 * one))


def _column_max(z):
    """Max of each column, 0 where it is not finite: a column of -inf (or one
    holding +inf) would otherwise give inf - inf. The LLVM backend shifts alike."""
    if z.shape[1] == 1:
        # One column (per-sample SGD): a scalar max checked in Python costs
        # a third of the array-valued guard.
        m = np.maximum.reduce(z, axis=None)
        return m if math.isfinite(m) else 0.0
    m = np.maximum.reduce(z, axis=0, keepdims=True)
    return np.where(np.isfinite(m), m, 0.0)


def logsumexp(z):
    """log sum exp over each column (axis 0), max-shifted.

    >>> with np.errstate(divide="ignore"):  # log(0) in the all -inf column
    ...     logsumexp(np.array([[0.0, -np.inf], [np.log(3.0), -np.inf]])).tolist()
    [[1.3862943611198906, -inf]]
    """
    m = _column_max(z)
    return m + np.log(np.add.reduce(np.exp(z - m), axis=0, keepdims=True))


def softmax(z):
    """Softmax of each column (axis 0), max-shifted so exp never overflows.

    >>> softmax(np.array([[800.0], [800.0]], dtype=np.float32)).tolist()
    [[0.5], [0.5]]
    """
    e = np.exp(z - _column_max(z))
    return e / np.add.reduce(e, axis=0, keepdims=True)


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
        # np.add.reduce is what np.sum runs, without its Python wrapper.
        if s.attr is None:
            return [f"    {s.out} = np.add.reduce({a[0]}, axis=None)"]
        return [f"    {s.out} = np.add.reduce({a[0]}, axis={s.attr}, keepdims=True)"]
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


# ------------------------------------------------------------ whole SGD epochs


def _inplace_update(s: Step, param: str) -> list[str] | None:
    """``param -= q`` lines for an update step printed ``param - q``, else None.

    Only when the subtraction Python would run is textually the same, so the
    in-place form rounds exactly as the step's ``param - q`` followed by a copy.
    """
    if s.op != "ew" or param not in s.args or s.shape not in s.arg_shapes:
        return None
    names = {VARS[k]: v for k, v in enumerate(s.args)}
    printer = SymnetNumPyPrinter(names)
    syms = sp.numbered_symbols(f"_{s.out}_")
    reps, (red,) = sp.cse([s.attr], symbols=syms, optimizations=None, order="canonical")
    p = VARS[s.args.index(param)]
    if not (red.is_Add and p in red.args):
        return None
    q = p - red
    # "p - a + b" would be (p - a) + b: only a product, power or call follows unparenthesized.
    if q.is_Add:
        return None
    q_text = printer.doprint(q)
    if printer.doprint(red) != f"{param} - {q_text}":
        return None
    lines = [f"    {printer.doprint(t)} = {printer.doprint(v)}" for t, v in reps]
    return [*lines, f"    {param} -= {q_text}"]


def _aliases(prog: Program, params: set[str]) -> dict[str, set[str]]:
    """For each buffer, the parameters whose memory it may share (views, renames)."""
    alias = {p: {p} for p in params}
    for s in prog.steps:
        if s.op == "transpose":
            alias[s.out] = set(alias.get(s.args[0], ()))
        elif s.op == "ew" and s.attr in VARS[:len(s.args)]:
            alias[s.out] = set(alias.get(s.args[VARS.index(s.attr)], ()))
    return alias


def _epoch_body(prog: Program, dtype: str, batch: sp.Symbol, one: bool,
                updates: list[tuple[str, str]], inplace: dict[str, list[str]]) -> list[str]:
    """One batch's statements (4-space indent): the step with updates at the end."""
    moved = {out for p, out in updates if p in inplace}
    lines: list[str] = []
    for s in prog.steps:
        if s.out in moved:
            continue
        if (one and s.op == "reduce" and s.attr is not None
                and s.arg_shapes[0][s.attr] == batch):
            # A sum over a batch of one is that column plus 0.0 (which turns -0.0
            # into 0.0 as np.add.reduce does): same bits, a tenth of the cost.
            lines.append(f"    {s.out} = {s.args[0]} + 0.0")
            continue
        if one and s.op == "matmul" and s.arg_shapes[0][0 if s.attr[0] else 1] == batch:
            # A product over a batch of one is an outer product: broadcasting
            # multiplies the same pairs as the matmul, without its BLAS setup.
            ta, tb = s.attr
            lines.append(f"    {s.out} = {s.args[0]}{'.T' if ta else ''} * "
                         f"{s.args[1]}{'.T' if tb else ''}")
            continue
        lines.extend(_step_lines(s, dtype))
    for p, _ in updates:
        lines.extend(inplace.get(p, ()))
    lines.extend(f"    {p}[...] = {out}" for p, out in updates if p not in inplace and p != out)
    return lines


def _fresh(base: str, taken: set[str]) -> str:
    name = base
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def generate_sgd_epoch(prog: Program, name: str, dtype, x: str, y: str, batch: sp.Symbol,
                       loss: str | None, updates: list[tuple[str, str]]) -> str:
    """Python source of a whole SGD epoch over a step program.

    ``prog`` computes one step from the batch inputs ``x`` and ``y`` (their
    columns are samples; ``batch`` is the symbol of their column count):
    its output ``loss`` (or None) and, per ``(param, output)`` of
    ``updates``, the parameter's new value. The generated function takes
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
    >>> print(generate_sgd_epoch(prog, 'epoch', 'float64', 'X', 'Y', m, None, [('w', 't1')]))
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
    params = {p for p, _ in updates}
    outs = [o for _, o in updates]
    read = {a for s in prog.steps for a in s.args}
    alias = _aliases(prog, params)
    inplace: dict[str, list[str]] = {}
    steps = {s.out: s for s in prog.steps}
    for p, out in updates:
        s = steps.get(out)
        if s is None or out in read or outs.count(out) > 1 or out in alias:
            continue
        # Run after every other statement, each reads old values unless an
        # earlier in-place update already changed a parameter it sees.
        seen = set().union(*(alias.get(a, set()) for a in s.args)) - {p}
        lines = _inplace_update(s, p)
        if lines is None or seen & set(inplace):
            continue
        inplace[p] = lines
    copied = {p for p, out in updates if p not in inplace and p != out}
    if any(alias.get(out, set()) & set(inplace) for p, out in updates if p in copied):
        inplace = {}  # a copy would read an updated parameter: keep the step's order
    bodies = {one: _epoch_body(prog, dtype, batch, one, updates, inplace) for one in (True, False)}

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


def build_sgd_epoch(prog: Program, name: str, dtype, x: str, y: str, batch: sp.Symbol,
                    loss: str | None, updates: list[tuple[str, str]]) -> tuple[Callable, str]:
    """Generate and load a whole SGD epoch (see :func:`generate_sgd_epoch`).

    >>> import sympy as sp
    >>> from symnet.schedule import Program, Step
    >>> m = sp.Symbol('m')
    >>> prog = Program([('X', None), ('Y', None), ('alpha', None), ('w', None)], [m])
    >>> prog.steps = [Step('t0', 'reduce', ('X',), (sp.S(1), sp.S(1)), 1, ((sp.S(1), m),)),
    ...               Step('t1', 'ew', ('w', 'alpha', 't0'), (sp.S(1), sp.S(1)),
    ...                    VARS[0] - VARS[1] * VARS[2], ((1, 1), (1, 1), (1, 1)))]
    >>> prog.outputs = ['t1']
    >>> fn, _ = build_sgd_epoch(prog, 'epoch', 'float64', 'X', 'Y', m, None, [('w', 't1')])
    >>> X = np.array([[1.0, 2.0, 3.0]]); w = np.zeros((1, 1))
    >>> rows = np.ascontiguousarray(X.T)
    >>> fn(rows, rows, X, X, np.array([0, 2]), 1, 0.5, w)
    nan
    >>> w.tolist()  # 0 - 0.5*1 - 0.5*3
    [[-2.0]]
    >>> fn(rows, rows, X, X, np.array([0, 1, 2]), 2, 0.5, w)  # batches [0, 1], [2]
    nan
    >>> w.tolist()  # -2 - 0.5*(1 + 2) - 0.5*3
    [[-5.0]]
    """
    source = generate_sgd_epoch(prog, name, dtype, x, y, batch, loss, updates)
    return load(source, name), source


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
