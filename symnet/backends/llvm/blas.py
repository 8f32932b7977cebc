"""BLAS for native code: SciPy's ?gemm addresses and the globals that hold them."""

from __future__ import annotations

import ctypes

import numpy as np

__all__ = ["GEMM_SLOT", "blas_address"]

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
