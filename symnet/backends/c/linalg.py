"""C loops for dense linear algebra (solve, det, log det) and Kronecker products.

The same algorithms as the LLVM backend's: Gaussian elimination with
partial pivoting (largest remaining entry of the column, ties to the first)
on a row-major copy of A in the step's scratch, the right side eliminated
alongside, then back substitution; an exactly singular A gives non-finite
entries.
"""

from __future__ import annotations

from ...schedule import Step
from .body import literal

__all__ = ["kron_lines", "linalg_lines"]


def linalg_lines(s: Step, nm, shapes: dict, scratch: str, ind: str) -> list[str]:
    """One solve / det / logdet step (see the module docstring)."""
    T = nm.ctype
    f = "" if T == "double" else "f"
    n = nm.dim(shapes[s.args[0]][0])
    A, W, out = nm.ptr[s.args[0]], nm.ptr[scratch], nm.ptr[s.out]
    one, zero = literal(1.0, T), literal(0.0, T)
    o = [f"{ind}/* {s.out} = {s.op}({', '.join(s.args)}): Gaussian elimination, "
         "partial pivoting */",
         f"{ind}{{",
         f"{ind}    {T} acc = {one if s.op == 'det' else zero}, sign = {one};",
         f"{ind}    for (int64_t k = 0; k < {n} * {n}; ++k) {W}[k] = {A}[k];"]
    k = None
    if s.op == "solve":
        k = nm.dim(shapes[s.args[1]][1])
        o.append(f"{ind}    for (int64_t k = 0; k < {n} * {k}; ++k) {out}[k] = "
                 f"{nm.ptr[s.args[1]]}[k];")
    o += [f"{ind}    for (int64_t kk = 0; kk < {n}; ++kk) {{",
          f"{ind}        {T} best = fabs{f}({W}[kk * {n} + kk]);",
          f"{ind}        int64_t p = kk;",
          f"{ind}        for (int64_t r = kk + 1; r < {n}; ++r) {{",
          f"{ind}            const {T} v = fabs{f}({W}[r * {n} + kk]);",
          f"{ind}            if (v > best) {{ best = v; p = r; }}",
          f"{ind}        }}",
          f"{ind}        for (int64_t j = 0; j < {n}; ++j) {{",
          f"{ind}            const {T} t = {W}[kk * {n} + j];",
          f"{ind}            {W}[kk * {n} + j] = {W}[p * {n} + j];",
          f"{ind}            {W}[p * {n} + j] = t;",
          f"{ind}        }}"]
    if k is not None:
        o += [f"{ind}        for (int64_t j = 0; j < {k}; ++j) {{",
              f"{ind}            const {T} t = {out}[kk * {k} + j];",
              f"{ind}            {out}[kk * {k} + j] = {out}[p * {k} + j];",
              f"{ind}            {out}[p * {k} + j] = t;",
              f"{ind}        }}"]
    o.append(f"{ind}        const {T} piv = {W}[kk * {n} + kk];")
    flip = "(p != kk) != (piv < 0)" if s.op == "logdet" else "p != kk"
    o.append(f"{ind}        if ({flip}) sign = {zero} - sign;")
    if s.op == "det":
        o.append(f"{ind}        acc = acc * piv;")
    elif s.op == "logdet":
        o.append(f"{ind}        acc = acc + log{f}(fabs{f}(piv));")
    o += [f"{ind}        for (int64_t r = kk + 1; r < {n}; ++r) {{",
          f"{ind}            const {T} factor = {W}[r * {n} + kk] / piv;",
          f"{ind}            for (int64_t j = kk + 1; j < {n}; ++j)",
          f"{ind}                {W}[r * {n} + j] = {W}[r * {n} + j] - factor * {W}[kk * {n} + j];"]
    if k is not None:
        o += [f"{ind}            for (int64_t j = 0; j < {k}; ++j)",
              f"{ind}                {out}[r * {k} + j] = {out}[r * {k} + j] - factor * "
              f"{out}[kk * {k} + j];"]
    o += [f"{ind}        }}", f"{ind}    }}"]
    if s.op == "det":
        o.append(f"{ind}    {out}[0] = sign * acc;")
    elif s.op == "logdet":
        o.append(f"{ind}    {out}[0] = acc == -INFINITY ? acc : (sign < 0 ? NAN : acc);")
    else:
        o += [f"{ind}    /* back substitution, last row first */",
              f"{ind}    for (int64_t t = 0; t < {n}; ++t) {{",
              f"{ind}        const int64_t r = {n} - 1 - t;",
              f"{ind}        for (int64_t c = r + 1; c < {n}; ++c)",
              f"{ind}            for (int64_t j = 0; j < {k}; ++j)",
              f"{ind}                {out}[r * {k} + j] = {out}[r * {k} + j] - "
              f"{W}[r * {n} + c] * {out}[c * {k} + j];",
              f"{ind}        const {T} d = {W}[r * {n} + r];",
              f"{ind}        for (int64_t j = 0; j < {k}; ++j) {out}[r * {k} + j] = "
              f"{out}[r * {k} + j] / d;",
              f"{ind}    }}"]
    o.append(f"{ind}}}")
    return o


def kron_lines(s: Step, nm, shapes: dict, ind: str) -> list[str]:
    """kron: out[i p + k, j q + l] = A[i, j] B[k, l]; kron_adj_a / _b: the sums
    over (k, l) / (i, j) of G[i p + k, j q + l] times B[k, l] / A[i, j]."""
    def ints(shape):
        return int(shape[0]), int(shape[1])

    if s.op == "kron":
        (m, n), (p, q) = ints(shapes[s.args[0]]), ints(shapes[s.args[1]])
    elif s.op == "kron_adj_a":
        (m, n), (p, q) = ints(shapes[s.out]), ints(shapes[s.args[1]])
    else:
        (m, n), (p, q) = ints(shapes[s.args[1]]), ints(shapes[s.out])
    X, Y, out = nm.ptr[s.args[0]], nm.ptr[s.args[1]], nm.ptr[s.out]
    big = f"(i * {p} + k) * {n * q} + j * {q} + l"
    o = [f"{ind}/* {s.out} = {s.op}({', '.join(s.args)}) */"]
    if s.op != "kron":
        size = m * n if s.op == "kron_adj_a" else p * q
        o.append(f"{ind}for (int64_t z = 0; z < {size}; ++z) {out}[z] = "
                 f"{literal(0.0, nm.ctype)};")
    o += [f"{ind}for (int64_t i = 0; i < {m}; ++i)",
          f"{ind}    for (int64_t k = 0; k < {p}; ++k)",
          f"{ind}        for (int64_t j = 0; j < {n}; ++j)",
          f"{ind}            for (int64_t l = 0; l < {q}; ++l)"]
    if s.op == "kron":
        o.append(f"{ind}                {out}[{big}] = {X}[i * {n} + j] * {Y}[k * {q} + l];")
    elif s.op == "kron_adj_a":
        o.append(f"{ind}                {out}[i * {n} + j] += {X}[{big}] * {Y}[k * {q} + l];")
    else:
        o.append(f"{ind}                {out}[k * {q} + l] += {X}[{big}] * {Y}[i * {n} + j];")
    return o
