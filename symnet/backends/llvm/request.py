"""Module requests: everything that determines one native module, and so its cache key."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import sympy as sp

from ...identity import Identity, kernel_identity
from ...lower import EpochSpec, plan_kernel
from ...schedule import Program
from .jit import Compiled, compile_module, target_machine, vector_bits

__all__ = ["ModuleRequest"]


@dataclass(frozen=True)
class ModuleRequest:
    """Everything the emitter reads to build one module -- and so, serialized
    whole, the module's identity (its cache key): a field added here is part
    of the key without anyone having to remember it."""

    program: Program
    name: str
    dtype: str                               # numpy dtype name
    shapes: tuple[tuple[str, tuple], ...]    # point-wise buffers' shapes (sorted)
    dims: tuple[sp.Symbol, ...]              # order of the dims array
    gemm: str                                # global holding the ?gemm pointer
    blas_threshold: int
    parts: int                               # extra modules compiled in parallel
    target: str                              # host CPU, llvmlite, loader
    epoch: EpochSpec | None = None           # a whole-epoch driver around the step

    def identity(self) -> Identity:
        return kernel_identity("llvm-module", {f.name: getattr(self, f.name)
                                               for f in fields(self)})

    def emit_ir(self) -> list[str]:
        """The module's IR texts (main part first)."""
        # The emitter (llvmlite.ir and every op's code) is imported here, not
        # at the top: a kernel found in the cache never needs it (~8 ms).
        from llvmlite import ir

        from .epoch import emit_epoch
        from .module import Options, emit

        tm = target_machine()
        elem = ir.DoubleType() if np.dtype(self.dtype) == np.float64 else ir.FloatType()
        opts = Options(elem, self.gemm, self.blas_threshold, tm.triple, str(tm.target_data),
                       vector_bits())
        if self.epoch is not None:
            em = emit_epoch(self.program, self.name, opts, self.epoch, parts=self.parts)
        else:
            em = emit(plan_kernel(self.program, dict(self.shapes)), self.name, opts,
                      dims=list(self.dims), parts=self.parts)
        return [str(m) for m in em.modules]

    def compile(self) -> Compiled:
        return compile_module(self.identity(), self.emit_ir)
