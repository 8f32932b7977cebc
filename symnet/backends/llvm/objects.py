"""Object code for export: one kernel or epoch module for the host or a named target."""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from ...lower import EpochSpec, plan_kernel
from ...schedule import Program
from .epoch import emit_epoch
from .jit import _compile_one, _llvm, target_machine, vector_bits
from .module import Options, emit
from .pool import ALIGN

__all__ = ["ALIGN", "export_object", "host_triple"]


def host_triple() -> str:
    """This machine's target triple, as LLVM names it."""
    return _llvm().get_default_triple()


def _machine(triple: str | None, cpu: str | None, features: str | None):
    if triple is None and cpu is None and features is None:
        return target_machine()
    llvm = _llvm()
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    try:
        target = llvm.Target.from_triple(triple) if triple else llvm.Target.from_default_triple()
    except RuntimeError as exc:
        raise ValueError(f"unknown target triple {triple!r}: {exc}") from None
    return target.create_target_machine(cpu=cpu or "", features=features or "", opt=3,
                                        reloc="pic", codemodel="small")


def export_object(prog: Program, name: str, dtype, shapes: dict | None = None,
                  dims: list | None = None, spec: EpochSpec | None = None,
                  triple: str | None = None, cpu: str | None = None,
                  features: str | None = None) -> bytes:
    """Position-independent object code defining ``void NAME(T **bufs, int64_t *dims)``
    (with ``spec``: the epoch's ``void NAME(bufs, dims, X, Y, order, n, batch, loss)``),
    buffers in the order of the program's kernel plan. Products always run as
    symnet's own loops: a library has no BLAS pointer to fill in.
    """
    tm = _machine(triple, cpu, features)
    elem = ir.DoubleType() if np.dtype(dtype) == np.float64 else ir.FloatType()
    host = triple is None and cpu is None and features is None
    # Another machine's width is not known here: explicit vector code then
    # uses the narrowest (wider would be split into it, still correct).
    opts = Options(elem, None, 1 << 62, tm.triple, str(tm.target_data),
                   vector_bits() if host else 128)
    if spec is not None:
        em = emit_epoch(prog, name, opts, spec)
    else:
        em = emit(plan_kernel(prog, shapes or None), name, opts, dims=dims)
    obj, _ = _compile_one(str(em.module), tm)
    return obj
