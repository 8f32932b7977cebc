"""LLVM backend (llvmlite): a kernel plan -> native code for the host CPU.

Modules, in the order code flows through them: :mod:`.irutil` (loops and
the per-function context), :mod:`.scalar` (scalar bodies), :mod:`.vecmath`
(vector math routines), :mod:`.kernels` (per-op loop nests),
:mod:`.matmul` (products and BLAS), :mod:`.module` (one module from a
plan), :mod:`.epoch` (the SGD epoch driver), :mod:`.request` (a module's
identity), :mod:`.jit` (compiling, caching, loading), :mod:`.pool` and
:mod:`.native` (calling it).
"""

from __future__ import annotations

import numpy as np

from ...lower import EpochSpec
from ...schedule import Program
from .blas import GEMM_SLOT, blas_address
from .native import PARALLEL_POINTS, POINTS, NativeFunction
from .native_epoch import EpochFunction
from .pool import ALIGN, aligned_copy, aligned_empty
from .request import ModuleRequest

__all__ = ["ALIGN", "GEMM_SLOT", "MATH_FUNCTIONS", "PARALLEL_POINTS", "POINTS", "EpochFunction",
           "ModuleRequest", "NativeFunction", "aligned_copy", "aligned_empty", "blas_address",
           "build", "build_epoch", "define_math", "export_object", "host_triple",
           "math_function_name"]


# The code generator's own names load on first use: a process that only runs
# kernels found in the cache never imports llvmlite.ir or the math routines.
_LAZY = {"export_object": ".objects", "host_triple": ".objects",
         "MATH_FUNCTIONS": ".vecmath", "define_math": ".vecmath",
         "math_function_name": ".vecmath"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_epoch(prog: Program, name: str, dtype, spec: EpochSpec) -> EpochFunction:
    """Compile a whole-epoch SGD driver around the step program (on first use)."""
    return EpochFunction(prog, _symbol(name), dtype, spec)


def build(prog: Program, name: str = "kernel", dtype=np.float64):
    """Compile the program; return (callable, its LLVM IR text on request).

    The IR is a callable: a kernel loaded from the cache emits it only if
    someone reads it.
    """
    fn = NativeFunction(prog, _symbol(name), dtype)
    return fn, lambda: fn.llvm_ir


def _symbol(name: str) -> str:
    return "symnet_" + "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
