"""Derivation time of an L-layer MLP's gradient, L = 1..16 (median of repeats)."""

from __future__ import annotations

import statistics
import time

import sympy as sp

import symnet
from symnet.nn import MLP


def derive_seconds(depth: int, repeats: int = 5) -> tuple[float, float, float]:
    """(median, min, max) seconds of symnet.grad for a depth-layer logistic MLP."""
    sizes = [sp.Symbol(f"n{i}", integer=True, positive=True) for i in range(depth + 1)]
    times = []
    for _ in range(repeats):
        net = MLP(sizes, "logistic", output="softmax")
        R = net.risk()
        t0 = time.perf_counter()
        symnet.grad(R, net.params)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times)


def table(depths=(1, 2, 4, 8, 12, 16), repeats: int = 5) -> str:
    rows = ["| layers L | median s | min s | max s | median s / L |", "|---:|---:|---:|---:|---:|"]
    for d in depths:
        med, lo, hi = derive_seconds(d, repeats)
        rows.append(f"| {d} | {med:.3f} | {lo:.3f} | {hi:.3f} | {med / d:.4f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
