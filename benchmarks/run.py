"""`make bench`: run the benchmark workloads and write BENCHMARKS.md."""

from __future__ import annotations

import datetime
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import derive_depth  # noqa: E402

PACKAGES = ["symnet", "sympy", "numpy", "llvmlite", "scipy", "torch", "jax", "numba",
            "pytensor", "symengine"]


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def _versions() -> str:
    rows = []
    for p in PACKAGES:
        try:
            rows.append(f"{p} {metadata.version(p)}")
        except metadata.PackageNotFoundError:
            rows.append(f"{p} (not installed: skipped)")
    return ", ".join(rows)


def main() -> None:
    import os

    header = [
        "# symnet benchmarks",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- command: `make bench` (`{sys.executable} benchmarks/run.py`)",
        f"- machine: {_cpu()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}",
        f"- packages: {_versions()}",
        "",
        "Times are medians of repeated runs after a warm-up; the machine is shared and noisy.",
        "",
        "## W4 (part): derivation time of an L-layer MLP",
        "",
        "`symnet.grad` of the structural risk of an L-layer logistic MLP with softmax "
        "output and symbolic sizes n0..nL (5 repeats). Growth is close to linear in depth "
        "(compare the seconds-per-layer column).",
        "",
        derive_depth.table(),
        "",
    ]
    text = "\n".join(header)
    Path(__file__).resolve().parent.parent.joinpath("BENCHMARKS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
