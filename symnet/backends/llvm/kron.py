"""The Kronecker product and its factors' adjoints as loop nests (shapes are concrete)."""

from __future__ import annotations

from ...schedule import Step
from .irutil import I64, Ctx, Loop

__all__ = ["emit_kron"]


def _ints(shape) -> tuple[int, int]:
    return int(shape[0]), int(shape[1])


def emit_kron(c: Ctx, ptr: dict, s: Step, shapes: dict) -> None:
    """kron: out[i p + k, j q + l] = A[i, j] B[k, l]. kron_adj_a / _b: the sums
    over (k, l) / (i, j) of G[i p + k, j q + l] times B[k, l] / A[i, j]."""
    b = c.b
    if s.op == "kron":
        (m, n), (p, q) = _ints(shapes[s.args[0]]), _ints(shapes[s.args[1]])
        A, B = ptr[s.args[0]], ptr[s.args[1]]
    elif s.op == "kron_adj_a":
        (m, n), (p, q) = _ints(shapes[s.out]), _ints(shapes[s.args[1]])
        G, M = ptr[s.args[0]], ptr[s.args[1]]
    else:
        (m, n), (p, q) = _ints(shapes[s.args[1]]), _ints(shapes[s.out])
        G, M = ptr[s.args[0]], ptr[s.args[1]]
    out = ptr[s.out]
    cols = n * q

    def at(r, cc, width):
        return b.add(b.mul(r, I64(width), flags=["nsw"]), cc, flags=["nsw"])

    if s.op != "kron":
        size = m * n if s.op == "kron_adj_a" else p * q
        zero = Loop(b, I64(size), "z")
        c.store(c.const(0.0), out, zero.index)
        zero.close()
    li = Loop(b, I64(m), "i")
    lk = Loop(b, I64(p), "k")
    lj = Loop(b, I64(n), "j")
    ll = Loop(b, I64(q), "l")
    i, k, j, l_ = li.index, lk.index, lj.index, ll.index
    row = b.add(b.mul(i, I64(p), flags=["nsw"]), k, flags=["nsw"])
    col = b.add(b.mul(j, I64(q), flags=["nsw"]), l_, flags=["nsw"])
    big = at(row, col, cols)
    if s.op == "kron":
        c.store(c.fmul(c.load(A, at(i, j, n)), c.load(B, at(k, l_, q))), out, big)
    else:
        # The inner index l runs over contiguous entries of G.
        g = c.load(G, big)
        if s.op == "kron_adj_a":
            dst, src = at(i, j, n), at(k, l_, q)
        else:
            dst, src = at(k, l_, q), at(i, j, n)
        c.store(c.fadd(c.load(out, dst), c.fmul(g, c.load(M, src))), out, dst)
    ll.close()
    lj.close()
    lk.close()
    li.close()
