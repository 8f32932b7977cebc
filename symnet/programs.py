"""Programs derived once: the process and disk cache of derived programs, and input checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from . import diskcache, serialize
from .graph import Graph
from .identity import kernel_identity
from .lru import LRU
from .schedule import Program

__all__ = ["cached_program", "check_dtype", "check_inputs", "check_wrt"]


def check_wrt(wrt: Sequence[sp.Basic]) -> None:
    """Raise unless every entry is a Symbol or MatrixSymbol."""
    for w in wrt:
        if not isinstance(w, (sp.Symbol, sp.MatrixSymbol)):
            raise TypeError(f"can only differentiate with respect to a Symbol or MatrixSymbol, "
                            f"got {w!r} ({type(w).__name__})")


def check_inputs(g: Graph, ins: list) -> None:
    """Raise unless ``ins`` are distinct symbols covering every leaf the graph uses."""
    check_wrt(ins)
    if len(set(ins)) != len(ins):
        raise ValueError(f"inputs repeat a symbol: {ins}")
    alive = g.live()
    leaves = {g.nodes[i].attr for i in g.leaves() if alive[i]}
    given = set(ins)  # (a list would compare every leaf with every input)
    missing = sorted(str(s) for s in leaves
                     if isinstance(s, (sp.Symbol, sp.MatrixSymbol)) and s not in given)
    if missing:
        raise ValueError(f"the outputs use {', '.join(missing)}, which is not among the "
                         f"inputs {[str(s) for s in ins]}")


def check_dtype(dtype) -> np.dtype:
    """The dtype, if it is one symnet compiles for (float64 or float32).

    >>> check_dtype("float32")
    dtype('float32')
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float64, np.float32):
        raise TypeError(f"dtype must be float64 or float32, got {dtype}")
    return dtype


#: Derived programs by request digest (bounded: old requests derive again).
_PROGRAMS: LRU[tuple[Program, list]] = LRU(512)


def cached_program(what: tuple, derive_program: Callable[[], tuple[Program, list]]
                   ) -> tuple[Program, list]:
    """(Program, output expressions) for ``what``, derived once per machine.

    Identified by the exact SymPy structure of the request (its
    :mod:`symnet.serialize` table, written without recursion) and
    the version of symnet's sources, in memory and in the disk cache, so a
    warm process skips derivation and the passes entirely. On disk the
    program is data (:mod:`symnet.serialize`), read back without running code.
    """
    try:
        request = serialize.dumps(what)
    except serialize.SerializeError:
        request = sp.srepr(what)  # e.g. a Symbol subclass the table does not store
    ident = kernel_identity("program", {"request": request})
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
