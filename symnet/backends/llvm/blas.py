"""BLAS for native code: SciPy's ?gemm, the globals that hold it, the threads of a call."""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading
import time
from collections.abc import Iterator

import numpy as np

from ...config import BLAS_THREADS_AUTO, blas_threads
from .team import dispatch_address, team_call

__all__ = ["GEMM_SLOT", "blas_address", "blas_call", "kernel_gemm"]

#: Globals through which native code calls BLAS (null until the runtime
#: needs BLAS: importing SciPy costs a third of a second).
GEMM_SLOT = {np.dtype(np.float64): "symnet_dgemm_ptr", np.dtype(np.float32): "symnet_sgemm_ptr"}
_BLAS: dict[str, int] = {}


def blas_address(dtype: np.dtype) -> int | None:
    """Address of SciPy's ?gemm (from ``scipy.linalg.cython_blas``), or None.

    >>> blas_address(np.float64) is None or blas_address(np.float64) > 0
    True
    """
    name = "dgemm" if np.dtype(dtype) == np.float64 else "sgemm"
    if name not in _BLAS:
        try:
            from scipy.linalg import cython_blas
        except ImportError:
            return None
        capsule = cython_blas.__pyx_capi__[name]
        get_name = ctypes.pythonapi.PyCapsule_GetName
        get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
        get_ptr.restype = ctypes.c_void_p
        get_ptr.argtypes = [ctypes.py_object, ctypes.c_char_p]
        _BLAS[name] = get_ptr(capsule, get_name(capsule))
    return _BLAS[name]


def kernel_gemm(dtype: np.dtype) -> int | None:
    """The ?gemm native kernels call (through :data:`GEMM_SLOT`): the team's
    (:mod:`.team`), which splits a big product into blocks of SciPy's ?gemm.

    >>> kernel_gemm(np.float32) in (None, blas_address(np.float32))
    False
    """
    real = blas_address(dtype)
    return None if real is None else dispatch_address(np.dtype(dtype), real)


#: Seconds a contention reading is reused (reading /proc costs ~50 us).
_RECHECK = 0.05


class _Threads:
    """The threads of a native call's products (``$SYMNET_BLAS_THREADS``).

    A thread that waits for a core taken by another process stalls every
    product it has a part of (a W2 epoch on OpenBLAS's two threads ran 2x
    slower with one core busy, 1.3x on one thread). By default (``auto``),
    before a native call that may reach BLAS the team is sized to the cores
    not taken by other runnable tasks (the kernel's running count in
    /proc/loadavg minus this process's running threads). The team's blocks
    are fixed by each product's shape, so the size changes no bit.
    """

    def __init__(self) -> None:
        self._lib = None
        self._found = False
        self._at = -1.0
        self._choice = 0

    def cores(self) -> int:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)

    def _controller(self):
        if not self._found:
            self._found = True
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:
                return None
            libs = [c for c in ThreadpoolController().lib_controllers
                    if c.internal_api == "openblas" and "scipy.libs" in c.filepath]
            if libs:
                self._lib = libs[0]
        return self._lib

    @staticmethod
    def _others() -> int | None:
        """Runnable tasks of other processes right now (None off Linux)."""
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        mine = 0
        for path in glob.glob("/proc/self/task/*/stat"):
            try:
                with open(path) as f:
                    mine += f.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):
                continue
        return max(0, running - mine)

    def choose(self) -> int:
        """Threads for the next call: ``$SYMNET_BLAS_THREADS`` when it is a
        number, else the cores that other processes leave free."""
        setting = blas_threads()
        if setting != BLAS_THREADS_AUTO:
            return setting
        now = time.monotonic()
        if now - self._at > _RECHECK:
            self._at = now
            others = self._others()
            cores = self.cores()
            self._choice = cores if others is None else max(1, cores - others)
        return self._choice


_THREADS = _Threads()


_ONE = threading.Lock()
_ONE_USERS = 0
_ONE_SAVED = 0


@contextlib.contextmanager
def _one_thread(lib) -> Iterator[None]:
    """SciPy's OpenBLAS on one thread while any native call runs (the team
    threads the products; a block must not be split again by OpenBLAS, whose
    split depends on its thread count)."""
    global _ONE_USERS, _ONE_SAVED
    with _ONE:
        if _ONE_USERS == 0:
            _ONE_SAVED = lib.num_threads
            lib.set_num_threads(1)
        _ONE_USERS += 1
    try:
        yield
    finally:
        with _ONE:
            _ONE_USERS -= 1
            if _ONE_USERS == 0:
                lib.set_num_threads(_ONE_SAVED)


@contextlib.contextmanager
def blas_call() -> Iterator[None]:
    """One native call that may reach BLAS: OpenBLAS on one thread, the team
    of the size :class:`_Threads` chooses. Without threadpoolctl's handle on
    SciPy's OpenBLAS the blocks run in the caller on OpenBLAS's own threads.

    >>> with blas_call():  # a native call that may reach BLAS goes here
    ...     pass
    """
    lib = _THREADS._controller()
    if lib is None:
        yield
        return
    with _one_thread(lib), team_call(_THREADS.choose()):
        yield
