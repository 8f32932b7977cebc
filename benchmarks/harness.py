"""Shared benchmark harness: peers, timing, agreement checks and Markdown tables.

A workload is a list of :class:`Peer` entries. Each peer runs the same
math on the same data from the same initial parameters; it is timed with
:func:`repeat` (a warm-up, then repeated timed runs) and its result is
compared with symnet's. A peer whose package is missing is recorded as
``skipped (not installed)``; one that raises is recorded as ``failed`` with
the error, and the workload goes on.

Every peer runs in its own fresh process (:func:`isolated`): on a 2-core
machine the thread pools of one library (OpenMP in PyTorch, XLA's, numba's,
OpenBLAS's) otherwise linger and slow down the next peer. The child is
``python benchmarks/harness.py peer MODULE FUNCTION ARGS OUT``; it writes the
peer's fields as JSON and its result arrays as .npz.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: Peer packages that may be missing (the ``bench`` extra of pyproject.toml).
OPTIONAL = ("torch", "jax", "numba", "pytensor", "symengine")

SKIPPED = "skipped (not installed)"


#: Variables that tune OpenBLAS for this machine's tests; unset for benchmarking.
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

#: Seconds a single peer may run before it is reported as failed.
PEER_TIMEOUT = 600


def available(module: str) -> bool:
    """True if ``module`` is installed (a peer needing it is skipped otherwise)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


#: Unset for the children too: with it, every process compiles every module
#: it imports from source (as no installed package does), which W4's cold
#: and warm processes would then count as compile time.
NO_BYTECODE_VAR = "PYTHONDONTWRITEBYTECODE"


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of benchmark children: OpenBLAS tuning variables and
    PYTHONDONTWRITEBYTECODE unset."""
    env = {k: v for k, v in os.environ.items()
           if k not in OPENBLAS_VARS and k != NO_BYTECODE_VAR}
    env.update(extra)
    return env


#: Flags of the hand-written C rows (W1, W3): what a C programmer passes for speed,
#: without -ffast-math, so they keep IEEE semantics as the other peers do.
C_FLAGS = ["-O3", "-march=native", "-std=c99", "-fPIC", "-shared"]


def compile_c(source: str, symbol: str, prefix: str = "symnet-c-",
              extra: tuple[str, ...] = ()) -> tuple[Any, str]:
    """Compile ``source`` with the system C compiler ($CC or ``cc``, :data:`C_FLAGS`
    and ``extra``) into a shared library, load it with ctypes and return (its
    function ``symbol``, the compiler's version line). The caller sets
    ``argtypes``; ``restype`` is None."""
    import ctypes
    import shutil

    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        raise RuntimeError("no C compiler (cc) on PATH")
    # dlopen maps the library: the file itself may go once it is loaded.
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        src, lib = Path(tmp) / f"{symbol}.c", Path(tmp) / f"{symbol}.so"
        src.write_text(source)
        subprocess.run([cc, *C_FLAGS, *extra, str(src), "-o", str(lib), "-lm"], check=True)
        fn = getattr(ctypes.CDLL(str(lib)), symbol)
    fn.restype = None
    version = subprocess.run([cc, "--version"], capture_output=True, text=True
                             ).stdout.splitlines()[0]
    return fn, version


def compile_bytecode() -> None:
    """Byte-compile symnet's modules once, as installing a package does."""
    import compileall

    import symnet

    compileall.compile_dir(str(Path(symnet.__file__).parent), quiet=1)


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
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "result"}


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


def isolated(module: str, func: str, *args, requires: Sequence[str] = (), name: str = "",
             timeout: float = PEER_TIMEOUT, env: dict | None = None) -> Peer:
    """Run ``module.func(*args)`` (which returns a Peer) in a fresh process.

    ``args`` must be JSON values. A missing required module gives a skipped
    peer without starting a process; a crash or a timeout gives a failed one.
    """
    missing = [m for m in requires if not available(m)]
    if missing:
        peer = Peer(name or func, status=f"{SKIPPED}: {', '.join(missing)}")
        print(f"  {peer.name}: {peer.status}", flush=True)
        return peer
    with tempfile.TemporaryDirectory(prefix="symnet-bench-") as tmp:
        out = Path(tmp) / "peer"
        cmd = [sys.executable, str(HERE / "harness.py"), "peer", module, func,
               json.dumps(list(args)), str(out)]
        try:
            proc = subprocess.run(cmd, env=env or bench_env(), timeout=timeout, cwd=HERE)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = None
        if out.with_suffix(".json").exists():
            return _load_peer(out)
        why = f"timed out after {timeout:.0f} s" if code is None else f"exit code {code}"
        peer = Peer(name or func, status=f"failed: process {why}")
        print(f"  {peer.name}: {peer.status}", flush=True)
        return peer


def isolated_rounds(module: str, specs: Sequence[tuple], rounds: int) -> list[Peer]:
    """Run every peer once per round, round-robin, each in a fresh process; pool the times.

    ``specs`` are ``(name, function, args, requires)``. The machine is shared and its
    load changes over minutes; interleaving the peers spreads that over all of them
    instead of penalizing whichever peer ran during a busy spell. Extra columns and the
    result come from the first successful round.
    """
    runs: list[list[Peer]] = [[] for _ in specs]
    for r in range(rounds):
        if rounds > 1:
            print(f" round {r + 1}/{rounds}", flush=True)
        for k, (name, func, args, requires) in enumerate(specs):
            runs[k].append(isolated(module, func, *args, requires=requires, name=name))
    pooled = []
    for rs in runs:
        ok = [p for p in rs if p.ok]
        if not ok:
            pooled.append(rs[0])
            continue
        peer = ok[0]
        peer.times = [t for p in ok for t in p.times]
        if len(ok) < len(rs):
            failed = next(p.status for p in rs if not p.ok)
            peer.note = (peer.note + "; " if peer.note else "") + \
                f"{len(rs) - len(ok)} of {len(rs)} rounds failed ({failed})"
        pooled.append(peer)
    return pooled


def _save_peer(peer: Peer, out: Path) -> None:
    d = peer.to_json()
    res = peer.result
    if isinstance(res, (list, tuple)) and all(hasattr(a, "shape") for a in res) and res:
        import numpy as np

        np.savez(out.with_suffix(".npz"), *[np.asarray(a) for a in res])
        d["result"] = "npz"
    else:
        d["result"] = res
    out.with_suffix(".json").write_text(json.dumps(d, default=float))


def _load_peer(out: Path) -> Peer:
    d = json.loads(out.with_suffix(".json").read_text())
    res = d.pop("result")
    peer = Peer(**d)
    if res == "npz":
        import numpy as np

        with np.load(out.with_suffix(".npz")) as z:
            peer.result = [z[f"arr_{i}"] for i in range(len(z.files))]
    else:
        peer.result = res
    return peer


def machine_probe() -> Peer:
    """BLAS libraries and threads, measured gemm rates and memory bandwidth (a child)."""
    import numpy as np

    peer = Peer("probe", times=[0.0])
    try:
        import scipy.linalg  # noqa: F401  (symnet's LLVM backend calls SciPy's BLAS)
        from threadpoolctl import threadpool_info

        peer.extra["threadpools"] = [
            f"{i.get('internal_api')} {i.get('version')} ({i.get('prefix')}, "
            f"{i.get('num_threads')} threads, {i.get('architecture', '-')})"
            for i in threadpool_info()]
    except ImportError:
        peer.extra["threadpools"] = ["threadpoolctl not installed"]
    n = 2048
    for dtype, key in (("float64", "dgemm_gflops"), ("float32", "sgemm_gflops")):
        a = np.random.default_rng(0).random((n, n)).astype(dtype)
        b = a.T.copy()
        times, _ = repeat(lambda a=a, b=b: a @ b, 3)
        peer.extra[key] = 2 * n ** 3 / min(times) / 1e9
    src = np.ones(32 * 2 ** 20)  # 256 MiB
    dst = np.empty_like(src)
    times, _ = repeat(lambda: np.copyto(dst, src), 3)
    peer.extra["copy_gbs"] = 2 * src.nbytes / min(times) / 1e9
    return peer


def _child(argv: list[str]) -> None:
    """``peer MODULE FUNCTION ARGS OUT``: run one peer, write its fields."""
    _, module, func, args, out = argv
    sys.path.insert(0, str(HERE))
    mod = importlib.import_module(module)
    peer = getattr(mod, func)(*json.loads(args))
    _save_peer(peer, Path(out))


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
          ratio_label: str = "ratio to symnet", agree: bool = True) -> str:
    """Markdown table: peer, median, min-max, ratio to the reference, extras, agreement.

    The ratio is peer median / reference median: above 1 the peer is slower.
    """
    head = ["peer", "median", "min-max", ratio_label, *extra_cols]
    head += ["agreement with symnet"] if agree else []
    rows = ["| " + " | ".join(head) + " |",
            "|" + "|".join(["---"] + ["---:"] * (3 + len(extra_cols))
                           + (["---"] if agree else [])) + "|"]
    ref = reference.median if reference is not None and reference.ok else math.nan
    for p in peers:
        if p.ok:
            cells = [fmt_time(p.median), f"{fmt_time(min(p.times))} - {fmt_time(max(p.times))}",
                     fmt_ratio(p.median / ref) if math.isfinite(ref) else "-"]
        else:
            cells = [p.status, "", ""]
        cells += [str(p.extra.get(c, "")) for c in extra_cols]
        name = p.name + (f" ({p.note})" if p.note else "")
        cells += [p.agree or "-"] if agree else []
        rows.append("| " + " | ".join([name, *cells]) + " |")
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


def fastest_ratio(a: Peer, b: Peer) -> str:
    """min(a) / min(b): the ratio on each row's fastest repetition (less load-sensitive)."""
    return f"{min(a.times) / min(b.times):.2f}x on the fastest repetitions"


def verdict(met: bool | None, what: str) -> str:
    mark = {True: "MET", False: "MISSED", None: "NOT MEASURED"}[met]
    return f"**{mark}** - {what}"


def agreement_summary(peers: Sequence[Peer], what: str) -> str:
    """One line: did every timed peer agree with symnet's result?"""
    checked = [p for p in peers if p.ok and p.agrees is not None]
    bad = [p.name for p in checked if not p.agrees]
    unchecked = [p.name for p in peers if p.ok and p.agrees is None]
    if bad:
        line = f"**DIFFERS** - {what}: {', '.join(bad)} disagree with symnet"
    else:
        line = f"agreement - {what}: all {len(checked)} timed rows agree with symnet"
    if unchecked:
        line += f" (not checked: {', '.join(unchecked)})"
    return line


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


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] != "peer":
        sys.exit("usage: harness.py peer MODULE FUNCTION JSON-ARGS OUT")
    _child(sys.argv[1:])
