"""Native kernels at run time: compile or load a module, place buffers, call it."""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ... import aligned
from ...aligned import address
from ...config import blas_threshold
from ...lower import (
    EpochSpec,
    KernelPlan,
    plan_kernel,
    pointwise_shapes,
    product_dims,
    workspace,
)
from ...schedule import Program
from .blas import GEMM_SLOT, blas_call, kernel_gemm
from .jit import Compiled, compile_jobs, target_fingerprint
from .pool import ALIGN, MIN_BYTES, aligned_empty, pool
from .request import ModuleRequest

__all__ = ["POINTS", "NativeFunction"]

#: The point count of a scalar formula evaluated over arrays of points.
POINTS = sp.Symbol("__points", integer=True, positive=True)

#: From this many points on, a point-wise kernel splits the range over the cores.
PARALLEL_POINTS = 1 << 16

_PROTO = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)

_WORKERS: dict[int, Any] = {}
# A forked child has none of its parent's threads: a pool inherited from the
# parent would queue the child's work for threads that never run it.
os.register_at_fork(after_in_child=_WORKERS.clear)


def _workers(n: int) -> Any:
    """The process's pool of ``n`` threads for point ranges (made on first use,
    kept: starting threads at every call cost more than handing them work)."""
    pool_ = _WORKERS.get(n)
    if pool_ is None:
        from concurrent.futures import ThreadPoolExecutor  # only big point sets need it

        pool_ = _WORKERS.setdefault(n, ThreadPoolExecutor(n, thread_name_prefix="symnet"))
    return pool_


@dataclass
class _Specialization:
    plan: KernelPlan                 # the generic plan: its buffers and memory
    compiled: Compiled
    cfunc: object
    dims: list[sp.Symbol]
    blas_threshold: int
    layouts: dict = field(default_factory=dict)
    calls: dict = field(default_factory=dict)
    blas_keys: set = field(default_factory=set)   # dims keys whose calls may reach BLAS


@dataclass
class _Call:
    """Per-dims buffer placement of a kernel call (see NativeFunction._call_plan)."""

    n_buffers: int
    inputs: dict[str, int]                       # input name -> argument index
    work: list[tuple[int, int]]                  # (buffer index, workspace offset)
    work_total: int
    outs: list[tuple[str, int, int, tuple]]      # (name, offset, size, shape)
    out_total: int
    out_slots: list[tuple[int, int]]             # (buffer index, output block offset)
    out_names: list[tuple[int, str]]             # (buffer index, output name)
    dims: np.ndarray


class _Native:
    """What a kernel and an epoch share: compiled specializations, memory
    layouts per dims, BLAS wiring and inspection of the last one run."""

    def __init__(self, prog: Program, name: str, dtype: np.dtype):
        self.prog = prog
        self.name = name
        self.dtype = np.dtype(dtype)
        self._specs: dict[tuple, _Specialization] = {}
        self._current: _Specialization | None = None

    def _default(self) -> _Specialization:
        raise NotImplementedError

    @property
    def current(self) -> _Specialization:
        """The specialization that ran last (compiled on first use)."""
        if self._current is None:
            self._current = self._default()
        return self._current

    @current.setter
    def current(self, spec: _Specialization) -> None:
        self._current = spec

    def _compile(self, key: tuple, proto, shapes: dict, dims: list,
                 epoch: EpochSpec | None = None) -> _Specialization:
        hit = self._specs.get(key)
        if hit is not None:
            return hit
        request = ModuleRequest(self.prog, self.name, self.dtype.name,
                                tuple(sorted(shapes.items())), tuple(dims), GEMM_SLOT[self.dtype],
                                blas_threshold(), compile_jobs() - 1, target_fingerprint(),
                                epoch=epoch)
        compiled = request.compile()
        spec = _Specialization(plan_kernel(self.prog, shapes), compiled,
                               proto(compiled.address(self.name)), dims, request.blas_threshold)
        self._specs[key] = spec
        return spec

    def _layout_for(self, spec: _Specialization, values: dict) -> tuple[tuple, tuple]:
        """The dims key and (sizes, offsets, workspace size) for these dims, cached."""
        key = tuple(values[d] for d in spec.dims)
        layout = spec.layouts.get(key)
        if layout is None:
            if self._ensure_blas(spec, values):
                spec.blas_keys.add(key)
            layout = spec.layouts[key] = workspace(spec.plan, values,
                                                   ALIGN // self.dtype.itemsize)
        return key, layout

    def _ensure_blas(self, spec: _Specialization, values: dict) -> bool:
        """Fill the module's ?gemm pointer once a product is big enough for it;
        whether calls with these dims may reach BLAS."""
        slot = GEMM_SLOT[self.dtype]
        for s in spec.plan.steps:
            if s.op != "matmul":
                continue
            work = 1
            for d in product_dims(s):
                work *= int(sp.sympify(d).subs(values))
            if work >= spec.blas_threshold:
                addr = kernel_gemm(self.dtype)
                where = spec.compiled.global_address(slot)
                if addr is not None and where:
                    ctypes.c_void_p.from_address(where).value = addr
                    return True
                return False
        return False

    # Of the specialization that ran last (point-wise inputs get their own).
    @property
    def llvm_ir(self) -> str:
        return self.current.compiled.ir

    @property
    def llvm_ir_optimized(self) -> str:
        return self.current.compiled.optimized_ir

    @property
    def asm(self) -> str:
        return self.current.compiled.asm


class NativeFunction(_Native):
    """Calls the compiled kernel: allocates buffers, passes pointers, returns outputs.

    One specialization per pattern of point-valued scalar inputs, compiled
    on first use (the default one when built, so errors surface there);
    intermediates share one workspace whose offsets reuse memory once a
    value is dead.
    """

    #: Every output array is newly allocated (a value returned twice is the
    #: same array object; inputs returned are copies): see Kernel._finish.
    fresh_outputs = True
    #: Its arithmetic runs in native code, not through NumPy's error state.
    native_code = True

    def __init__(self, prog: Program, name: str, dtype: np.dtype):
        super().__init__(prog, name, dtype)
        self.scalar_inputs = [k for k, (_, sym) in enumerate(prog.inputs)
                              if not getattr(sym, "is_Matrix", False)]
        self.threads = max(1, min(os.cpu_count() or 1, 8))
        self.current = self._spec(())

    def _default(self) -> _Specialization:
        return self._spec(())

    def _spec(self, points: tuple[int, ...]) -> _Specialization:
        hit = self._specs.get(points)
        if hit is not None:  # every call but the first: nothing to rebuild
            return hit
        shapes: dict[str, tuple] = {}
        dims = list(self.prog.dims)
        if points:
            dims.append(POINTS)
            shapes = pointwise_shapes(self.prog, {self.prog.inputs[k][0] for k in points},
                                      POINTS)
        return self._compile(points, _PROTO, shapes, dims)

    # ---------------------------------------------------------------- call
    def __call__(self, *args):
        n_in = len(self.prog.inputs)
        arrays, dim_values = list(args[:n_in]), list(args[n_in:])
        points = tuple(k for k in self.scalar_inputs if np.ndim(arrays[k]) == 1)
        spec = self.current = self._spec(points)
        if not points:
            # The layout key is the dims in program order (see _layout_for).
            return self._run(spec, arrays, None, None, tuple(dim_values))
        values = dict(zip(self.prog.dims, dim_values, strict=True))
        n = int(np.shape(arrays[points[0]])[0])
        plan = spec.plan
        # Point-wise outputs computed here get one array for all chunks; an
        # input returned as an output is copied whole below (never a buffer
        # the kernel does not write).
        outs = {name: aligned_empty(n, self.dtype) for name in plan.outputs
                if name not in plan.inputs and plan.shapes[name] == (1, POINTS)}
        # One range per thread (measured: 2, 4 or 8 per thread, taken in turn,
        # were 4-25% slower, one core busy or not), each a whole number of
        # cache lines of every row.
        parts = self.threads if n >= PARALLEL_POINTS else 1
        step = max(64, -(-n // (parts * 64)) * 64)
        chunks = [(lo, min(lo + step, n)) for lo in range(0, n, step)] or [(0, 0)]

        def run(lo: int, hi: int):
            part = [a[lo:hi] if k in points else a for k, a in enumerate(arrays)]
            return self._run(spec, part, {**values, POINTS: hi - lo},
                             {name: arr[lo:hi] for name, arr in outs.items()})

        if len(chunks) == 1:
            result = run(*chunks[0])
        else:
            # The native call releases the GIL: the point ranges run on all cores.
            result = list(_workers(self.threads).map(lambda c: run(*c), chunks))[0]
        given = {name: k for k, name in enumerate(plan.inputs)}
        return tuple(np.array(arrays[given[name]], dtype=self.dtype) if name in given
                     else outs.get(name, r)
                     for name, r in zip(plan.outputs, result, strict=True))

    def _run(self, spec: _Specialization, arrays: list, values: dict | None,
             out_views: dict[str, np.ndarray] | None, key: tuple | None = None):
        """One native call; ``out_views`` are preallocated output slices;
        ``key``, when known, the values of ``spec.dims`` in order (then
        ``values`` may be None)."""
        call = spec.calls.get(key) if key is not None else None
        if call is None:
            if values is None:
                values = dict(zip(spec.dims, key, strict=True))
            key, call = self._call_plan(spec, values)
        item = self.dtype.itemsize
        ptr = [0] * call.n_buffers
        keep = []
        for k, a in enumerate(arrays):
            arr = np.ascontiguousarray(a, dtype=self.dtype)
            if arr.ndim == 0:
                arr = arr.reshape(1)
            keep.append(arr)
            ptr[k] = address(arr)
        if out_views is None and (call.work_total + call.out_total) * item < MIN_BYTES:
            # Small: workspace and outputs share one allocation (one address
            # lookup); the outputs start on a cache line after the workspace.
            raw = aligned.empty(call.work_total + call.out_total, self.dtype)
            base = address(raw)
            for k, off in call.work:
                ptr[k] = base + off * item
            at = call.work_total
            made = {name: raw[at + off:at + off + size].reshape(shape)
                    for name, off, size, shape in call.outs}
            base += call.work_total * item
            for k, off in call.out_slots:
                ptr[k] = base + off * item
            keep.append(raw)
        else:
            work = pool.empty(call.work_total, self.dtype)
            base = address(work)
            for k, off in call.work:
                ptr[k] = base + off * item
            keep.append(work)
            if out_views is None:
                block = pool.empty(max(call.out_total, 1), self.dtype)
                base = address(block)
                made = {name: block[off:off + size].reshape(shape)
                        for name, off, size, shape in call.outs}
                for k, off in call.out_slots:
                    ptr[k] = base + off * item
            else:
                # Outputs that are not point-wise (a constant, a value of
                # matrix inputs only) get arrays of their own.
                made = dict(out_views)
                for name, _, _, shape in call.outs:
                    if name not in made:
                        made[name] = aligned_empty(shape, self.dtype)
                for k, name in call.out_names:
                    ptr[k] = address(made[name])
        ptrs = np.array(ptr, dtype=np.uintp)
        if key in spec.blas_keys:
            with blas_call():
                spec.cfunc(address(ptrs), address(call.dims))
        else:
            spec.cfunc(address(ptrs), address(call.dims))
        out = []
        for name in spec.plan.outputs:
            if name in call.inputs:
                out.append(keep[call.inputs[name]].copy())
            else:
                out.append(made[name])
        return tuple(out)

    def _call_plan(self, spec: _Specialization, values: dict) -> tuple[tuple, _Call]:
        """Where every buffer of a call lives for these dims (cached): inputs
        as passed, outputs in one block, intermediates in one workspace."""
        key, (sizes, offsets, total) = self._layout_for(spec, values)
        call = spec.calls.get(key)
        if call is None:
            plan = spec.plan
            names = plan.buffer_names
            n_in = len(self.prog.inputs)
            lanes = ALIGN // self.dtype.itemsize
            outs, out_at, out_total = [], {}, 0
            for name in plan.outputs:
                if name in out_at or name in plan.inputs:
                    continue
                size = int(np.prod(sizes[name]))
                out_at[name] = out_total
                outs.append((name, out_total, size, tuple(sizes[name])))
                out_total += -(-size // lanes) * lanes
            call = spec.calls[key] = _Call(
                n_buffers=len(names),
                inputs={name: k for k, name in enumerate(plan.inputs)},
                work=[(k, offsets[n]) for k, n in enumerate(names)
                      if k >= n_in and n not in out_at],
                work_total=-(-total // lanes) * lanes,
                outs=outs, out_total=out_total,
                out_slots=[(k, out_at[n]) for k, n in enumerate(names) if n in out_at],
                out_names=[(k, n) for k, n in enumerate(names) if n in out_at],
                dims=np.array(key if key else [0], dtype=np.int64))
        return key, call
