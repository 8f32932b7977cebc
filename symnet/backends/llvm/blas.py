"""BLAS for native code: SciPy's ?gemm addresses, the globals that hold them, its threads."""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import time
from collections.abc import Iterator

import numpy as np

from ...config import BLAS_THREADS_AUTO, blas_threads

__all__ = ["GEMM_SLOT", "blas_address", "contention_threads"]

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


#: Seconds a contention reading is reused (reading /proc costs ~50 us).
_RECHECK = 0.05


class _Threads:
    """SciPy's OpenBLAS thread count for native calls (``$SYMNET_BLAS_THREADS``).

    OpenBLAS splits a product evenly over its threads and waits for the last:
    with a core taken by another process, the thread that waits for that core
    stalls every product (a W2 epoch 2x slower on 2 cores instead of 1.25x on
    one thread). With ``auto``, before a native call that may reach BLAS the
    threads are set to the cores not taken by other runnable tasks (the
    kernel's running count in /proc/loadavg minus this process's running
    threads), and set back afterwards. It is not the default: a product's last
    bits depend on how OpenBLAS splits it, so results would depend on the load.
    """

    def __init__(self) -> None:
        self._lib = None
        self._default = 0
        self._found = False
        self._at = -1.0
        self._choice = 0

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
                self._lib, self._default = libs[0], libs[0].num_threads
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
        """Threads for the next call: ``$SYMNET_BLAS_THREADS`` (unset: the library's
        own), or by contention when it is ``auto``."""
        setting = blas_threads()
        if setting != BLAS_THREADS_AUTO:
            return setting or self._default
        now = time.monotonic()
        if now - self._at > _RECHECK:
            self._at = now
            others = self._others()
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
                else (os.cpu_count() or 1)
            self._choice = self._default if others is None else \
                max(1, min(self._default, cores - others))
        return self._choice


_THREADS = _Threads()


@contextlib.contextmanager
def contention_threads() -> Iterator[None]:
    """SciPy's OpenBLAS at the thread count :class:`_Threads` chooses, for one call."""
    lib = _THREADS._controller()
    if lib is None:
        yield
        return
    n = _THREADS.choose()
    if n == _THREADS._default:
        yield
        return
    lib.set_num_threads(n)
    try:
        yield
    finally:
        lib.set_num_threads(_THREADS._default)
