"""Shared benchmark harness: peers, timing, agreement checks and Markdown tables.

A workload is a list of :class:`Peer` entries. Each peer runs the same
math on the same data from the same initial parameters; it is timed with
:func:`repeat` (a warm-up, then repeated timed runs) and its result is
compared with symnet's. A peer whose package is missing is recorded as
``skipped (not installed)``; one that raises is recorded as ``failed`` with
the error, and the workload goes on.
"""

from __future__ import annotations

import importlib
import json
import math
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Peer packages that may be missing (the ``bench`` extra of pyproject.toml).
OPTIONAL = ("torch", "jax", "numba", "pytensor", "symengine")

SKIPPED = "skipped (not installed)"


def available(module: str) -> bool:
    """True if ``module`` imports (a peer needing it is skipped otherwise)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


@dataclass
class Peer:
    """One implementation in a workload and what it measured.

    ``times`` are the timed repetitions in seconds (warm-up excluded);
    ``status`` is ``ok``, ``skipped (...)`` or ``failed: ...``; ``agree``
    describes the comparison with symnet's result and ``agrees`` its verdict
    (None when not checked); ``extra`` holds workload columns (accuracy,
    GFLOP/s, ...).
    """

    name: str
    times: list[float] = field(default_factory=list)
    status: str = "ok"
    note: str = ""
    agree: str = ""
    agrees: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    result: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else math.nan

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("result")
        return d


def run_peer(name: str, requires: Sequence[str], body: Callable[[Peer], None],
             note: str = "") -> Peer:
    """Run ``body(peer)`` unless a required module is missing; catch its errors."""
    peer = Peer(name, note=note)
    missing = [m for m in requires if not available(m)]
    if missing:
        peer.status = f"{SKIPPED}: {', '.join(missing)}"
        print(f"  {name}: {peer.status}", flush=True)
        return peer
    print(f"  {name} ...", end="", flush=True)
    try:
        body(peer)
    except Exception as exc:  # a broken peer must not stop the suite
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        peer.status = f"failed: {type(exc).__name__}: {first[:200]}"
        peer.times = []
        traceback.print_exc()
    if peer.ok:
        print(f" median {fmt_time(peer.median)} over {len(peer.times)} runs"
              f"{' ' + peer.agree if peer.agree else ''}", flush=True)
    else:
        print(f" {peer.status}", flush=True)
    return peer


def repeat(fn: Callable[[], Any], reps: int, warmup: int = 1) -> tuple[list[float], Any]:
    """Call ``fn`` ``warmup`` times untimed, then ``reps`` times timed.

    Returns the timed durations (seconds) and the last return value.
    """
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# ------------------------------------------------------------------ formatting


def fmt_time(s: float) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    if s >= 1.0:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def fmt_ratio(r: float) -> str:
    if r is None or not math.isfinite(r):
        return "-"
    return f"{r:.2f}x" if r < 100 else f"{r:.0f}x"


def table(peers: Sequence[Peer], reference: Peer | None, extra_cols: Sequence[str] = (),
          ratio_label: str = "ratio to symnet") -> str:
    """Markdown table: peer, median, min-max, ratio to the reference, extras, agreement.

    The ratio is peer median / reference median: above 1 the peer is slower.
    """
    head = ["peer", "median", "min-max", ratio_label, *extra_cols, "agreement with symnet"]
    rows = ["| " + " | ".join(head) + " |",
            "|" + "|".join(["---"] + ["---:"] * (3 + len(extra_cols)) + ["---"]) + "|"]
    ref = reference.median if reference is not None and reference.ok else math.nan
    for p in peers:
        if p.ok:
            cells = [fmt_time(p.median), f"{fmt_time(min(p.times))} - {fmt_time(max(p.times))}",
                     fmt_ratio(p.median / ref) if math.isfinite(ref) else "-"]
        else:
            cells = [p.status, "", ""]
        cells += [str(p.extra.get(c, "")) for c in extra_cols]
        name = p.name + (f" ({p.note})" if p.note else "")
        rows.append("| " + " | ".join([name, *cells, p.agree or "-"]) + " |")
    return "\n".join(rows)


def find(peers: Sequence[Peer], name: str) -> Peer | None:
    for p in peers:
        if p.name == name:
            return p
    return None


def best(peers: Sequence[Peer], exclude_prefix: str = "symnet") -> Peer | None:
    """The fastest successful peer whose name does not start with ``exclude_prefix``."""
    cands = [p for p in peers if p.ok and not p.name.startswith(exclude_prefix)]
    return min(cands, key=lambda p: p.median) if cands else None


def verdict(met: bool | None, what: str) -> str:
    mark = {True: "MET", False: "MISSED", None: "NOT MEASURED"}[met]
    return f"**{mark}** - {what}"


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def agreement(value: float, ref: float, tol: float, what: str = "loss") -> tuple[str, bool]:
    """Text and verdict comparing a scalar with symnet's."""
    r = rel_diff(value, ref)
    ok = r <= tol
    return f"{what} {value:.10g}, rel. diff {r:.1e} {'OK' if ok else 'DIFFERS'}", ok


# ------------------------------------------------------------------ child I/O


@dataclass
class Section:
    """What a workload hands back to run.py: its Markdown and one-line summaries."""

    markdown: str
    summary: list[str] = field(default_factory=list)

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> Section:
        return cls(**json.loads(Path(path).read_text()))


def load_probe(path: str | None) -> dict:
    if not path:
        return {}
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
