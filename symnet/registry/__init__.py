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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sympy as sp

from ..graph import COLUMN_OPS

__all__ = ["ACTIVATIONS", "COLUMN_ROWS", "ColumnOp", "Op", "ScalarBuilder", "activation_names",
           "column_row", "lookup", "register", "register_column", "rows", "scalar_heads",
           "stable_forms"]


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
        """A vector math routine: exp, log, log1p, tanh, logistic, softplus."""

    def intrinsic(self, name: str, *xs: Any) -> Any:
        """A hardware-backed function: sqrt, fabs, sin, cos."""

    def libm(self, name: str, x: Any) -> Any:
        """A C math library function of the element type (atan, erf, ...)."""


#: A row's compiled form: (builder, the SymPy node, emit(subexpression) -> value) -> value.
Emit = Callable[[ScalarBuilder, sp.Expr, Callable[[sp.Expr], Any]], Any]


@dataclass(frozen=True)
class Op:
    """Everything about one scalar head."""

    head: type                                  # the SymPy class
    llvm: Emit                                  # its compiled form
    #: NumPy: the runtime function printed as ``numpy_name(args)``, or a
    #: printer ``(printer, e) -> str``, or neither (SymPy's NumPy printer knows it)
    numpy: Callable | None = None
    numpy_print: Callable[[Any, sp.Expr], str] | None = None
    #: the name ``numpy`` goes by in generated code (default: the head's name)
    numpy_as: str = ""
    #: d head / d args[k] as (args, k) -> expr, overriding the head's fdiff
    partials: Callable[[tuple, int], sp.Expr] | None = None
    #: (pattern, replacement) rewrites into forms finite wherever the value is
    stable: tuple[tuple[sp.Expr, sp.Expr], ...] = ()
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


_ROWS: dict[type, Op] = {}
_COLUMNS: dict[str, ColumnOp] = {}


def register(row: Op) -> Op:
    """Add (or replace) the row of a scalar head; returns it.

    >>> r = lookup(sp.tanh)
    >>> register(r) is r
    True
    """
    _ROWS[row.head] = row
    return row


def register_column(row: ColumnOp) -> ColumnOp:
    """Add the row of a column op; its name must be one of ``graph.COLUMN_OPS``
    (the IR's own list: a new column op is a new IR op)."""
    if row.op not in COLUMN_OPS:
        raise ValueError(f"column op {row.op!r} is not an IR op (graph.COLUMN_OPS)")
    _COLUMNS[row.op] = row
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
    return tuple(f for r in _ROWS.values() for f in r.stable)


def activation_names() -> list[str]:
    """Activation names the builders accept (plus ``linear``)."""
    return list(ACTIVATIONS)


from . import columns, scalar  # noqa: E402,F401  (the built-in rows register themselves)

#: Activation heads by name, as used by builders and the command line.
ACTIVATIONS: dict[str, Callable[..., sp.Expr]] = {
    **{r.name: r.head for r in _ROWS.values() if r.activation},
    "linear": lambda x: x,
}

#: Column ops in registration order.
COLUMN_ROWS: Sequence[ColumnOp] = tuple(_COLUMNS.values())
