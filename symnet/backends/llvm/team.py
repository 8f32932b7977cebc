"""The BLAS team: big products cut into fixed blocks that the caller and helpers share."""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from .team_ir import GRACE_CYCLES, MIN_BLOCK, MIN_WORK, build_ir

__all__ = ["MIN_BLOCK", "MIN_WORK", "blocks", "dispatch_address", "team_call"]

# Why this exists. OpenBLAS splits a product over its own threads by their
# count, so the last bits of a product depend on that count, and its threads
# wait for the slowest of them: with another process on one of two cores a
# W2 epoch ran 2x slower. Here every product big enough is cut into blocks
# fixed by its shape and the machine's core count; each block is one
# single-threaded ?gemm call (OpenBLAS set to one thread during the native
# call), taken from a shared counter by whichever thread of the team is free.
# The bits do not depend on how many threads take part, so the team follows
# the load (fewer helpers while other processes hold the cores) without
# changing a result.


def blocks(m: int, n: int, k: int, parts: int) -> tuple[int, int, int]:
    """(axis, count, size) of the split of a column-major m x n x k product on
    a machine of ``parts`` cores, as the team's ?gemm computes it: axis 1 cuts
    C's n columns, axis 0 its m rows, into ``count`` blocks of ``size`` (a
    multiple of 16; the last block takes the rest); count 1 is no split. The
    larger side is cut: the other operand, packed again by every block, is
    the smaller.

    >>> blocks(64, 784, 256, 2), blocks(256, 64, 784, 2), blocks(10, 256, 64, 2)
    ((1, 2, 384), (0, 2, 128), (0, 1, 10))
    """
    out = (ctypes.c_int32 * 2)()
    count = _runtime().split(m, n, k, parts, out)
    return out[0], count, out[1]


class _Runtime:
    """The team's compiled module and its entry points (one per process)."""

    def __init__(self) -> None:
        from ...identity import kernel_identity
        from .jit import compile_module, target_fingerprint, target_machine

        tm = target_machine()
        text = build_ir(tm.triple)
        ident = kernel_identity("blas-team", {"ir": text, "target": target_fingerprint(),
                                              "min_block": MIN_BLOCK, "min_work": MIN_WORK,
                                              "grace": GRACE_CYCLES})
        self.compiled = compile_module(ident, lambda: [text])
        addr = self.compiled.address
        self.gemm = {np.dtype(np.float32): addr("symnet_team_sgemm"),
                     np.dtype(np.float64): addr("symnet_team_dgemm")}
        self.begin = ctypes.CFUNCTYPE(None, ctypes.c_uint64)(addr("symnet_team_begin"))
        self.end = ctypes.CFUNCTYPE(None)(addr("symnet_team_end"))
        self.work = ctypes.CFUNCTYPE(None)(addr("symnet_team_work"))
        self.set = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32)(
            addr("symnet_team_set"))
        self.split = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
                                      ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p)(
            addr("symnet_team_split"))
        #: Blocks the helpers have run so far.
        self.helped = ctypes.CFUNCTYPE(ctypes.c_int64)(addr("symnet_team_helped"))
        self.real: dict[np.dtype, int] = {}


_RUNTIME: _Runtime | None = None
_RUNTIME_LOCK = threading.Lock()


def _runtime() -> _Runtime:
    global _RUNTIME
    with _RUNTIME_LOCK:
        if _RUNTIME is None:
            _RUNTIME = _Runtime()
        return _RUNTIME


def dispatch_address(dtype: np.dtype, real: int) -> int:
    """The team's ?gemm for ``dtype`` (same arguments as ``real``, SciPy's
    ?gemm at address ``real``, which it calls once per block).

    >>> from symnet.backends.llvm.blas import blas_address
    >>> real = blas_address(np.float64)
    >>> real is None or dispatch_address(np.float64, real) not in (0, real)
    True
    """
    rt = _runtime()
    dtype = np.dtype(dtype)
    if rt.real.get(dtype) != real:
        rt.real[dtype] = real
        rt.set(rt.real.get(np.dtype(np.float32), 0) or None,
               rt.real.get(np.dtype(np.float64), 0) or None, PARTS)
    return rt.gemm[dtype]


#: Blocks of a split product: the machine's cores (not the ones free now,
#: which would make the bits depend on the load), at most 64.
PARTS = max(1, min(64, os.cpu_count() or 1))


class _Team:
    """The helpers of the process's one team. A helper runs the native loop
    until the call it joined ends; nobody waits for it to leave (it sees the
    end within a few instructions), and one still inside simply helps the
    next call, so a call costs one hand-off to the pool, not two."""

    def __init__(self) -> None:
        self.lock = threading.Lock()   # held by the call that has the team
        self.count = threading.Lock()  # guards active
        self.active = 0                # helpers submitted and not yet back
        self.pool: Any = None

    def _help(self, rt: _Runtime) -> None:
        try:
            rt.work()
        finally:
            with self.count:
                self.active -= 1

    def start(self, rt: _Runtime, helpers: int) -> None:
        with self.count:
            need = max(0, min(helpers, PARTS - 1) - self.active)
            self.active += need
        if need and self.pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(PARTS - 1, thread_name_prefix="symnet-blas")
        for _ in range(need):
            self.pool.submit(self._help, rt)


_TEAM = _Team()


def _forked() -> None:
    # A forked child has none of its parent's threads, and maybe a team that
    # a parent thread was using: start afresh, with no owner.
    global _TEAM
    _TEAM = _Team()
    if _RUNTIME is not None:
        _RUNTIME.end()


os.register_at_fork(after_in_child=_forked)


@contextlib.contextmanager
def team_call(threads: int) -> Iterator[None]:
    """Run one native call with ``threads`` threads on its split products: the
    caller and ``threads - 1`` helpers (none when another thread has the team,
    or the runtime was never built: the blocks then run in the caller).

    >>> with team_call(2):  # a native call that may reach BLAS goes here
    ...     pass
    """
    rt, team = _RUNTIME, _TEAM
    if rt is None or threads <= 1 or not team.lock.acquire(blocking=False):
        yield
        return
    try:
        rt.begin(threading.get_ident())
        team.start(rt, threads - 1)
        yield
    finally:
        rt.end()
        team.lock.release()
