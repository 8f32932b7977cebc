"""Matrix times vector in explicit vectors, for products whose dimensions are known."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from .irutil import I32, I64, Ctx, Loop

if TYPE_CHECKING:  # matmul calls these: its Scale is only named here
    from .matmul import Scale

__all__ = ["COL_VECTORS", "dot_cols_vector", "dot_rows_vector"]


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


def dot_rows_vector(c: Ctx, A, B, out, rows, inner, sc: Scale | None) -> bool:
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


def dot_cols_vector(c: Ctx, A, B, out, rows, inner, sc: Scale | None) -> bool:
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
