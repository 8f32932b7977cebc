"""Build, derivation and compile time of an L-layer MLP, L = 1..256 (medians).

Each depth gets a fresh network (widths 3, 8, ..., 8, 2, tanh hidden layers,
softmax output, batch size symbolic) and each stage starts from nothing:
the disk cache is off (``SYMNET_CACHE_DIR=''``), SymPy's expression cache is
emptied before each stage, and the in-memory program and object caches before
each compile, so ``compile numpy`` and
``compile llvm`` both include the derivation, the passes and the schedule,
and ``compile llvm`` the LLVM optimisation and code generation of every run
(not only the first of a depth's repetitions).
"""

from __future__ import annotations

import os
import statistics
import time

os.environ["SYMNET_CACHE_DIR"] = ""  # before symnet reads its configuration

from sympy.core.cache import clear_cache  # noqa: E402

import symnet  # noqa: E402
from symnet import programs  # noqa: E402
from symnet.backends.llvm import jit  # noqa: E402
from symnet.nn import MLP  # noqa: E402

STAGES = ("build", "grad", "compile numpy", "compile llvm")
DEPTHS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _net(depth: int) -> MLP:
    return MLP([3] + [8] * (depth - 1) + [2], "tanh", output="softmax")


def stage_seconds(depth: int) -> dict[str, float]:
    """Seconds of each stage for one fresh depth-layer network."""
    out = {}
    # SymPy caches the expressions it builds (1000 by default): a stage
    # re-deriving what the one before it derived would find some of them
    # there, more of them the smaller the network.
    clear_cache()
    t0 = time.perf_counter()
    net = _net(depth)
    risk = net.risk(lam=1e-4)
    out["build"] = time.perf_counter() - t0
    clear_cache()
    t0 = time.perf_counter()
    symnet.grad(risk, net.params)
    out["grad"] = time.perf_counter() - t0
    inputs = [net.X, net.labels(), *net.params]
    for backend in ("numpy", "llvm"):
        programs._PROGRAMS.clear()
        jit._MEMORY.clear()
        jit._LOADED.clear()
        clear_cache()
        t0 = time.perf_counter()
        symnet.compile_grad(risk, net.params, inputs, backend=backend)
        out[f"compile {backend}"] = time.perf_counter() - t0
    return out


def repeats_for(depth: int, repeats: int) -> int:
    # The deep networks take tens of seconds per run; their spread is small
    # next to that, and the table says how many runs each row is.
    return repeats if depth <= 32 else max(1, min(repeats, 3 if depth <= 64 else 1))


def measure(depths=DEPTHS, repeats: int = 5) -> list[dict]:
    """One row per depth: its runs and the median seconds of each stage."""
    rows = []
    for d in depths:
        runs = [stage_seconds(d) for _ in range(repeats_for(d, repeats))]
        med = {s: statistics.median(r[s] for r in runs) for s in STAGES}
        rows.append({"layers": d, "runs": len(runs), "median": med,
                     "total": sum(med.values())})
        print(d, f"{rows[-1]['total']:.2f} s", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """The markdown table of :func:`measure`'s rows."""
    head = ["layers L", "runs", *[f"{s} s" for s in STAGES], "total s", "total s / L"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in rows:
        cells = [str(r["layers"]), str(r["runs"]), *[f"{r['median'][s]:.3f}" for s in STAGES],
                 f"{r['total']:.2f}", f"{r['total'] / r['layers']:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(measure()))
