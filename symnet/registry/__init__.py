"""The operation registry: one row per scalar head and per column op, holding
everything about it -- SymPy head, derivative overrides, stable forms, NumPy
form, LLVM form, printed name and test parameters.

Adding a function is one :func:`register` call (plus its test); the front
end, the derivation, the stabilization pass, both backends, the command
line and the README table all read these rows. Backend forms are written
against small neutral interfaces (:class:`ScalarBuilder`), so the registry
imports no backend.

>>> from symnet import heads
>>> row = lookup(heads.logistic)
>>> row.name, row.activation, row.numpy_name
('logistic', True, 'logistic')
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import sympy as sp

from ..graph import COLUMN_OPS
from .accuracy import describe as _accuracy

__all__ = ["ACTIVATIONS", "COLUMN_ROWS", "STRUCTURAL", "ColumnOp", "Op", "ScalarBuilder",
           "activation_names", "activations", "column_row", "fingerprint", "lookup", "register",
           "register_column", "rows", "scalar_heads", "stable_forms", "support_table",
           "unregister", "version"]


class ScalarBuilder(Protocol):
    """What a backend offers a row's compiled form: arithmetic on values of one
    element type (fast-math ``contract`` only, never ``nnan``/``ninf``)."""

    def const(self, v: float) -> Any: ...
    def add(self, a: Any, b: Any) -> Any: ...
    def sub(self, a: Any, b: Any) -> Any: ...
    def mul(self, a: Any, b: Any) -> Any: ...
    def div(self, a: Any, b: Any) -> Any: ...

    def select(self, op: str, a: Any, b: Any, t: Any, f: Any) -> Any:
        """``t if a op b else f``, ordered: a NaN operand makes the test false."""

    def select_unordered(self, op: str, a: Any, b: Any, t: Any, f: Any) -> Any:
        """``t if a op b else f``, unordered: a NaN operand makes the test true."""

    def routine(self, name: str, x: Any) -> Any:
        """A branch-free SIMD routine of the LLVM backend's vecmath, by name
        (one of ``symnet.backends.llvm.vecmath.MATH_FUNCTIONS``: exp, log,
        log1p, expm1, tanh, logistic, softplus, sin, cos, tan, atan, asin,
        acos, erf, erfc, ...)."""

    def intrinsic(self, name: str, *xs: Any) -> Any:
        """An LLVM intrinsic of the element type: sqrt, fabs, copysign, floor,
        ceil, minnum, maxnum, ... (one instruction or a short sequence)."""

    def libm(self, name: str, *xs: Any) -> Any:
        """A C math library function of the element type (atan, erf, atan2, ...)."""

    def cmp(self, op: str, a: Any, b: Any) -> Any:
        """A condition: ``a op b`` for op in <, <=, >, >=, ==, != (ordered but !=)."""

    def pick(self, cond: Any, t: Any, f: Any) -> Any:
        """``t`` where the condition holds, else ``f`` (a select: both are computed)."""

    def both(self, a: Any, b: Any) -> Any: ...
    def either(self, a: Any, b: Any) -> Any: ...
    def negate(self, a: Any) -> Any: ...
    def truth(self, value: bool) -> Any: ...


#: A row's compiled form: (builder, the SymPy node, emit(subexpression) -> value) -> value.
Emit = Callable[[ScalarBuilder, sp.Expr, Callable[[sp.Expr], Any]], Any]


@dataclass(frozen=True)
class Op:
    """Everything about one scalar head."""

    head: type                                  # the SymPy class
    llvm: Emit                                  # its compiled form
    #: NumPy: the runtime function printed as ``numpy_name(args)`` (a callable,
    #: or the name of one in :mod:`.npforms`, loaded only by the NumPy
    #: backend), or a printer ``(printer, e) -> str``, or neither (SymPy's
    #: NumPy printer knows it)
    numpy: Callable | str | None = None
    numpy_print: Callable[[Any, sp.Expr], str] | None = None
    #: the name ``numpy`` goes by in generated code (default: the head's name)
    numpy_as: str = ""
    #: d head / d args[k] as (args, k) -> expr, overriding the head's fdiff
    partials: Callable[[tuple, int], sp.Expr] | None = None
    #: reverse accumulation through the node itself, (e, adjoint) -> [(child,
    #: contribution)], for heads whose arguments are not plain values (Piecewise)
    adjoint: Callable[[sp.Expr, sp.Expr], list] | None = None
    #: (pattern, replacement) rewrites into forms finite wherever the value is,
    #: or a function making them (built on first use: SymPy's first sum costs
    #: ``import symnet`` a tenth of its time)
    stable: tuple[tuple[sp.Expr, sp.Expr], ...] | Callable[[], tuple] = ()
    #: an activation the builders and the command line offer by name
    activation: bool = False
    #: test parameters: an example of the head applied to x, and where to sample it
    example: Callable[[sp.Symbol], sp.Expr] | None = None
    domain: tuple[float, float] = (-3.0, 3.0)
    #: points where the derivative jumps (central differences avoid them)
    kinks: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        return self.head.__name__

    def numpy_form(self) -> Callable | None:
        """The NumPy runtime function itself (imports :mod:`.npforms` on first use)."""
        if isinstance(self.numpy, str):
            from . import npforms

            return getattr(npforms, self.numpy)
        return self.numpy

    @property
    def numpy_name(self) -> str | None:
        return (self.numpy_as or self.name) if self.numpy is not None else None


@dataclass(frozen=True)
class ColumnOp:
    """Everything about one column op (softmax-like, over axis 0 of a matrix)."""

    head: type                   # the SymPy matrix head
    op: str                      # its graph op name
    numpy: Callable              # NumPy runtime form, printed ``op(z)``
    #: reverse-mode rule: (graph, node id, node, upstream G) -> [(arg, contribution)]
    derive: Callable[..., list]
    #: one value per column (1 x cols) instead of one per entry
    reduces: bool = False
    #: the per-column pass keeps exp(z - shift) in the output, finished in place
    keeps_exp: bool = False
    #: finish(builder, z, e, shift, total) -> value; each argument is a thunk
    #: giving the value at the entry (z, the stored exp e) or of the column
    finish: Callable[..., Any] = field(default=lambda b, z, e, m, s: None)
    #: forward-mode rule: (graph, node id, node, tangent of z) -> tangent node
    forward: Callable[..., int] | None = None


_ROWS: dict[type, Op] = {}
_COLUMNS: dict[str, ColumnOp] = {}
#: Bumped by every registration: readers that cache derived tables check it.
_VERSION = [0]
_FINGERPRINT: dict[int, str] = {}


def version() -> int:
    """A counter that changes whenever a row is registered or removed."""
    return _VERSION[0]


def _code_of(fn: object) -> bytes:
    # symnet's own functions are covered by the hash of its sources; a
    # user's are identified by their bytecode and constants, so changing
    # one compiles new kernels instead of reusing cached ones.
    module = getattr(fn, "__module__", "") or ""
    name = f"{module}:{getattr(fn, '__qualname__', type(fn).__name__)}".encode()
    code = getattr(fn, "__code__", None)
    if module.startswith("symnet.") or code is None:
        return name
    return name + code.co_code + repr(code.co_consts).encode()


def fingerprint() -> str:
    """sha256 of every row (heads, forms, rules), part of every kernel's identity.

    >>> len(fingerprint())
    64
    """
    hit = _FINGERPRINT.get(_VERSION[0])
    if hit is None:
        h = hashlib.sha256()
        for row in [*_ROWS.values(), *_COLUMNS.values()]:
            h.update(f"{row.head.__module__}:{row.head.__qualname__}".encode())
            for f in fields(row):
                value = getattr(row, f.name)
                h.update(_code_of(value) if callable(value) and not isinstance(value, type)
                         else repr(value).encode())
        hit = _FINGERPRINT[_VERSION[0]] = h.hexdigest()
    return hit


def register(row: Op) -> Op:
    """Add (or replace) the row of a scalar head; returns it.

    >>> r = lookup(sp.tanh)
    >>> register(r) is r
    True
    """
    _ROWS[row.head] = row
    _VERSION[0] += 1
    return row


def unregister(head: type) -> None:
    """Remove a head's row (a toy operation registered by a test, say)."""
    del _ROWS[head]
    _VERSION[0] += 1


def register_column(row: ColumnOp) -> ColumnOp:
    """Add the row of a column op; its name must be one of ``graph.COLUMN_OPS``
    (the IR's own list: a new column op is a new IR op)."""
    if row.op not in COLUMN_OPS:
        raise ValueError(f"column op {row.op!r} is not an IR op (graph.COLUMN_OPS)")
    _COLUMNS[row.op] = row
    _VERSION[0] += 1
    return row


def lookup(head: type) -> Op | None:
    """The row of a head (or of its nearest registered base class)."""
    for cls in head.__mro__:
        row = _ROWS.get(cls)
        if row is not None:
            return row
    return None


def rows() -> list[Op]:
    """Every scalar row, in registration order."""
    return list(_ROWS.values())


def column_row(op: str) -> ColumnOp:
    return _COLUMNS[op]


def scalar_heads() -> tuple[type, ...]:
    """The heads that may appear in elementwise bodies."""
    return tuple(_ROWS)


def stable_forms() -> tuple[tuple[sp.Expr, sp.Expr], ...]:
    """Every row's stable-form rewrites, rows in registration order."""
    return tuple(f for r in _ROWS.values()
                 for f in (r.stable() if callable(r.stable) else r.stable))


def support_table() -> str:
    """The README's table of supported scalar heads (a test keeps README in step).

    The accuracy column is the measured error of the LLVM form
    (:mod:`.accuracy`, written by ``benchmarks/accuracy.py``).

    >>> print(support_table().splitlines()[0])
    | head | NumPy | LLVM | derivative | accuracy |
    """
    lines = ["| head | NumPy | LLVM | derivative | accuracy |", "|---|---|---|---|---|"]
    for r in _ROWS.values():
        numpy = f"`{r.numpy_name}`" if r.numpy_name else "SymPy's NumPy printer"
        if r.numpy_print is not None and not r.numpy_name:
            numpy = "own printer"
        llvm = getattr(r.llvm, "__doc__", None) or "builder"
        deriv = "override" if r.partials is not None else "fdiff"
        lines.append(f"| `{r.name}` | {numpy} | {llvm.splitlines()[0]} | {deriv} "
                     f"| {_accuracy(r.name)} |")
    for c in _COLUMNS.values():
        lines.append(f"| `{c.op}` (column) | `{c.op}` | column kernel | rule "
                     f"| {_accuracy(c.op)} |")
    # Imported here: the linalg rows build on the graph, which imports this package.
    from ..graph import KRON_OPS
    from .linalg import LINALG_ROWS

    def cell(text: str) -> str:
        return text.splitlines()[0].rstrip(".").replace("|", "\\|")

    for m in LINALG_ROWS:
        head = "log(Determinant)" if m.op == "logdet" else m.head.__name__
        acc = "sums of products, as `matmul`" if m.op in KRON_OPS else "backward stable"
        lines.append(f"| `{head}` (matrix, `{m.op}`) | {cell(m.numpy.__doc__)} "
                     f"| {cell(m.llvm)} | rule | {acc} |")
    lines.append("| `MatPow` (integer power) | repeated squaring of `matmul` | the same "
                 "| through `matmul` | as `matmul` |")
    return "\n".join(lines)


def activations() -> dict[str, Callable[..., sp.Expr]]:
    """Activation heads by name (rows flagged ``activation``, then ``linear``),
    read now: a row registered later is included."""
    return {**{r.name: r.head for r in _ROWS.values() if r.activation},
            "linear": lambda x: x}


def activation_names() -> list[str]:
    """Activation names the builders accept (plus ``linear``)."""
    return list(activations())


from . import columns, logic, scalar, special  # noqa: E402,F401  (built-in rows register)
from .logic import STRUCTURAL  # noqa: E402

#: Activation heads by name, as at import (builders read :func:`activations`).
ACTIVATIONS: dict[str, Callable[..., sp.Expr]] = activations()

#: Column ops in registration order.
COLUMN_ROWS: Sequence[ColumnOp] = tuple(_COLUMNS.values())
