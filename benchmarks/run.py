"""`make bench`: run the benchmark workloads against the peers and write BENCHMARKS.md.

    python benchmarks/run.py                  # every workload (about 10 minutes)
    python benchmarks/run.py --quick          # fewer repetitions
    python benchmarks/run.py --only W1,W3     # some workloads
    python benchmarks/run.py --output FILE    # write somewhere else than BENCHMARKS.md
    python benchmarks/run.py --threads 1      # limit every library's threads (default: theirs)

Workloads: W1 per-sample SGD (w1_sgd.py), W2 minibatch SGD (w2_minibatch.py),
W3 partial derivatives at many points (w3_points.py), W4 compile time
(w4_compile.py), W5 Hessian-vector products (w5_second_order.py), W6 scikit-learn
estimators (w6_estimators.py), W7 data-parallel training on Dask
(w7_distributed.py). Every peer
runs in its own process, with OPENBLAS_CORETYPE
and OPENBLAS_L2_SIZE removed from its environment (see harness.py). Peers
come from the ``bench`` extra; a missing one is reported as skipped.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import OPENBLAS_VARS, ROOT, compile_bytecode, isolated  # noqa: E402

WORKLOADS = {
    "W1": "w1_sgd",
    "W2": "w2_minibatch",
    "W3": "w3_points",
    "W4": "w4_compile",
    "W5": "w5_second_order",
    "W6": "w6_estimators",
    "W7": "w7_distributed",
}

#: Packages whose versions head the report (the rest are listed below it).
PACKAGES = ["symnet", "sympy", "numpy", "scipy", "llvmlite", "torch", "jax", "jaxlib", "numba",
            "pytensor", "symengine", "threadpoolctl", "dask", "distributed"]


def _cpu() -> tuple[str, str]:
    """(model name, MHz) from lscpu / cpuinfo."""
    model, mhz = platform.processor() or "unknown", "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                mhz = f"{float(line.split(':')[1]):.0f}"
                break
    except OSError:
        pass
    return model, mhz


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return ", ".join(f for f in ("avx2", "fma", "avx512f") if f in flags)
    except OSError:
        pass
    return "?"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 2 ** 20:.0f} GiB"
    except OSError:
        pass
    return "?"


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed: skipped"


def _all_packages() -> str:
    names = sorted({d.metadata["Name"] for d in metadata.distributions() if d.metadata["Name"]},
                   key=str.lower)
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def _command(argv: list[str]) -> str:
    script = shlex.join([sys.executable, "benchmarks/run.py", *argv])
    if os.environ.get("MAKELEVEL"):
        return f"`make bench` (runs `{script}`)"
    return f"`{script}`"


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS", "SYMNET_BLAS_THREADS")


def limit_threads(n: int) -> None:
    """Make every benchmark process use ``n`` threads (children inherit os.environ)."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    if n == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen"
                                   "=false intra_op_parallelism_threads=1").strip()


def _threads_note() -> str:
    set_vars = [f"{v}={os.environ[v]}" for v in THREAD_VARS if v in os.environ]
    return ("thread limits " + ", ".join(set_vars)) if set_vars else \
        "the libraries' default threads"


def header(argv: list[str], probe: dict, started: datetime.datetime, elapsed: float,
           loads: list[str], only: list[str]) -> list[str]:
    model, mhz = _cpu()
    blas_env = {k: os.environ[k] for k in OPENBLAS_VARS if k in os.environ}
    lines = [
        "# symnet benchmarks",
        "",
        "Written by `benchmarks/run.py` (see [benchmarks/](benchmarks/)); do not edit by hand.",
        "",
        f"- date: {started.isoformat(timespec='seconds')} (total run time "
        f"{elapsed / 60:.1f} min)",
        f"- command: {_command(argv)}",
        f"- workloads: {', '.join(only)}",
        f"- machine: {model}, {os.cpu_count()} cores at {mhz} MHz ({_cpu_flags()}), "
        f"{_memory()} RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- load average (1/5/15 min) at start and at the end of each workload: "
        f"{' -> '.join(loads)} (the machine is shared: other jobs run on the same 2 cores, "
        "hence the wide min-max ranges)",
        "- packages: " + ", ".join(f"{p} {_version(p)}" for p in PACKAGES),
        "- OpenBLAS: " + (f"{', '.join(f'{k}={v}' for k, v in blas_env.items())} set in the "
                          "calling environment, removed for the benchmark processes"
                          if blas_env else "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE not set")
        + f"; every peer runs in its own fresh process with {_threads_note()}",
        "- bytecode: symnet's modules are byte-compiled before the run and "
        "PYTHONDONTWRITEBYTECODE is removed for the benchmark processes, so imports "
        "read .pyc files as in any installed package",
    ]
    if probe:
        lines += [
            "- thread pools (threadpoolctl, in a benchmark process): "
            + "; ".join(probe.get("threadpools", [])),
            f"- measured on this machine: NumPy 2048 x 2048 matmul {probe['dgemm_gflops']:.0f} "
            f"GFLOP/s float64, {probe['sgemm_gflops']:.0f} GFLOP/s float32 (both cores); "
            f"copy bandwidth {probe['copy_gbs']:.1f} GB/s (read + write)",
        ]
    lines += [
        "",
        "Each table: median and min-max over the timed repetitions (after a warm-up), and "
        "the ratio to symnet's time (peer / symnet: above 1 symnet is faster). Every peer does "
        "the same math on the same data from the same initial parameters, and its result is "
        "checked against symnet's (last column). Targets are judged on medians; each verdict "
        "also gives the ratio of the fastest repetitions, because on this shared machine a "
        "verdict whose ratio is near its threshold can flip from one run to the next.",
        "",
        "<details><summary>all installed packages</summary>",
        "",
        _all_packages(),
        "",
        "</details>",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--only", default=",".join(WORKLOADS),
                    help="comma-separated workloads, e.g. W1,W3 (default: all)")
    ap.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"),
                    help="Markdown file to write (default: BENCHMARKS.md)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for every library (OpenMP, OpenBLAS, MKL, numba, XLA); "
                         "default: each library's own default")
    args = ap.parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)
    only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")

    started = datetime.datetime.now().astimezone()
    t0 = time.perf_counter()
    loads = [_load()]
    compile_bytecode()
    print("probing the machine ...", flush=True)
    p = isolated("harness", "machine_probe", name="probe")
    probe = p.extra if p.ok else {}
    sections, summary = [], []
    for w in only:
        mod = importlib.import_module(WORKLOADS[w])
        started_w = time.perf_counter()
        sec = mod.run(quick=args.quick, probe=probe)
        loads.append(_load())
        print(f"{w} done in {time.perf_counter() - started_w:.0f} s", flush=True)
        sections.append(sec.markdown)
        summary += sec.summary
    elapsed = time.perf_counter() - t0
    text = header(argv, probe, started, elapsed, loads, only)
    text += ["## Targets", ""] + [f"- {line}" for line in summary] + [""]
    text += sections
    out = Path(args.output)
    out.write_text("\n".join(text).rstrip() + "\n")
    print("\n".join(["", "Targets:"] + [f"- {line}" for line in summary]))
    print(f"wrote {out} in {elapsed / 60:.1f} min")


if __name__ == "__main__":
    main()
