"""The walk every backend's body emitter shares: a scalar SymPy body through the rows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import sympy as sp

from ..errors import UnsupportedError
from . import lookup

__all__ = ["BodyWalker"]


class BodyWalker(ABC):
    """Emit a scalar body with ``builder`` (a :class:`~symnet.registry.ScalarBuilder`),
    each head by its row's compiled form, memoized per subexpression.

    ``env`` maps body variables (and CSE temporaries) to values; a subclass
    gives :meth:`leaf` (numbers, dimension symbols) and its ``backend`` name
    for errors.

    >>> from symnet.graph import VARS
    >>> class Text:  # a toy builder: values are strings
    ...     def mul(self, a, b): return f"({a}*{b})"
    ...     def add(self, a, b): return f"({a}+{b})"
    >>> class Walk(BodyWalker):
    ...     def leaf(self, e): return str(e) if e.is_Number else None
    >>> Walk(Text(), {VARS[0]: "x"})(VARS[0] ** 2 + 3)
    '(3+(x*x))'
    """

    backend = "backend"

    def __init__(self, builder: Any, env: dict):
        self.builder = builder
        self.env = env  # shared: a caller may add CSE temporaries after creating the walk
        self.memo: dict[sp.Expr, Any] = {}

    @abstractmethod
    def leaf(self, e: sp.Expr) -> Any:
        """The value of a number or a dimension symbol, else None."""

    def __call__(self, e: sp.Expr) -> Any:
        hit = self.env.get(e)
        if hit is None:
            hit = self.memo.get(e)
        if hit is not None:
            return hit
        out = self.leaf(e)
        if out is None:
            if e.is_Symbol:
                raise KeyError(f"{self.backend}: no value for {e}")
            row = lookup(type(e))
            if row is None:
                raise UnsupportedError(f"{self.backend}: no form for {type(e).__name__} in {e}")
            out = row.llvm(self.builder, e, self)
        self.memo[e] = out
        return out
