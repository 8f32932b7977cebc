"""Where BLAS beats symnet's own matrix-product loops (the default of SYMNET_BLAS_THRESHOLD)."""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import sympy as sp

import symnet


def _kernel(threshold: int):
    n, k, m = sp.symbols("n k m", integer=True, positive=True)
    A, B = sp.MatrixSymbol("A", n, k), sp.MatrixSymbol("B", k, m)
    old = os.environ.get("SYMNET_BLAS_THRESHOLD")
    os.environ["SYMNET_BLAS_THRESHOLD"] = str(threshold)
    try:
        return symnet.compile([A * B], [A, B], backend="llvm")
    finally:
        if old is None:
            del os.environ["SYMNET_BLAS_THRESHOLD"]
        else:
            os.environ["SYMNET_BLAS_THRESHOLD"] = old


def _time(f, *args, repeats: int = 7) -> float:
    f(*args)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(20):
            f(*args)
        ts.append((time.perf_counter() - t) / 20)
    return statistics.median(ts)


def table(sizes=(4, 8, 16, 24, 32, 48, 64, 96, 128)) -> str:
    loops, blas = _kernel(1 << 62), _kernel(0)
    rng = np.random.default_rng(0)
    rows = ["| n (n x n times n x n) | loops µs | BLAS µs | loops / BLAS |",
            "|---:|---:|---:|---:|"]
    for s in sizes:
        a, b = rng.standard_normal((s, s)), rng.standard_normal((s, s))
        tl, tb = _time(loops, a, b), _time(blas, a, b)
        rows.append(f"| {s} | {tl * 1e6:.1f} | {tb * 1e6:.1f} | {tl / tb:.2f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
