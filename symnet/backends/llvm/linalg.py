"""Dense linear algebra in IR: solve (A^-1 B), det and log det by Gaussian elimination.

Partial pivoting (the largest remaining entry of the column, ties to the
first), on a row-major n x n copy of A in the step's scratch, with the right
side eliminated alongside ([A | B]) and a back substitution after: the
algorithm of LAPACK's ?gesv, without blocking -- the matrices of the models
symnet compiles are small. An exactly singular A gives non-finite entries
(the NumPy backend raises LinAlgError instead).
"""

from __future__ import annotations

from llvmlite import ir

from ...schedule import Step
from .irutil import I64, Ctx, Loop

__all__ = ["emit_linalg"]


def _at(c: Ctx, p, row, cols, col) -> ir.Value:
    return c.b.add(c.b.mul(row, cols, flags=["nsw"]), col, flags=["nsw"])


def _copy(c: Ctx, src, dst, count: ir.Value, name: str) -> None:
    loop = Loop(c.b, count, name)
    c.store(c.load(src, loop.index), dst, loop.index)
    loop.close()


def _swap_rows(c: Ctx, p, r1, r2, cols: ir.Value, name: str) -> None:
    loop = Loop(c.b, cols, name)
    i1, i2 = _at(c, p, r1, cols, loop.index), _at(c, p, r2, cols, loop.index)
    v1, v2 = c.load(p, i1), c.load(p, i2)
    c.store(v2, p, i1)
    c.store(v1, p, i2)
    loop.close()


def _axpy_row(c: Ctx, p, dst_row, src_row, factor, cols: ir.Value, start, name: str) -> None:
    """p[dst_row, j] -= factor * p[src_row, j] for j >= start."""
    loop = Loop(c.b, cols, name, start=start)
    di, si = _at(c, p, dst_row, cols, loop.index), _at(c, p, src_row, cols, loop.index)
    c.store(c.fsub(c.load(p, di), c.fmul(factor, c.load(p, si))), p, di)
    loop.close()


def emit_linalg(c: Ctx, ptr: dict, s: Step, shapes: dict, scratch: str) -> None:
    """One solve / det / logdet step (see the module docstring)."""
    b = c.b
    n_sym = shapes[s.args[0]][0]
    n = c.dim(n_sym)
    A, W = ptr[s.args[0]], ptr[scratch]
    fabs = c.intrinsic("fabs")
    # Loop-carried scalars live in stack slots (promoted to registers by
    # mem2reg); the builder is still in the function's entry block here.
    best_s, piv_s = b.alloca(c.elem, name="best"), b.alloca(I64, name="p")
    acc_s, sign_s = b.alloca(c.elem, name="acc"), b.alloca(c.elem, name="sign")
    b.store(c.const(1.0 if s.op == "det" else 0.0), acc_s)
    b.store(c.const(1.0), sign_s)
    _copy(c, A, W, b.mul(n, n), "cp")
    X = k = None
    if s.op == "solve":
        X, k = ptr[s.out], c.dim(shapes[s.args[1]][1])
        _copy(c, ptr[s.args[1]], X, b.mul(n, k), "cpb")

    lk = Loop(b, n, "kk")
    kk = lk.index
    kk1 = b.add(kk, I64(1), flags=["nsw"])
    b.store(b.call(fabs, [c.load(W, _at(c, W, kk, n, kk))]), best_s)
    b.store(kk, piv_s)
    li = Loop(b, n, "pv", start=kk1)
    v = b.call(fabs, [c.load(W, _at(c, W, li.index, n, kk))])
    better = b.fcmp_ordered(">", v, b.load(best_s))
    b.store(b.select(better, v, b.load(best_s)), best_s)
    b.store(b.select(better, li.index, b.load(piv_s)), piv_s)
    li.close()
    p = b.load(piv_s)
    _swap_rows(c, W, kk, p, n, "sw")
    if X is not None:
        _swap_rows(c, X, kk, p, k, "swb")
    swapped = b.icmp_signed("!=", p, kk)
    piv = c.load(W, _at(c, W, kk, n, kk))
    neg = b.fcmp_ordered("<", piv, c.const(0.0))
    flip = b.xor(swapped, neg) if s.op == "logdet" else swapped
    b.store(b.select(flip, c.fsub(c.const(0.0), b.load(sign_s)), b.load(sign_s)), sign_s)
    if s.op == "det":
        b.store(c.fmul(b.load(acc_s), piv), acc_s)
    elif s.op == "logdet":
        b.store(c.fadd(b.load(acc_s), c.math("log", b.call(fabs, [piv]))), acc_s)
    le = Loop(b, n, "el", start=kk1)
    factor = c.fdiv(c.load(W, _at(c, W, le.index, n, kk)), piv)
    _axpy_row(c, W, le.index, kk, factor, n, kk1, "ej")
    if X is not None:
        _axpy_row(c, X, le.index, kk, factor, k, I64(0), "ejb")
    le.close()
    lk.close()

    if s.op == "det":
        c.store(c.fmul(b.load(sign_s), b.load(acc_s)), ptr[s.out], I64(0))
    elif s.op == "logdet":
        total = b.load(acc_s)
        nan = c.const(float("nan"))
        minus_inf = b.fcmp_ordered("==", total, c.const(float("-inf")))
        negative = b.fcmp_ordered("<", b.load(sign_s), c.const(0.0))
        c.store(b.select(minus_inf, total, b.select(negative, nan, total)), ptr[s.out], I64(0))
    else:
        # Back substitution, last row first: X[r] = (X[r] - sum_j>r W[r, j] X[j]) / W[r, r].
        lt = Loop(b, n, "bs")
        r = b.sub(b.sub(n, I64(1)), lt.index)
        r1 = b.add(r, I64(1), flags=["nsw"])
        lj = Loop(b, n, "bj", start=r1)
        _axpy_row(c, X, r, lj.index, c.load(W, _at(c, W, r, n, lj.index)), k, I64(0), "bc")
        lj.close()
        d = c.load(W, _at(c, W, r, n, r))
        lc = Loop(b, k, "dv")
        xi = _at(c, X, r, k, lc.index)
        c.store(c.fdiv(c.load(X, xi), d), X, xi)
        lc.close()
        lt.close()
