"""The SGD epoch driver: one native function looping over batches around the step."""

from __future__ import annotations

import sympy as sp
from llvmlite import ir

from ...aligned import ALIGN
from ...lower import EpochSpec, plan_kernel
from ...lower.pipeline import X_NEXT, pipeline
from ...schedule import Program
from .irutil import I64, PTR, Ctx, Loop
from .module import Emitted, Options, emit

__all__ = ["emit_epoch"]


def emit_epoch(prog: Program, name: str, opts: Options, spec: EpochSpec,
               parts: int = 0) -> Emitted:
    """A whole epoch of SGD in one native function.

    ``void NAME(T** bufs, i64* dims, T* X, T* Y, i64* order, i64 n, i64 batch, T* loss)``:
    for each batch of ``order``, gather its samples from X (n x rows,
    sample-major) and Y
    into the step's X and Y buffers, set m, run the step, copy each new
    parameter value over the parameter (in place) and add up the loss;
    ``*loss`` receives the mean loss over the epoch.
    """
    # Parameters are overwritten by their new values where that is safe;
    # the rest are copied after each step.
    elem = opts.elem
    kp = plan_kernel(prog, inplace=spec.wanted)
    # One sample per step, every step: m is always 1, so the generic step (for a
    # last partial batch, or a batch size chosen at run time) would be dead code.
    generic = spec.any_batch or spec.batch_size != 1
    em = emit(kp, f"{name}.step", opts, parts=parts) if generic else None
    # The step again with m fixed to the batch size: every full batch runs
    # code whose loop bounds are all compile-time constants.
    kp_b = plan_kernel(prog, const_dims={spec.batch: spec.batch_size}, inplace=spec.wanted)
    order = (em.plan if em else kp).buffer_names
    # One sample per step: the next sample's first product rides along with
    # this sample's update (lower.pipeline), through one more table slot.
    pipe = None if generic else pipeline(kp_b, spec, order)
    if pipe is not None:
        kp_b, order = pipe.plan, [*order, X_NEXT]
    em_b = emit(kp_b, f"{name}.stepB", opts, module=em.module if em else None,
                parts=em.parts if em else parts, buffer_order=order)
    module = em_b.module
    step_b = module.globals[f"{name}.stepB"]
    head = None
    if pipe is not None:
        emit(pipe.head, f"{name}.head", opts, module=module, parts=em_b.parts,
             buffer_order=order)
        head = module.globals[f"{name}.head"]
    p = em.plan if em else kp
    buffers = p.buffer_names
    bufidx = {nm: k for k, nm in enumerate(buffers)}
    step = module.globals[f"{name}.step"] if em else None
    fnty = ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, PTR, PTR, I64, I64, PTR])
    fn = ir.Function(module, fnty, name=name)
    fn.attributes.add("nounwind")
    bufs, dims_in, X, Y, order_arg, n, batch, loss_out = fn.args
    for arg, nm in zip(fn.args, ("bufs", "dims", "X", "Y", "order", "n", "batch", "loss"),
                       strict=True):
        arg.name = nm
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    ndims = len(prog.dims)
    local = b.alloca(I64, I64(max(ndims, 1)), name="dims")
    dims: dict[sp.Symbol, ir.Value] = {}
    for k, d in enumerate(prog.dims):
        v = b.load(b.gep(dims_in, [I64(k)], inbounds=True, source_etype=I64), typ=I64)
        b.store(v, b.gep(local, [I64(k)], inbounds=True, source_etype=I64))
        dims[d] = v
    ctx = Ctx(module, b, elem, dims, vector_bits=opts.vector_bits)

    def buf(nm: str) -> ir.Value:
        slot = b.gep(bufs, [I64(bufidx[nm])], inbounds=True, source_etype=PTR)
        return b.load(slot, typ=PTR, align=8)

    xb, yb = buf(spec.x), buf(spec.y)
    lossb = buf(spec.loss) if spec.loss is not None else None
    x_rows = ctx.dim(p.shapes[spec.x][0])
    y_rows = ctx.dim(p.shapes[spec.y][0])
    m_slot = b.gep(local, [I64(prog.dims.index(spec.batch))], inbounds=True, source_etype=I64)
    direct = spec.batch_size == 1
    if direct:
        # One sample per step: its X and Y columns are rows of the sample-
        # major data, so the fast step reads them in place through its own
        # copy of the buffer table instead of gathering them.
        nbuf = len(buffers)
        bufs_b = b.alloca(PTR, I64(nbuf + (pipe is not None)), name="bufs_b")
        lc = Loop(b, I64(nbuf), "t")
        src_slot = b.gep(bufs, [lc.index], inbounds=True, source_etype=PTR)
        dst_slot = b.gep(bufs_b, [lc.index], inbounds=True, source_etype=PTR)
        b.store(b.load(src_slot, typ=PTR, align=8), dst_slot, align=8)
        lc.close()
        x_slot = b.gep(bufs_b, [I64(bufidx[spec.x])], inbounds=True, source_etype=PTR)
        y_slot = b.gep(bufs_b, [I64(bufidx[spec.y])], inbounds=True, source_etype=PTR)
        if pipe is not None:
            # The carried product gets memory of its own for the whole epoch
            # (its workspace slot may be shared with values of other steps).
            r, c = (int(sp.sympify(d).subs(kp_b.const_dims)) for d in kp_b.shapes[pipe.product])
            carried = b.alloca(elem, I64(r * c), name="carried")
            carried.align = ALIGN
            b.store(carried, b.gep(bufs_b, [I64(bufidx[pipe.product])], inbounds=True,
                                   source_etype=PTR), align=8)
            xn_slot = b.gep(bufs_b, [I64(nbuf)], inbounds=True, source_etype=PTR)

            def row_of(k: ir.Value) -> ir.Value:
                sample = b.load(b.gep(order_arg, [k], inbounds=True, source_etype=I64),
                                typ=I64)
                return b.gep(X, [b.mul(sample, x_rows)], inbounds=True, source_etype=elem)

            # The first sample's product, before the loop.
            with b.if_then(b.icmp_signed(">", n, I64(0))):
                b.store(row_of(I64(0)), x_slot, align=8)
                b.call(head, [bufs_b, local])
    total = b.alloca(elem, name="total")
    b.store(ctx.const(0.0), total)
    nb = b.sdiv(b.add(n, b.sub(batch, I64(1))), batch)
    lb = Loop(b, nb, "batch")
    start = b.mul(lb.index, batch)
    rest = b.sub(n, start)
    size = b.select(b.icmp_signed("<", rest, batch), rest, batch)
    b.store(size, m_slot)

    def gather() -> None:
        # X and Y arrive sample-major (one row per sample) and the step takes
        # them feature-major: a transpose. Row by row of the step's buffer,
        # its stores are contiguous, and the batch's sample rows it reads
        # stay in L1 from one feature to the next (sample by sample, every
        # store would touch another cache line).
        for src, dst, rows in ((X, xb, x_rows), (Y, yb, y_rows)):
            li = Loop(b, rows, "r")
            lk = Loop(b, size, "k")
            sample = b.load(b.gep(order_arg, [b.add(start, lk.index)], inbounds=True,
                                  source_etype=I64), typ=I64)
            v = ctx.load(src, b.add(b.mul(sample, rows), li.index))
            ctx.store(v, dst, b.add(b.mul(li.index, size), lk.index))
            lk.close()
            li.close()

    def copy_back(done: dict[str, str]) -> None:
        for param, new in spec.updates:
            if new in done:
                continue
            r, c = p.shapes[param]
            cnt = b.mul(ctx.dim(r), ctx.dim(c))
            dst, src = buf(param), buf(new)
            lc = Loop(b, cnt, "u")
            ctx.store(ctx.load(src, lc.index), dst, lc.index)
            lc.close()

    def fast() -> None:
        if direct:
            sample = b.load(b.gep(order_arg, [start], inbounds=True, source_etype=I64),
                            typ=I64)
            for slot, src, rows in ((x_slot, X, x_rows), (y_slot, Y, y_rows)):
                row = b.gep(src, [b.mul(sample, rows)], inbounds=True, source_etype=elem)
                b.store(row, slot, align=8)
            if pipe is not None:
                # The next sample's row (the last step reads its own again).
                after = b.add(start, I64(1))
                last = b.icmp_signed(">=", after, n)
                b.store(row_of(b.select(last, start, after)), xn_slot, align=8)
            b.call(step_b, [bufs_b, local])
        else:
            gather()
            b.call(step_b, [bufs, local])
        copy_back(em_b.plan.inplace)

    if em is None:
        fast()  # size is min(n - start, batch) = 1: the caller passes batch = 1
    else:
        full = b.icmp_signed("==", size, I64(spec.batch_size))
        with b.if_else(full) as (then, otherwise):
            with then:
                fast()
            with otherwise:
                gather()
                b.call(step, [bufs, local])
                copy_back(em.plan.inplace)
    if lossb is not None:
        lossv = ctx.load(lossb, I64(0))
        acc = b.fadd(b.load(total, typ=elem), b.fmul(lossv, b.sitofp(size, elem)))
        b.store(acc, total)
    lb.close()
    # An empty epoch's mean is 0, as the NumPy backend's (not 0 / 0).
    count = b.select(b.icmp_signed(">", n, I64(1)), n, I64(1))
    mean = b.fdiv(b.load(total, typ=elem), b.sitofp(count, elem))
    b.store(mean, loss_out)
    b.ret_void()
    return em if em is not None else em_b

