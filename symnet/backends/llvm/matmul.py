"""Matrix products: register-blocked loops for small ones, BLAS through a global pointer."""

from __future__ import annotations

from llvmlite import ir

from ...graph import VARS
from ...lower import PRODUCT_VERSIONS, Fold, product_dims, product_versions
from ...schedule import Step
from .irutil import I8, I32, I64, PTR, ROW_BLOCK, Ctx, Loop, row_blocks
from .matvec import dot_cols_vector, dot_rows_vector
from .scalar import BodyEmitter

__all__ = ["ROW_BLOCK", "Scale", "emit_matmul", "gemm_slot"]


class Scale:
    """alpha and beta of an update, as IR values."""

    def __init__(self, alpha: ir.Value, beta: ir.Value):
        self.alpha, self.beta = alpha, beta

    def apply(self, c: Ctx, acc: ir.Value, old: ir.Value) -> ir.Value:
        return c.fadd(c.fmul(self.beta, old), c.fmul(self.alpha, acc))



def _emit_ipj(c: Ctx, A, B, out, ta: bool, rows, cols, inner, sc: Scale | None = None) -> None:
    """out = op(A) B by i, p, j, vectorized over j and register-blocked over i:
    ROW_BLOCK entries of op(A) stay in registers and every vector of B's row
    p that is loaded feeds ROW_BLOCK rows of the output."""
    row_blocks(c.b, rows, lambda rows_i: _ipj_rows(c, A, B, out, ta, rows_i, rows, cols,
                                                    inner, sc), c.row_block)


def _ipj_rows(c: Ctx, A, B, out, ta: bool, row_idx: list, rows, cols, inner,
              sc: Scale | None = None) -> None:
    b = c.b
    starts = [b.mul(i, cols) for i in row_idx]
    lj = Loop(b, cols, "j0")
    for st in starts:
        idx = b.add(st, lj.index)
        c.store(c.const(0.0) if sc is None else c.fmul(sc.beta, c.load(out, idx)), out, idx)
    lj.close()
    lp = Loop(b, inner, "p")
    avs = []
    for i in row_idx:
        aidx = b.add(b.mul(lp.index, rows), i) if ta else b.add(b.mul(i, inner), lp.index)
        av = c.load(A, aidx)
        avs.append(av if sc is None else c.fmul(sc.alpha, av))
    brow = b.mul(lp.index, cols)
    lj = Loop(b, cols, "j")
    bv = c.load(B, b.add(brow, lj.index))
    for st, av in zip(starts, avs, strict=True):
        oidx = b.add(st, lj.index)
        c.store(c.fadd(c.load(out, oidx), c.fmul(av, bv)), out, oidx)
    lj.close()
    lp.close()


def _dot_rows(c: Ctx, A, B, out, ta: bool, rows, inner, sc: Scale | None = None) -> None:
    """out[i] = sum_p op(A)[i, p] * B[p] (B one contiguous column).

    op(A) = A: ROW_BLOCK dot products share each vector of B and run as
    independent accumulator chains (one chain would wait on the adder's
    latency every step); the sums reassociate, so they vectorize over p.
    op(A) = A^T: rows of A are contiguous along i, so out += B[p] * A[p, :]
    for each p, vectorized over i with no horizontal sums at all.
    """
    b = c.b
    if ta and dot_cols_vector(c, A, B, out, rows, inner, sc):
        return
    if ta:
        lz = Loop(b, rows, "i0")
        init = c.const(0.0) if sc is None else c.fmul(sc.beta, c.load(out, lz.index))
        c.store(init, out, lz.index)
        lz.close()
        lp = Loop(b, inner, "p")
        bp = c.load(B, lp.index)
        if sc is not None:
            bp = c.fmul(sc.alpha, bp)
        li = Loop(b, rows, "i")
        oidx = li.index
        aval = c.load(A, b.add(b.mul(lp.index, rows), li.index))
        c.store(c.fadd(c.load(out, oidx), c.fmul(aval, bp)), out, oidx)
        li.close()
        lp.close()
        return

    if dot_rows_vector(c, A, B, out, rows, inner, sc):
        return

    def block(i_rows: list) -> None:
        lp = Loop(b, inner, "p")
        accs = [lp.carry(c.const(0.0), f"acc{k}") for k in range(len(i_rows))]
        bv = c.load(B, lp.index)
        nxt = {}
        for acc, i in zip(accs, i_rows, strict=True):
            av = c.load(A, b.add(b.mul(i, inner), lp.index))
            nxt[acc] = b.fadd(acc, c.fmul(av, bv), flags=("contract", "reassoc"))
        lp.close(nxt)
        for acc, i in zip(accs, i_rows, strict=True):
            c.store(acc if sc is None else sc.apply(c, acc, c.load(out, i)), out, i)

    row_blocks(b, rows, block, c.row_block)


def _emit_matmul_loops(c: Ctx, A, B, out, ta: bool, tb: bool, rows, cols, inner,
                       sc: Scale | None = None, one_col: bool | None = None) -> None:
    """C = op(A) op(B) by loops ordered for contiguous inner access (with
    ``sc``: C = beta C + alpha op(A) op(B)). ``one_col``: whether the product has
    one column, when known at compile time (None: tested at run time)."""
    b = c.b
    if not tb:
        # A matrix-vector product (one column, e.g. one sample) is a dot
        # product per row, B's column being contiguous; otherwise i, p, j.
        if one_col is None:
            with b.if_else(b.icmp_signed("==", cols, I64(1))) as (then, otherwise):
                with then:
                    _dot_rows(c, A, B, out, ta, rows, inner, sc)
                with otherwise:
                    _emit_ipj(c, A, B, out, ta, rows, cols, inner, sc)
        elif one_col:
            _dot_rows(c, A, B, out, ta, rows, inner, sc)
        else:
            _emit_ipj(c, A, B, out, ta, rows, cols, inner, sc)
        return
    # B stored transposed (C x K): dot products over contiguous rows of A and B.
    li = Loop(b, rows, "i")
    lj = Loop(b, cols, "j")
    lp = Loop(b, inner, "p")
    acc = lp.carry(c.const(0.0), "acc")
    aidx = b.add(b.mul(lp.index, rows), li.index) if ta else b.add(b.mul(li.index, inner),
                                                                     lp.index)
    bidx = b.add(b.mul(lj.index, inner), lp.index)
    nxt = b.fadd(acc, c.fmul(c.load(A, aidx), c.load(B, bidx)), flags=("contract", "reassoc"))
    lp.close({acc: nxt})
    oidx = b.add(b.mul(li.index, cols), lj.index)
    c.store(acc if sc is None else sc.apply(c, acc, c.load(out, oidx)), out, oidx)
    lj.close()
    li.close()


def _emit_product(c: Ctx, A, B, out, ta: bool, tb: bool, rows, cols, inner,
                  sc: Scale | None, gemm: str | None, threshold: int,
                  versions: frozenset[str]) -> None:
    """The product through the code ``versions`` the plan chose (see
    :func:`symnet.lower.product_versions`): "blas" behind a run-time test of its
    size and of the ?gemm pointer, with the loops ("dot", "ipj") as the fallback."""
    loops = versions - {"blas"}
    one_col = None if loops == {"dot", "ipj"} else loops == {"dot"}
    if gemm is None or "blas" not in versions:
        _emit_matmul_loops(c, A, B, out, ta, tb, rows, cols, inner, sc, one_col)
        return
    b = c.b
    slot = gemm_slot(c.module, gemm, c.owner)
    # A typed pointer to the function type: llvmlite reads the callee's
    # signature from it (the IR text still says ``ptr``).
    fnty = ir.FunctionType(ir.VoidType(), [PTR] * 13).as_pointer()
    fptr = b.load(slot, typ=fnty)
    work = b.mul(b.mul(rows, cols), inner)
    small = b.icmp_signed("<", work, I64(threshold))
    unset = b.icmp_unsigned("==", fptr, ir.Constant(fnty, None))
    # BLAS takes 32-bit sizes: anything larger stays with the loops.
    big = b.icmp_signed(">", b.select(b.icmp_signed(">", rows, cols), rows, cols),
                        I64(2**31 - 1))
    use_loops = b.or_(b.or_(small, unset), b.or_(big, b.icmp_signed(">", inner,
                                                                    I64(2**31 - 1))))
    fn = b.function
    blk_small = fn.append_basic_block("mm.loops")
    blk_blas = fn.append_basic_block("mm.blas")
    blk_done = fn.append_basic_block("mm.done")
    b.cbranch(use_loops, blk_small, blk_blas)
    b.position_at_end(blk_small)
    _emit_matmul_loops(c, A, B, out, ta, tb, rows, cols, inner, sc, one_col)
    b.branch(blk_done)
    b.position_at_end(blk_blas)
    lda = rows if ta else inner
    ldb = inner if tb else cols
    _call_gemm(c, fptr, A, B, out, ta, tb, rows, cols, inner, lda, ldb, sc)
    b.branch(blk_done)
    b.position_at_end(blk_done)


def emit_matmul(c: Ctx, ptr: dict, s: Step, shapes: dict, gemm: str | None,
                threshold: int, update: Fold | None = None,
                const_dims: dict | None = None) -> None:
    """A product step: its dims known at compile time, the code versions the plan
    chose for them, inline; otherwise a call of the module's one routine for its
    transposes, which picks a version per call (so a step with a symbolic batch
    carries one copy of the three versions, not one per product).

    With ``update`` (a GEMM fold) the product is not stored: it goes straight into the
    in-place update of a parameter, C = beta C + alpha op(A) op(B).
    """
    sc, out = None, ptr[s.out] if update is None else ptr[update.param]
    if update is not None:
        env = {VARS[k]: c.load(ptr[a], I64(0)) for k, a in enumerate(update.step.args)
               if VARS[k] in update.alpha.free_symbols | update.beta.free_symbols}
        em = BodyEmitter(c, env)
        sc = Scale(em(update.alpha), em(update.beta))
    a, bb = s.args
    ta, tb = s.attr
    R, C, K = product_dims(s, shapes, const_dims)
    versions = product_versions(R, C, K, threshold)
    dims = [c.dim(d) for d in (R, C, K)]
    if versions is not None:
        _emit_product(c, ptr[a], ptr[bb], out, ta, tb, *dims, sc, gemm, threshold, versions)
        return
    routine = _runtime_product(c, ta, tb, sc is not None, gemm, threshold)
    args = [ptr[a], ptr[bb], out, *dims]
    if sc is not None:
        args += [sc.alpha, sc.beta]
    c.b.call(routine, args)


#: Estimated compile cost of a shared product routine, in module.Parts' units (an
#: elementwise loop ~1): the three versions of op(A) B ~20 ms of LLVM's time here,
#: the dot products of A op(B)^T ~15 ms.
_ROUTINE_COST = {False: 3.5, True: 2.75}


def _runtime_product(c: Ctx, ta: bool, tb: bool, scaled: bool, gemm: str | None,
                     threshold: int) -> ir.Function:
    """``symnet.mm.<ta><tb>[.scaled].<elem>(A, B, C, rows, cols, inner[, alpha, beta])``,
    every version behind run-time tests of the dims: defined once, in the first
    module that needs it, and declared in the others (``c.shared`` records where)."""
    elem = "f64" if isinstance(c.elem, ir.DoubleType) else "f32"
    name = f"symnet.mm.{'t' if ta else 'n'}{'t' if tb else 'n'}{'.scaled' if scaled else ''}.{elem}"
    extra = [c.elem, c.elem] if scaled else []
    fnty = ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, I64, I64, I64, *extra])
    shared = c.shared.routines if c.shared is not None else {}
    home = shared.get(name, c.module)
    local = c.module.globals.get(name)
    if home is not c.module:
        return local if local is not None else ir.Function(c.module, fnty, name=name)
    if local is not None:
        return local
    fn = ir.Function(c.module, fnty, name=name)
    # Reached from the other modules of a kernel: external, but not exported.
    fn.linkage = "hidden" if c.shared is not None else "internal"
    fn.attributes.add("nounwind")
    fn.attributes.add("noinline")
    for arg in fn.args[:3]:
        arg.add_attribute("noalias")
    # One row at a time: the routine serves the products whose dims are known
    # only at run time, and of those the loops run only the small ones (the
    # rest call BLAS). Blocks of rows with their remainder loops and the
    # vectorizer's alias checks between rows made it 2-2.5x costlier to
    # compile: ~50 ms of a 64-32-10 step's ~250 ms of LLVM work.
    body = Ctx(c.module, ir.IRBuilder(fn.append_basic_block("entry")), c.elem, {},
               owner=c.owner, shared=c.shared, vector_bits=c.vector_bits, row_block=1)
    A, B, out, rows, cols, inner = fn.args[:6]
    sc = Scale(*fn.args[6:8]) if scaled else None
    _emit_product(body, A, B, out, ta, tb, rows, cols, inner, sc, gemm, threshold,
                  PRODUCT_VERSIONS)
    body.b.ret_void()
    if c.shared is not None:
        shared[name] = c.module
        c.shared.charge(c.module, _ROUTINE_COST[tb])
    return fn


def gemm_slot(module: ir.Module, gemm: str, owner: ir.Module | None = None
              ) -> ir.GlobalVariable:
    """The global holding the ?gemm pointer: defined (null) in the main
    module, declared in a part module (``owner`` is then the main module)."""
    slot = module.globals.get(gemm)
    if slot is None:
        slot = ir.GlobalVariable(module, PTR, name=gemm)
        if owner is None:
            slot.initializer = ir.Constant(PTR, None)
        else:
            gemm_slot(owner, gemm)
    return slot


def _call_gemm(c: Ctx, fptr, A, B, out, ta, tb, rows, cols, inner, lda, ldb,
               sc: Scale | None = None) -> None:
    """Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T."""
    b = c.b

    def slot(ty, val):
        p = b.alloca(ty)
        b.store(val, p)
        return p

    transa = slot(I8, I8(ord("T" if tb else "N")))
    transb = slot(I8, I8(ord("T" if ta else "N")))
    m = slot(I32, b.trunc(cols, I32))
    n = slot(I32, b.trunc(rows, I32))
    k = slot(I32, b.trunc(inner, I32))
    alpha = slot(c.elem, c.const(1.0) if sc is None else sc.alpha)
    beta = slot(c.elem, c.const(0.0) if sc is None else sc.beta)
    ldb_ = slot(I32, b.trunc(ldb, I32))
    lda_ = slot(I32, b.trunc(lda, I32))
    ldc = slot(I32, b.trunc(cols, I32))
    b.call(fptr, [transa, transb, m, n, k, alpha, B, ldb_, A, lda_, beta, out, ldc])
