"""LLVM backend (llvmlite, MCJIT): a Program -> native code for the host CPU."""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field, fields, replace

import numpy as np
import sympy as sp
from llvmlite import ir

from ...identity import Identity, kernel_identity
from ...schedule import Program
from . import emit as emit_mod
from .emit import Emitted, EpochSpec, emit_epoch, layout
from .emit import emit as emit_module
from .jit import Compiled, compile_jobs, compile_module, target_fingerprint, target_machine
from .pool import ALIGN, MIN_BYTES, pool
from .vecmath import MATH_FUNCTIONS, define_math, math_function_name

__all__ = ["ALIGN", "MATH_FUNCTIONS", "EpochFunction", "NativeFunction", "aligned_copy",
           "aligned_empty", "build", "build_epoch", "define_math", "math_function_name"]

#: The point count of a scalar formula evaluated over arrays of points.
POINTS = sp.Symbol("__points", integer=True, positive=True)

#: From this many points on, a point-wise kernel splits the range over the cores.
PARALLEL_POINTS = 1 << 16


#: Globals through which native code calls BLAS (null until the runtime
#: needs BLAS: importing SciPy costs a third of a second).
GEMM_SLOT = {np.dtype(np.float64): "symnet_dgemm_ptr", np.dtype(np.float32): "symnet_sgemm_ptr"}
_BLAS: dict[str, int] = {}


def blas_address(dtype: np.dtype) -> int | None:
    """Address of SciPy's ?gemm (from ``scipy.linalg.cython_blas``), or None."""
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




def aligned_empty(shape: int | tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialized C-contiguous array whose data starts on an ALIGN boundary
    (large ones recycle released memory: see :mod:`.pool`).

    >>> a = aligned_empty((3, 5), np.float64)
    >>> a.shape, a.ctypes.data % ALIGN, a.flags.c_contiguous
    ((3, 5), 0, True)
    """
    return pool.empty(shape, dtype)


def aligned_copy(a: np.ndarray, dtype=None) -> np.ndarray:
    """``a`` as an aligned C-contiguous array (itself if it already is one).

    >>> b = aligned_copy(np.arange(6.0)[1:])
    >>> b.ctypes.data % ALIGN, b.tolist()
    (0, [1.0, 2.0, 3.0, 4.0, 5.0])
    """
    dtype = np.dtype(a.dtype if dtype is None else dtype)
    if a.dtype == dtype and a.flags.c_contiguous and a.ctypes.data % ALIGN == 0:
        return a
    out = aligned_empty(a.shape, dtype)
    out[...] = a
    return out


_PROTO = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


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
        tm = target_machine()
        elem = ir.DoubleType() if np.dtype(self.dtype) == np.float64 else ir.FloatType()
        common = dict(gemm=self.gemm, triple=tm.triple, data_layout=str(tm.target_data),
                      parts=self.parts, blas_threshold=self.blas_threshold)
        if self.epoch is not None:
            em = emit_epoch(self.program, self.name, elem, self.epoch, **common)
        else:
            em = emit_module(self.program, self.name, elem, dict(self.shapes),
                             dims=list(self.dims), **common)
        return [str(m) for m in em.modules]

    def compile(self) -> Compiled:
        return compile_module(self.identity(), self.emit_ir)


@dataclass
class _Specialization:
    emitted: Emitted
    compiled: Compiled
    cfunc: object
    dims: list[sp.Symbol]
    plans: dict
    blas_threshold: int
    calls: dict = field(default_factory=dict)


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


class NativeFunction:
    """Calls the compiled kernel: allocates buffers, passes pointers, returns outputs.

    One specialization per pattern of point-valued scalar inputs, compiled
    on first use; intermediates share one workspace whose offsets reuse
    memory once a value is dead.
    """

    def __init__(self, prog: Program, name: str, dtype: np.dtype):
        self.prog = prog
        self.name = name
        self.dtype = np.dtype(dtype)
        self.elem = ir.DoubleType() if self.dtype == np.float64 else ir.FloatType()
        self.scalar_inputs = [k for k, (_, sym) in enumerate(prog.inputs)
                              if not getattr(sym, "is_Matrix", False)]
        self._specs: dict[tuple, _Specialization] = {}
        self.threads = max(1, min(os.cpu_count() or 1, 8))
        self._current: _Specialization | None = None
        if self.eager:
            self.current = self._spec(())

    #: Compile the default specialization when built (errors surface there).
    eager = True

    #: Every output array is newly allocated (a value returned twice is the
    #: same array object; inputs returned are copies): see Kernel._finish.
    fresh_outputs = True

    @property
    def current(self) -> _Specialization:
        """The specialization that ran last (compiled on first use)."""
        if self._current is None:
            self._current = self._spec(())
        return self._current

    @current.setter
    def current(self, spec: _Specialization) -> None:
        self._current = spec

    # ---------------------------------------------------------------- compile
    def _spec(self, points: tuple[int, ...]) -> _Specialization:
        hit = self._specs.get(points)
        if hit is not None:
            return hit
        shapes: dict[str, tuple] = {}
        dims = list(self.prog.dims)
        if points:
            dims.append(POINTS)
            pointwise = {self.prog.inputs[k][0] for k in points}
            for n in pointwise:
                shapes[n] = (1, POINTS)
            for s in self.prog.steps:
                if s.shape == (1, 1) and any(a in pointwise for a in s.args):
                    shapes[s.out] = (1, POINTS)
                    pointwise.add(s.out)
        request = ModuleRequest(self.prog, self.name, self.dtype.name,
                                tuple(sorted(shapes.items())), tuple(dims), GEMM_SLOT[self.dtype],
                                emit_mod.BLAS_THRESHOLD, compile_jobs() - 1, target_fingerprint())
        compiled = request.compile()
        emitted = layout(self.prog, shapes)
        cfunc = _PROTO(compiled.address(self.name))
        spec = _Specialization(emitted, compiled, cfunc, dims, {}, request.blas_threshold)
        self._specs[points] = spec
        return spec

    # ---------------------------------------------------------------- call
    def __call__(self, *args):
        n_in = len(self.prog.inputs)
        arrays, dim_values = list(args[:n_in]), list(args[n_in:])
        points = tuple(k for k in self.scalar_inputs if np.ndim(arrays[k]) == 1)
        spec = self.current = self._spec(points)
        values = dict(zip(self.prog.dims, dim_values, strict=True))
        if not points:
            return self._run(spec, arrays, values, None)
        n = int(np.shape(arrays[points[0]])[0])
        plan = spec.emitted.plan
        # Point-wise outputs computed here get one array for all chunks; an
        # input returned as an output is copied whole below (never a buffer
        # the kernel does not write).
        outs = {name: aligned_empty(n, self.dtype) for name in plan.outputs
                if name not in plan.inputs and plan.shapes[name] == (1, POINTS)}
        parts = self.threads if n >= PARALLEL_POINTS else 1
        bounds = np.linspace(0, n, parts + 1).astype(int)
        chunks = [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]
        if not chunks:
            chunks = [(0, 0)]

        def run(lo: int, hi: int):
            part = [a[lo:hi] if k in points else a for k, a in enumerate(arrays)]
            return self._run(spec, part, {**values, POINTS: hi - lo},
                             {name: arr[lo:hi] for name, arr in outs.items()})

        if len(chunks) == 1:
            result = run(*chunks[0])
        else:
            # The native call releases the GIL: the point ranges run on all cores.
            from concurrent.futures import ThreadPoolExecutor  # only big point sets need it

            with ThreadPoolExecutor(len(chunks)) as workers:
                result = list(workers.map(lambda c: run(*c), chunks))[0]
        given = {name: k for k, name in enumerate(plan.inputs)}
        return tuple(np.array(arrays[given[name]], dtype=self.dtype) if name in given
                     else outs.get(name, r)
                     for name, r in zip(plan.outputs, result, strict=True))

    def _run(self, spec: _Specialization, arrays: list, values: dict,
             out_views: dict[str, np.ndarray] | None):
        """One native call; ``out_views`` are preallocated output slices."""
        key, call = self._call_plan(spec, values)
        item = self.dtype.itemsize
        ptr = [0] * call.n_buffers
        keep = []
        for k, a in enumerate(arrays):
            arr = np.ascontiguousarray(a, dtype=self.dtype)
            if arr.ndim == 0:
                arr = arr.reshape(1)
            keep.append(arr)
            ptr[k] = arr.ctypes.data
        if out_views is None and (call.work_total + call.out_total) * item < MIN_BYTES:
            # Small: workspace and outputs share one allocation (one address
            # lookup); the outputs start on a cache line after the workspace.
            lanes = ALIGN // item
            raw = np.empty(call.work_total + call.out_total + lanes, dtype=self.dtype)
            addr = raw.ctypes.data
            shift = (-addr % ALIGN) // item
            base = addr + shift * item
            for k, off in call.work:
                ptr[k] = base + off * item
            at = shift + call.work_total
            made = {name: raw[at + off:at + off + size].reshape(shape)
                    for name, off, size, shape in call.outs}
            base += call.work_total * item
            for k, off in call.out_slots:
                ptr[k] = base + off * item
            keep.append(raw)
        else:
            work = pool.empty(call.work_total, self.dtype)
            base = work.ctypes.data
            for k, off in call.work:
                ptr[k] = base + off * item
            keep.append(work)
            if out_views is None:
                block = pool.empty(max(call.out_total, 1), self.dtype)
                base = block.ctypes.data
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
                    ptr[k] = made[name].ctypes.data
        ptrs = np.array(ptr, dtype=np.uintp)
        spec.cfunc(ptrs.ctypes.data, call.dims.ctypes.data)
        out = []
        for name in spec.emitted.plan.outputs:
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
            plan = spec.emitted.plan
            names = plan.buffers + list(spec.emitted.scratch_sizes)
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

    def _layout_for(self, spec: _Specialization, values: dict) -> tuple[tuple, tuple]:
        """The dims key and (sizes, offsets, workspace size) for these dims, cached."""
        key = tuple(values[d] for d in spec.dims)
        layout = spec.plans.get(key)
        if layout is None:
            layout = spec.plans[key] = self._layout(spec, values)
        return key, layout

    def _ensure_blas(self, spec: _Specialization, values: dict) -> None:
        """Fill the module's ?gemm pointer once a product is big enough for it."""
        slot = GEMM_SLOT[self.dtype]
        for g in spec.emitted.plan.groups:
            for s in g.steps:
                if s.op != "matmul":
                    continue
                (ra, ca), _ = s.arg_shapes
                inner = ra if s.attr[0] else ca
                work = 1
                for d in (*s.shape, inner):
                    work *= int(sp.sympify(d).subs(values))
                if work >= spec.blas_threshold:
                    addr = blas_address(self.dtype)
                    where = spec.compiled.global_address(slot)
                    if addr is not None and where:
                        ctypes.c_void_p.from_address(where).value = addr
                    return

    def _layout(self, spec: _Specialization, values: dict):
        """Buffer sizes and workspace offsets (first fit over dead blocks)."""
        self._ensure_blas(spec, values)
        plan = spec.emitted.plan

        def size(shape):
            return tuple(int(sp.sympify(d).subs(values)) for d in shape)

        sizes = {n: size(plan.shapes[n]) for n in plan.buffers}
        sizes.update({n: size(s) for n, s in spec.emitted.scratch_sizes.items()})
        last_use: dict[str, int] = {}
        for gi, g in enumerate(plan.groups):
            for s in g.steps:
                for a in s.args:
                    last_use[a] = gi
        scratch_of = spec.emitted.scratch
        free: list[tuple[int, int]] = []
        offsets: dict[str, int] = {}
        total = 0
        lanes = ALIGN // self.dtype.itemsize

        def block(n: str) -> int:
            # Whole cache lines per block keep every block aligned.
            return -(-int(np.prod(sizes[n])) // lanes) * lanes

        for gi, g in enumerate(plan.groups):
            wanted = [n for n in g.stores if n not in plan.outputs]
            wanted += [scratch_of[s.out] for s in g.steps if s.out in scratch_of]
            for n in wanted:
                need = block(n)
                for k, (off, length) in enumerate(free):
                    if length >= need:
                        offsets[n] = off
                        free[k] = (off + need, length - need)
                        break
                else:
                    offsets[n] = total
                    total += need
            # Blocks whose last reader was this group (or never read) free up.
            for n in wanted:
                if n in scratch_of.values() or last_use.get(n, gi) <= gi:
                    free.append((offsets[n], block(n)))
            for n in list(offsets):
                if last_use.get(n) == gi and n not in wanted:
                    free.append((offsets[n], block(n)))
        return sizes, offsets, max(total, 1)

    # ---------------------------------------------------------------- inspection
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


_EPOCH_PROTO = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                ctypes.c_int64, ctypes.c_void_p)


class EpochFunction(NativeFunction):
    """A whole SGD epoch in one native call (see :func:`emit.emit_epoch`).

    Compiled on the first epoch, for that epoch's batch size (each batch
    size gets its own step with the size built in).
    """

    eager = False

    def __init__(self, prog: Program, name: str, dtype: np.dtype, spec: EpochSpec):
        self.epoch_spec = spec
        super().__init__(prog, name, dtype)

    def _spec(self, key: tuple) -> _Specialization:
        # One specialization per batch size: its full batches run a step
        # compiled with m fixed.
        batch = key[1] if key else self.epoch_spec.batch_size
        hit = self._specs.get(("batch", batch))
        if hit is not None:
            return hit
        epoch_spec = replace(self.epoch_spec, batch_size=batch)
        request = ModuleRequest(self.prog, self.name, self.dtype.name, (),
                                tuple(self.prog.dims), GEMM_SLOT[self.dtype],
                                emit_mod.BLAS_THRESHOLD, compile_jobs() - 1, target_fingerprint(),
                                epoch=epoch_spec)
        compiled = request.compile()
        emitted = layout(self.prog)
        cfunc = _EPOCH_PROTO(compiled.address(self.name))
        spec = _Specialization(emitted, compiled, cfunc, list(self.prog.dims), {},
                               request.blas_threshold)
        self._specs[("batch", batch)] = spec
        return spec

    def compile_for(self, batch: int) -> None:
        """Compile (or load) the epoch for this batch size ahead of its first use."""
        self.current = self._spec(("batch", int(batch)))

    def epoch(self, arrays: list, order: np.ndarray, batch: int, dim_values: dict) -> float:
        """Run one epoch; parameters among ``arrays`` are updated in place.

        ``arrays`` follow the program's inputs, with the whole data set in
        the X and Y slots, sample-major (one C-contiguous row per sample); every
        array must already have this function's dtype (checked by the caller).
        """
        spec = self.current = self._spec(("batch", int(batch)))
        values = dict(dim_values)
        values[self.epoch_spec.batch] = batch
        key, (sizes, offsets, total) = self._layout_for(spec, values)
        plan = spec.emitted.plan
        work = aligned_empty(total, self.dtype)
        names = plan.buffers + list(spec.emitted.scratch_sizes)
        ptrs = (ctypes.c_void_p * len(names))()
        keep = []
        data = {}
        shadows = []
        for k, name in enumerate(names):
            if name in (self.epoch_spec.x, self.epoch_spec.y):
                data[name] = arrays[k]
                arr = aligned_empty(sizes[name], self.dtype)
            elif k < len(self.prog.inputs):
                arr = arrays[k]
                if arr.ndim and arr.ctypes.data % ALIGN:
                    # Updated every sample: an aligned working copy for the
                    # epoch is much cheaper than split vector loads.
                    shadows.append((arr, aligned_copy(arr)))
                    arr = shadows[-1][1]
            elif name in offsets:
                arr = work[offsets[name]:offsets[name] + int(np.prod(sizes[name]))]
            else:
                arr = aligned_empty(sizes[name], self.dtype)
            keep.append(arr)
            ptrs[k] = arr.ctypes.data
        X, Y = data[self.epoch_spec.x], data[self.epoch_spec.y]
        if not (X.flags.c_contiguous and Y.flags.c_contiguous and X.dtype == self.dtype
                and Y.dtype == self.dtype and X.shape[0] == Y.shape[0]):
            raise ValueError("X and Y must be sample-major, C-contiguous and of the kernel's "
                             "dtype, with one row per sample each")
        order = np.ascontiguousarray(order, dtype=np.int64)
        n = order.shape[0]
        if n and (order.min() < 0 or order.max() >= X.shape[0]):
            raise ValueError(f"order indexes samples 0..{X.shape[0] - 1}, got "
                             f"{order.min()}..{order.max()}")
        dims_arr = np.array(key if key else [0], dtype=np.int64)
        loss = np.zeros(1, dtype=self.dtype)
        spec.cfunc(ctypes.addressof(ptrs), dims_arr.ctypes.data, X.ctypes.data, Y.ctypes.data,
                   order.ctypes.data, n, int(batch), loss.ctypes.data)
        for arr, shadow in shadows:
            arr[...] = shadow
        return float(loss[0]) if self.epoch_spec.loss is not None else float("nan")


def build_epoch(prog: Program, name: str, dtype, spec: EpochSpec) -> EpochFunction:
    """Compile a whole-epoch SGD driver around the step program."""
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
