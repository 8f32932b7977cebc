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
from .objects import export_object, host_triple
from .pool import ALIGN, aligned_copy, aligned_empty
from .request import ModuleRequest
from .vecmath import MATH_FUNCTIONS, define_math, math_function_name

__all__ = ["ALIGN", "GEMM_SLOT", "MATH_FUNCTIONS", "PARALLEL_POINTS", "POINTS", "EpochFunction",
           "ModuleRequest", "NativeFunction", "aligned_copy", "aligned_empty", "blas_address",
           "build", "build_epoch", "define_math", "export_object", "host_triple",
           "math_function_name"]


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
