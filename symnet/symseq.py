"""Numbered SymPy symbols made on first use (the IR's body variables and temporaries)."""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

__all__ = ["SymbolSeq"]


class SymbolSeq(Sequence):
    """The symbols ``<prefix>0`` .. ``<prefix>(n-1)``, each made on first use
    (making thousands of SymPy symbols up front cost a fifth of ``import symnet``).

    >>> seq = SymbolSeq("_q", 8)
    >>> seq[3], seq.index(sp.Symbol("_q3")), sp.Symbol("_q9") in seq, len(seq)
    (_q3, 3, False, 8)
    """

    def __init__(self, prefix: str, n: int) -> None:
        self._prefix, self._n = prefix, n
        self._made: dict[int, sp.Symbol] = {}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(self._n)))
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"{self._prefix}{i}: only {self._n} symbols")
        sym = self._made.get(i)
        if sym is None:
            sym = self._made[i] = sp.Symbol(f"{self._prefix}{i}")
        return sym

    def _position(self, sym) -> int | None:
        name = getattr(sym, "name", None)
        if not isinstance(sym, sp.Symbol) or not name.startswith(self._prefix):
            return None
        digits = name[len(self._prefix):]
        if not digits.isdigit() or int(digits) >= self._n or self[int(digits)] != sym:
            return None
        return int(digits)

    def __contains__(self, sym) -> bool:
        return self._position(sym) is not None

    def index(self, sym, start: int = 0, stop: int | None = None) -> int:
        k = self._position(sym)
        if k is None or k < start or (stop is not None and k >= stop):
            raise ValueError(f"{sym} is not one of {self._prefix}0..{self._prefix}{self._n - 1}")
        return k

    def among(self, symbols) -> set:
        """The members of ``symbols`` that are in this sequence."""
        return {s for s in symbols if s in self}
