"""Matrix products: register-blocked loops for small ones, BLAS through a global pointer."""

from __future__ import annotations

from llvmlite import ir

from ...graph import VARS
from ...lower import PRODUCT_VERSIONS, Fold, product_dims, product_versions
from ...schedule import Step
from .irutil import I8, I32, I64, PTR, Ctx, Loop
from .scalar import BodyEmitter

__all__ = ["ROW_BLOCK", "Scale", "emit_matmul", "gemm_slot"]


class Scale:
    """alpha and beta of an update, as IR values."""

    def __init__(self, alpha: ir.Value, beta: ir.Value):
        self.alpha, self.beta = alpha, beta

    def apply(self, c: Ctx, acc: ir.Value, old: ir.Value) -> ir.Value:
        return c.fadd(c.fmul(self.beta, old), c.fmul(self.alpha, acc))



#: Rows of the output a product's inner loop updates together.
ROW_BLOCK = 4


def _emit_ipj(c: Ctx, A, B, out, ta: bool, rows, cols, inner, sc: Scale | None = None) -> None:
    """out = op(A) B by i, p, j, vectorized over j and register-blocked over i:
    ROW_BLOCK entries of op(A) stay in registers and every vector of B's row
    p that is loaded feeds ROW_BLOCK rows of the output."""
    b = c.b
    blocks = b.sdiv(rows, I64(ROW_BLOCK))
    lb = Loop(b, blocks, "ib")
    i0 = b.mul(lb.index, I64(ROW_BLOCK))
    rows_i = [b.add(i0, I64(r)) for r in range(ROW_BLOCK)]
    _ipj_rows(c, A, B, out, ta, rows_i, rows, cols, inner, sc)
    lb.close()
    # The rows left over after the blocks, one at a time.
    lr = Loop(b, rows, "ir", start=b.mul(blocks, I64(ROW_BLOCK)))
    _ipj_rows(c, A, B, out, ta, [lr.index], rows, cols, inner, sc)
    lr.close()


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
    if ta and _dot_cols_vector(c, A, B, out, rows, inner, sc):
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

    if _dot_rows_vector(c, A, B, out, rows, inner, sc):
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

    blocks = b.sdiv(rows, I64(ROW_BLOCK))
    lb = Loop(b, blocks, "ib")
    i0 = b.mul(lb.index, I64(ROW_BLOCK))
    block([b.add(i0, I64(r)) for r in range(ROW_BLOCK)])
    lb.close()
    lr = Loop(b, rows, "ir", start=b.mul(blocks, I64(ROW_BLOCK)))
    block([lr.index])
    lr.close()


def _transpose_sums(c: Ctx, accs: list[ir.Value]) -> ir.Value:
    """One vector of the lane sums of ``accs`` (as many vectors as lanes): the
    sum of ``accs[r]`` in lane r.

    log2(lanes) levels of shuffles and adds, each halving the vectors: at
    half-width h, lanes are grouped by 2h and a pair (X, Y) becomes
    (X[g:g+h], Y[g:g+h]) + (X[g+h:g+2h], Y[g+h:g+2h]) per group g. That is
    lanes - 1 adds for all rows, where reducing each row alone costs log2(lanes)
    extracts and adds per row.
    """
    b = c.b
    lanes = len(accs)
    h = 1
    while len(accs) > 1:
        lo, hi = [], []
        for g in range(0, lanes, 2 * h):
            lo += [g + t for t in range(h)] + [lanes + g + t for t in range(h)]
            hi += [g + h + t for t in range(h)] + [lanes + g + h + t for t in range(h)]
        lo_mask = ir.Constant(ir.VectorType(I32, lanes), lo)
        hi_mask = ir.Constant(ir.VectorType(I32, lanes), hi)
        accs = [b.fadd(b.shuffle_vector(x, y, lo_mask), b.shuffle_vector(x, y, hi_mask),
                       flags=c.fm)
                for x, y in zip(accs[0::2], accs[1::2], strict=True)]
        h *= 2
    return accs[0]


def _dot_rows_vector(c: Ctx, A, B, out, rows, inner, sc: Scale | None) -> bool:
    """out = A B for a column B, in explicit vectors when both dims are known
    and ``inner`` is a multiple of the lanes: a block of one row per lane keeps
    one accumulator vector per row, every vector of B loaded once per block,
    and the block's sums come out as one vector (:func:`_transpose_sums`)
    stored whole. The rows left after the blocks go the scalar way. Returns
    False (nothing emitted) when it does not apply."""
    lanes = c.lanes
    if not (isinstance(rows, ir.Constant) and isinstance(inner, ir.Constant)):
        return False
    n_rows, n_inner = int(rows.constant), int(inner.constant)
    if lanes < 2 or n_rows < lanes or n_inner % lanes or n_inner == 0:
        return False
    b = c.b
    vec = ir.VectorType(c.elem, lanes)
    zero = ir.Constant(vec, [0.0] * lanes)

    def vload(ptr, idx):
        return b.load(b.gep(ptr, [idx], inbounds=True, source_etype=c.elem), typ=vec,
                      align=c.align)

    blocks = n_rows // lanes
    lb = Loop(b, I64(blocks), "vb")
    i0 = b.mul(lb.index, I64(lanes), flags=["nuw"])
    lp = Loop(b, I64(n_inner // lanes), "vp")
    accs = [lp.carry(zero, f"vacc{r}") for r in range(lanes)]
    p0 = b.mul(lp.index, I64(lanes), flags=["nuw"])
    bv = vload(B, p0)
    nxt = {}
    for r, acc in enumerate(accs):
        row = b.mul(b.add(i0, I64(r), flags=["nuw"]), I64(n_inner), flags=["nuw"])
        av = vload(A, b.add(row, p0, flags=["nuw"]))
        nxt[acc] = c.fadd(acc, c.fmul(av, bv))
    lp.close(nxt)
    sums = _transpose_sums(c, list(accs))
    dst = b.gep(out, [i0], inbounds=True, source_etype=c.elem)
    if sc is not None:
        old = b.load(dst, typ=vec, align=c.align)
        splat = [b.insert_element(ir.Constant(vec, ir.Undefined), v, I32(0)) for v in
                 (sc.beta, sc.alpha)]
        mask = ir.Constant(ir.VectorType(I32, lanes), [0] * lanes)
        beta, alpha = (b.shuffle_vector(v, ir.Constant(vec, ir.Undefined), mask)
                       for v in splat)
        sums = c.fadd(c.fmul(beta, old), c.fmul(alpha, sums))
    b.store(sums, dst, align=c.align)
    lb.close()
    for i in range(blocks * lanes, n_rows):
        lp = Loop(b, inner, "pr")
        acc = lp.carry(c.const(0.0), "racc")
        nxt_acc = b.fadd(acc, c.fmul(c.load(A, b.add(I64(i * n_inner), lp.index)),
                                     c.load(B, lp.index)), flags=("contract", "reassoc"))
        lp.close({acc: nxt_acc})
        c.store(acc if sc is None else sc.apply(c, acc, c.load(out, I64(i))), out, I64(i))
    return True


#: Accumulator vectors one pass of :func:`_dot_cols_vector` keeps in registers.
COL_VECTORS = 8


def _dot_cols_vector(c: Ctx, A, B, out, rows, inner, sc: Scale | None) -> bool:
    """out = A^T B for a column B, in explicit vectors when both dims are known
    and ``rows`` (A's columns) is a multiple of the lanes: out's vectors stay
    in registers while p runs (the loop form adds into memory, one store
    forwarding latency per p), up to :data:`COL_VECTORS` of them per pass.
    Sums in the same order as the loop form (p ascending). Returns False
    (nothing emitted) when it does not apply."""
    lanes = c.lanes
    if not (isinstance(rows, ir.Constant) and isinstance(inner, ir.Constant)):
        return False
    n_rows, n_inner = int(rows.constant), int(inner.constant)
    if lanes < 2 or n_rows % lanes or n_rows == 0 or n_inner == 0:
        return False
    b = c.b
    vec = ir.VectorType(c.elem, lanes)
    zero = ir.Constant(vec, [0.0] * lanes)
    mask = ir.Constant(ir.VectorType(I32, lanes), [0] * lanes)

    def splat(v: ir.Value) -> ir.Value:
        one = b.insert_element(ir.Constant(vec, ir.Undefined), v, I32(0))
        return b.shuffle_vector(one, ir.Constant(vec, ir.Undefined), mask)

    def at(k: int) -> ir.Value:
        return b.gep(out, [I64(k * lanes)], inbounds=True, source_etype=c.elem)

    total = n_rows // lanes
    for first in range(0, total, COL_VECTORS):
        count = min(COL_VECTORS, total - first)
        # beta out first, then alpha B[p] A[p, :] added p by p: the loop form's order.
        inits = [zero if sc is None else
                 c.fmul(splat(sc.beta), b.load(at(first + v), typ=vec, align=c.align))
                 for v in range(count)]
        lp = Loop(b, I64(n_inner), "cp")
        accs = [lp.carry(init, f"cacc{v}") for v, init in enumerate(inits)]
        bval = c.load(B, lp.index)
        bp = splat(bval if sc is None else c.fmul(sc.alpha, bval))
        row = b.mul(lp.index, I64(n_rows), flags=["nuw"])
        nxt = {}
        for v, acc in enumerate(accs):
            idx = b.add(row, I64((first + v) * lanes), flags=["nuw"])
            av = b.load(b.gep(A, [idx], inbounds=True, source_etype=c.elem), typ=vec,
                        align=c.align)
            nxt[acc] = c.fadd(acc, c.fmul(av, bp))
        lp.close(nxt)
        for v, acc in enumerate(accs):
            b.store(acc, at(first + v), align=c.align)
    return True


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
#: elementwise loop ~1): the three versions of op(A) B ~300 lines of IR, the dot
#: products of A op(B)^T ~90.
_ROUTINE_COST = {False: 10.0, True: 3.5}


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
    body = Ctx(c.module, ir.IRBuilder(fn.append_basic_block("entry")), c.elem, {},
               owner=c.owner, shared=c.shared, vector_bits=c.vector_bits)
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
