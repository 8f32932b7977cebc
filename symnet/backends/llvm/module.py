"""Module assembly: a kernel plan -> an LLVM module (one internal function per group)."""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from llvmlite import ir

from ...aligned import ALIGN
from ...config import check_shared
from ...graph import COLUMN_OPS, KRON_OPS, LINALG_OPS
from ...lower import Group, KernelPlan, product_dims, product_versions
from ...lower.share import share
from .irutil import I64, PTR, Fn
from .kernels import emit_column, emit_const, emit_group, emit_leaf, emit_reduce, emit_transpose
from .kron import emit_kron
from .linalg import emit_linalg
from .matmul import emit_matmul

__all__ = ["Options", "Parts", "emit"]


@dataclass(frozen=True)
class Options:
    """How to generate code for one module (everything but the plan)."""

    elem: ir.Type                       # ir.DoubleType() or ir.FloatType()
    gemm: str | None                    # global holding a ?gemm pointer (None: loops only)
    blas_threshold: int                 # multiply-adds from which a product calls BLAS
    triple: str = ""
    data_layout: str = ""
    vector_bits: int = 256              # the host's vector width that loops use


#: Relative compile cost of a group by its op (loop groups add their step
#: count): spreads the work of a module's parts evenly.
_COST = {"matmul": 6.0, "softmax": 4.0, "log_softmax": 4.0, "logsumexp": 3.0, "ew": 1.0}


def _group_cost(g: Group, shapes: dict, threshold: int, const_dims: dict) -> float:
    s = g.steps[0]
    # A product whose dims are known at run time only is a call of the
    # module's shared routine (charged where that routine is defined).
    if s.op == "matmul" and product_versions(*product_dims(s, shapes, const_dims),
                                             threshold) is None:
        return 0.5
    return _COST.get(g.op, 0.5) + (0.25 * len(g.steps) if g.is_loop else 0.0)


@dataclass
class Parts:
    """Extra modules that take a share of a main module's group functions, so
    the modules compile in parallel and link together; and where each routine
    shared by the modules (a product of run-time dims) is defined."""

    owner: ir.Module
    modules: list[ir.Module]
    costs: list[float]
    routines: dict[str, ir.Module] = field(default_factory=dict)

    @classmethod
    def new(cls, owner: ir.Module, n: int) -> Parts:
        mods = []
        for k in range(n):
            part = ir.Module(name=f"{owner.name}.part{k + 1}")
            part.triple, part.data_layout = owner.triple, owner.data_layout
            mods.append(part)
        return cls(owner, mods, [0.0] * (n + 1))

    def place(self, cost: float) -> ir.Module:
        """The module (owner or a part) with the least estimated work so far."""
        k = min(range(len(self.costs)), key=self.costs.__getitem__)
        self.costs[k] += cost
        return self.owner if k == 0 else self.modules[k - 1]

    def charge(self, module: ir.Module, cost: float) -> None:
        """Count a routine defined in ``module`` toward its work."""
        mods = [self.owner, *self.modules]
        k = next(i for i, m in enumerate(mods) if m is module)
        self.costs[k] += cost


@dataclass
class Emitted:
    module: ir.Module
    plan: KernelPlan
    parts: Parts

    @property
    def modules(self) -> list[ir.Module]:
        """The main module, then the parts that have any functions."""
        return [self.module] + [m for m in self.parts.modules if m.functions]


#: Above this many groups, group functions stay out of line: inlining them
#: all into one entry function makes the optimization pipeline superlinear in depth
#: (a 64-layer step compiles 1.3x faster without it), and a call per group
#: costs nothing next to a group's loops.
INLINE_GROUPS = 96

#: The entry function makes at most this many group calls itself; a longer
#: plan (a deep network) makes them from out-of-line chunks of this many.
#: One block holding every call, with every buffer's pointer loaded up front
#: and live across all the calls, made code generation superlinear in depth
#: (a 256-layer step: 2800 pointers over 2300 calls, 8x the time of 64 layers).
CHUNK_CALLS = 64

_SINGLE = {"const": emit_const, "leaf": emit_leaf, "transpose": emit_transpose,
           "reduce": emit_reduce}


def emit(kp: KernelPlan, name: str, opts: Options, dims: list[sp.Symbol] | None = None,
         module: ir.Module | None = None, parts: Parts | int = 0,
         buffer_order: list[str] | None = None) -> Emitted:
    """Add ``void NAME(T** bufs, i64* dims)`` computing the plan to ``module``
    (a new one by default).

    ``bufs`` holds one pointer per buffer of the plan (``buffer_order``:
    another plan's order, shared by a specialization of the same program);
    ``dims`` the values of ``dims`` (default: the program's). Every group is
    an internal function whose pointer arguments are ``noalias``, so its
    loops vectorize without runtime alias checks; ``parts`` (a count or
    :class:`Parts`) take a share of those functions.
    """
    dims = list(kp.program.dims if dims is None else dims)
    if module is None:
        module = ir.Module(name=name)
        if opts.triple:
            module.triple = opts.triple
        if opts.data_layout:
            module.data_layout = opts.data_layout
    if isinstance(parts, int):
        parts = Parts.new(module, parts)
    buffers = kp.buffer_names
    local: list[str] = []
    if buffer_order is not None:
        # A specialized step may add small buffers of its own (the per-row
        # coefficients lower.specialize.hoist_steps lifts out of an update):
        # they live on the step's stack, not in the shared buffer table.
        local = [nm for nm in buffers if nm not in buffer_order]
        sizes = {nm: [sp.sympify(d) for d in kp.shapes[nm]] for nm in local}
        unfixed = [nm for nm, sh in sizes.items() if not all(d.is_Integer for d in sh)]
        if unfixed:
            raise ValueError(f"buffers {unfixed} are not in the shared buffer order")
        buffers = list(buffer_order)
    main = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR]), name=name)
    main.attributes.add("nounwind")
    bufs_arg, dims_arg = main.args
    bufs_arg.name, dims_arg.name = "bufs", "dims"
    b = ir.IRBuilder(main.append_basic_block("entry"))
    buffers = buffers + local
    bufidx = {nm: k for k, nm in enumerate(buffers)}
    # Intermediates and scratch live in the call's workspace, whose blocks
    # are cache-line aligned; inputs and outputs are the caller's arrays.
    workspace = frozenset(nm for nm in kp.buffer_names
                          if nm not in kp.inputs and nm not in kp.outputs) | set(local)
    folded = kp.folded
    args, first = share(kp, workspace)
    check = check_shared()
    made: dict[int, tuple[ir.Function, ir.Function]] = {}
    calls: list[tuple[ir.Function, list[int]]] = []
    for gi, g in enumerate(kp.groups):
        if g.steps[0].out in folded:
            continue  # computed by the product before it (a GEMM fold)
        used = args[gi]
        rep = first[gi]
        if rep != gi and not check:
            callee = made[rep][1]
        else:
            fn, callee = _group_function(kp, g, used, name, opts, dims, module, parts, workspace,
                                         target=made[rep][0].module if rep != gi else None)
            if rep != gi:
                _check_same(made[rep][0], args[rep], fn, used)
                callee = made[rep][1]
            else:
                made[gi] = (fn, callee)
        calls.append((callee, [bufidx[u] for u in used]))
    if len(calls) <= CHUNK_CALLS:
        ptrs = [_slot(b, bufs_arg, k) for k in range(len(buffers) - len(local))]
        ptrs += [_alloca(b, opts, nm, sizes[nm]) for nm in local]
        for callee, idx in calls:
            b.call(callee, [ptrs[k] for k in idx] + [dims_arg])
    else:
        table = bufs_arg
        if local:
            # The chunks find the step's own buffers after the shared ones.
            table = b.alloca(PTR, I64(len(buffers)), name="table")
            for k in range(len(buffers) - len(local)):
                b.store(_slot(b, bufs_arg, k), b.gep(table, [I64(k)], source_etype=PTR))
            for k, nm in enumerate(local, start=len(buffers) - len(local)):
                b.store(_alloca(b, opts, nm, sizes[nm]), b.gep(table, [I64(k)], source_etype=PTR))
        for c in range(0, len(calls), CHUNK_CALLS):
            chunk = _chunk(module, f"{name}.calls{c // CHUNK_CALLS}",
                           calls[c:c + CHUNK_CALLS])
            b.call(chunk, [table, dims_arg])
    b.ret_void()
    return Emitted(module, kp, parts)


def _slot(b: ir.IRBuilder, table: ir.Value, k: int) -> ir.Value:
    slot = b.gep(table, [I64(k)], inbounds=True, source_etype=PTR)
    return b.load(slot, typ=PTR, align=8)


def _alloca(b: ir.IRBuilder, opts: Options, nm: str, shape: list) -> ir.Value:
    ptr = b.alloca(opts.elem, I64(int(shape[0] * shape[1])), name=nm)
    ptr.align = ALIGN
    return ptr


def _chunk(module: ir.Module, name: str, calls: list[tuple[ir.Function, list[int]]]) -> ir.Function:
    """An out-of-line function making ``calls``: each pointer is loaded from
    the table where the chunk first needs it."""
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR]), name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    table, dims = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    ptrs: dict[int, ir.Value] = {}
    for callee, idx in calls:
        for k in idx:
            if k not in ptrs:
                ptrs[k] = _slot(b, table, k)
        b.call(callee, [ptrs[k] for k in idx] + [dims])
    b.ret_void()
    return fn


def _group_function(kp: KernelPlan, g: Group, used: list[str], name: str, opts: Options,
                    dims: list, module: ir.Module, parts: Parts, workspace: frozenset[str],
                    target: ir.Module | None = None) -> tuple[ir.Function, ir.Function]:
    """Emit group ``g`` as a function over ``used``; returns it and the
    function the main module calls (a declaration when it lives in a part)."""
    fold = kp.folds.get(g.steps[0].out)
    if target is None:
        target = (parts.place(_group_cost(g, kp.shapes, opts.blas_threshold, kp.const_dims))
                  if parts.modules else module)
    label = g.steps[0].out if len(g.steps) == 1 else f"{g.steps[0].out}-{g.steps[-1].out}"
    f = Fn(target, f"{name}.{label}", used, opts.elem, dims, kp.const_dims,
           vector_bits=opts.vector_bits,
           owner=None if target is module else module, aligned=workspace, shared=parts)
    callee = f.fn
    if len(kp.groups) > INLINE_GROUPS:
        f.fn.attributes.add("noinline")
    if target is not module:
        # Reached from another module: external (hidden: not exported).
        f.fn.linkage = "hidden"
        callee = ir.Function(module, f.fn.ftype, name=f.fn.name)
    s = g.steps[0]
    if g.is_loop:
        emit_group(f.ctx, f.ptr, g, kp.shapes, kp.inplace)
    elif s.op in COLUMN_OPS:
        emit_column(f.ctx, f.ptr, s, kp.shapes, kp.scratch[s.out])
    elif s.op in LINALG_OPS:
        emit_linalg(f.ctx, f.ptr, s, kp.shapes, kp.scratch[s.out])
    elif s.op in KRON_OPS:
        emit_kron(f.ctx, f.ptr, s, kp.shapes)
    elif s.op == "matmul":
        emit_matmul(f.ctx, f.ptr, s, kp.shapes, opts.gemm, opts.blas_threshold, fold,
                    kp.const_dims)
    else:
        _SINGLE[s.op](f.ctx, f.ptr, s, kp.shapes)
    f.ctx.b.ret_void()
    return f.fn, callee


def _text(fn: ir.Function, used: list[str]) -> str:
    """A function's IR with its name and its arguments' names replaced by positions."""
    text = str(fn).replace(f'@"{fn.name}"', "@F")
    for k, a in enumerate(fn.args[:-1]):
        text = text.replace(f'%"{a.name}"', f'%"@{k}"')
    return text


def _check_same(rep: ir.Function, rep_used: list[str], fn: ir.Function,
                used: list[str]) -> None:
    """SYMNET_CHECK_SHARED: a group shared with an earlier one must generate
    the same function."""
    if _text(rep, rep_used) != _text(fn, used):
        raise AssertionError(f"group functions {rep.name} and {fn.name} share a signature "
                             "but generate different code (symnet.lower.share misses a field)")
