"""Per-op kernels: loop groups, constants, identities, transposes, reductions, column ops."""

from __future__ import annotations

import sympy as sp
from llvmlite import ir

from ... import registry
from ...errors import UnsupportedError
from ...graph import VARS
from ...lower import Group
from ...schedule import Step
from .irutil import I64, Ctx, Loop, index, row_blocks
from .scalar import BodyEmitter, Builder

__all__ = ["emit_column", "emit_const", "emit_group", "emit_leaf", "emit_reduce",
           "emit_transpose"]


def emit_group(c: Ctx, ptr: dict, g: Group, shapes: dict, inplace: dict) -> None:
    """One loop nest computing every step of the group; stores what is needed
    (a value in ``inplace`` overwrites the buffer it names, entry by entry)."""
    if g.dot_next is not None:
        _emit_group_dot(c, ptr, g, shapes, inplace)
        return
    R, C = shapes[g.steps[0].out]
    rows, cols = c.dim(R), c.dim(C)
    outer = Loop(c.b, rows, "i") if R != 1 else None
    i = outer.index if outer else I64(0)
    inner = Loop(c.b, cols, "j") if C != 1 else None
    j = inner.index if inner else I64(0)
    _entry(c, ptr, g, shapes, inplace, i, j)
    if inner:
        inner.close()
    if outer:
        outer.close()


def _entry(c: Ctx, ptr: dict, g: Group, shapes: dict, inplace: dict, i: ir.Value,
           j: ir.Value) -> dict[str, ir.Value]:
    """Every step's value at entry (i, j) of the group, the stored ones stored."""
    R, C = shapes[g.steps[0].out]
    cols = c.dim(C)
    values: dict[str, ir.Value] = {}
    for s in g.steps:
        env = {}
        for k, a in enumerate(s.args):
            if a in values:
                env[VARS[k]] = values[a]
            else:
                shape = s.views[k] if s.views and s.views[k] is not None else shapes[a]
                env[VARS[k]] = c.load(ptr[a], index(c, shape, i, j, c.dim(shape[1])))
        reps, (red,) = sp.cse([s.attr], symbols=sp.numbered_symbols("_c"), optimizations=None,
                              order="canonical")
        em = BodyEmitter(c, env)
        for sym, val in reps:
            env[sym] = em(val)
        values[s.out] = em(red)
        if s.out in g.stores:
            target = ptr[inplace.get(s.out, s.out)]
            c.store(values[s.out], target, index(c, (R, C), i, j, cols))
    return values


def _emit_group_dot(c: Ctx, ptr: dict, g: Group, shapes: dict, inplace: dict) -> None:
    """A loop group that also takes each row of one of its values times a
    vector (``g.dot_next``, see lower.pipeline): out[i] = sum_j value[i, j] v[j].

    Rows go irutil.ROW_BLOCK at a time, each with its own accumulator: one chain
    would wait on the adder's latency at every step of j. The sums are
    reassociated, so they vectorize over j like a product's dot rows.
    """
    b = c.b
    value, vector, out = g.dot_next
    R, C = shapes[g.steps[0].out]
    if C == 1:
        raise ValueError(f"group {g.steps[0].out}: a row dot product needs a loop over columns")
    rows, cols = c.dim(R), c.dim(C)

    def block(row_idx: list) -> None:
        inner = Loop(b, cols, "j")
        accs = [inner.carry(c.const(0.0), f"dot{k}") for k in range(len(row_idx))]
        vj = c.load(ptr[vector], inner.index)
        nxt = {}
        for acc, i in zip(accs, row_idx, strict=True):
            values = _entry(c, ptr, g, shapes, inplace, i, inner.index)
            nxt[acc] = b.fadd(acc, c.fmul(values[value], vj), flags=("contract", "reassoc"))
        inner.close(nxt)
        for acc, i in zip(accs, row_idx, strict=True):
            c.store(acc, ptr[out], i)

    row_blocks(b, rows, block)


def emit_const(c: Ctx, ptr: dict, s: Step, shapes: dict) -> None:
    R, C = shapes[s.out]
    n = c.b.mul(c.dim(R), c.dim(C))
    val = BodyEmitter(c, {})(sp.sympify(s.attr))
    loop = Loop(c.b, n, "k")
    c.store(val, ptr[s.out], loop.index)
    loop.close()


def emit_leaf(c: Ctx, ptr: dict, s: Step, shapes: dict) -> None:
    if not isinstance(s.attr, sp.Identity):
        raise UnsupportedError(f"llvm backend: leaf {s.attr} is not an input")
    R, C = shapes[s.out]
    rows, cols = c.dim(R), c.dim(C)
    li = Loop(c.b, rows, "i")
    lj = Loop(c.b, cols, "j")
    b = c.b
    eq = b.icmp_signed("==", li.index, lj.index)
    val = b.select(eq, c.const(1.0), c.const(0.0))
    c.store(val, ptr[s.out], b.add(b.mul(li.index, cols), lj.index))
    lj.close()
    li.close()


def emit_transpose(c: Ctx, ptr: dict, s: Step, shapes: dict) -> None:
    R, C = shapes[s.out]
    rows, cols = c.dim(R), c.dim(C)
    b = c.b
    li = Loop(b, rows, "i")
    lj = Loop(b, cols, "j")
    v = c.load(ptr[s.args[0]], b.add(b.mul(lj.index, rows), li.index))
    c.store(v, ptr[s.out], b.add(b.mul(li.index, cols), lj.index))
    lj.close()
    li.close()


def emit_reduce(c: Ctx, ptr: dict, s: Step, shapes: dict) -> None:
    (a,) = s.args
    R, C = shapes[a]
    rows, cols = c.dim(R), c.dim(C)
    b = c.b
    src, dst = ptr[a], ptr[s.out]
    zero = c.const(0.0)
    red = ("contract", "reassoc")
    if s.attr == 0:  # column sums: accumulate rows into the output row (vectorizes over j)
        lj = Loop(b, cols, "j0")
        c.store(zero, dst, lj.index)
        lj.close()
        li = Loop(b, rows, "i")
        lj = Loop(b, cols, "j")
        acc = b.fadd(c.load(dst, lj.index), c.load(src, b.add(b.mul(li.index, cols), lj.index)))
        c.store(acc, dst, lj.index)
        lj.close()
        li.close()
        return
    if s.attr == 1:
        li = Loop(b, rows, "i")
        total = _sum_loop(c, src, b.mul(li.index, cols), cols, red)
        c.store(total, dst, li.index)
        li.close()
        return
    total = _sum_loop(c, src, I64(0), b.mul(rows, cols), red)
    c.store(total, dst, I64(0))


def _sum_loop(c: Ctx, src, start, n, flags) -> ir.Value:
    b = c.b
    loop = Loop(b, n, "k")
    acc = loop.carry(c.const(0.0), "acc")
    nxt = b.fadd(acc, c.load(src, b.add(start, loop.index)), flags=flags)
    loop.close({acc: nxt})
    return acc


def emit_column(c: Ctx, ptr: dict, s: Step, shapes: dict, scratch: str) -> None:
    """A column op (its registry row) of each column, with a max shift.

    Row-major layout: loop rows outside and columns inside so every pass is
    a contiguous, vectorizable sweep; per-column max and sum live in scratch.
    """
    row = registry.column_row(s.op)
    (a,) = s.args
    R, C = shapes[a]
    rows, cols = c.dim(R), c.dim(C)
    b = c.b
    z, out = ptr[a], ptr[s.out]
    if isinstance(cols, ir.Constant) and cols.constant == 1:
        _emit_one_column(c, row, z, out, rows)
        return
    mx = ptr[scratch]
    sm = b.gep(mx, [cols], inbounds=True, source_etype=c.elem)
    ninf = c.const(float("-inf"))
    lj = Loop(b, cols, "j0")
    c.store(ninf, mx, lj.index)
    c.store(c.const(0.0), sm, lj.index)
    lj.close()
    li = Loop(b, rows, "i1")
    lj = Loop(b, cols, "j1")
    v = c.load(z, b.add(b.mul(li.index, cols), lj.index))
    m = c.load(mx, lj.index)
    c.store(c.select(">", v, m, v, m), mx, lj.index)
    lj.close()
    li.close()
    # A column of -inf (or +inf) would give inf - inf: shift by 0 instead.
    lj = Loop(b, cols, "j2")
    m = c.load(mx, lj.index)
    fin = b.fcmp_ordered("<", b.call(c.intrinsic("fabs"), [m]), c.const(float("inf")))
    c.store(b.select(fin, m, c.const(0.0)), mx, lj.index)
    lj.close()
    li = Loop(b, rows, "i3")
    lj = Loop(b, cols, "j3")
    idx = b.add(b.mul(li.index, cols), lj.index)
    e = c.math("exp", c.fsub(c.load(z, idx), c.load(mx, lj.index)))
    c.store(c.fadd(c.load(sm, lj.index), e), sm, lj.index)
    if row.keeps_exp:
        c.store(e, out, idx)
    lj.close()
    li.close()
    fb = Builder(c)
    if row.reduces:
        lj = Loop(b, cols, "j4")
        j = lj.index
        c.store(row.finish(fb, None, None, lambda: c.load(mx, j), lambda: c.load(sm, j)),
                out, j)
        lj.close()
        return
    li = Loop(b, rows, "i5")
    lj = Loop(b, cols, "j5")
    j = lj.index
    idx = b.add(b.mul(li.index, cols), j)
    val = row.finish(fb, lambda: c.load(z, idx), lambda: c.load(out, idx),
                     lambda: c.load(mx, j), lambda: c.load(sm, j))
    c.store(val, out, idx)
    lj.close()
    li.close()


def _emit_one_column(c: Ctx, row: registry.ColumnOp, z, out, rows) -> None:
    """The column op of a single column (one sample): max and sum are loop
    carries rather than scratch rows, so the exp pass vectorizes over rows."""
    b = c.b
    lm = Loop(b, rows, "i1")
    m = lm.carry(c.const(float("-inf")), "mx")
    v = c.load(z, lm.index)
    lm.close({m: c.select(">", v, m, v, m)})
    # A column of -inf (or +inf) would give inf - inf: shift by 0 instead.
    fin = b.fcmp_ordered("<", b.call(c.intrinsic("fabs"), [m]), c.const(float("inf")))
    shift = b.select(fin, m, c.const(0.0))
    le = Loop(b, rows, "i3")
    acc = le.carry(c.const(0.0), "sum")
    e = c.math("exp", c.fsub(c.load(z, le.index), shift))
    if row.keeps_exp:
        c.store(e, out, le.index)
    le.close({acc: b.fadd(acc, e, flags=("reassoc",))})
    fb = Builder(c)
    if row.reduces:
        c.store(row.finish(fb, None, None, lambda: shift, lambda: acc), out, I64(0))
        return
    lo = Loop(b, rows, "i5")
    i = lo.index
    val = row.finish(fb, lambda: c.load(z, i), lambda: c.load(out, i), lambda: shift,
                     lambda: acc)
    c.store(val, out, i)
    lo.close()
