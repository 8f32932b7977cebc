"""Every ``SYMNET_*`` environment setting, parsed and checked in one place.

Settings are read when they are used (a test or a program may change the
environment between calls); a malformed value raises :class:`ConfigError`
naming the variable, the value and what it should be.

===================== ======================================== =====================
variable              meaning                                  default
===================== ======================================== =====================
SYMNET_CACHE_DIR      compile cache folder ('' = no disk cache) $XDG_CACHE_HOME/symnet
SYMNET_CACHE_MAX_BYTES size bound of the cache (K/M/G suffixes) 1G
SYMNET_DEBUG          0-4: dump each pipeline stage             0
SYMNET_POOL_BYTES     output memory kept for reuse (0 = off)    256M
SYMNET_LINKER         C compiler that links shared libraries    cc ('' = MCJIT)
SYMNET_COMPILE_JOBS   processes compiling one module's parts    usable cores, <= 2
SYMNET_BLAS_THRESHOLD multiply-adds from which a product       32768
                      calls BLAS (LLVM backend)
SYMNET_CHECK_SHARED   1: emit every shared group function too   0
                      and check it matches the one it shares
SYMNET_VECTOR_WIDTH   widest vectors the LLVM backend prefers  512 where the CPU
                      (128, 256 or 512 bits)                   has AVX-512, else
                                                               LLVM's choice
===================== ======================================== =====================

>>> import os
>>> os.environ["SYMNET_CACHE_MAX_BYTES"] = "64M"
>>> cache_max_bytes()
67108864
>>> os.environ["SYMNET_CACHE_MAX_BYTES"] = "lots"
>>> cache_max_bytes()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
symnet.errors.ConfigError: SYMNET_CACHE_MAX_BYTES must be a size in bytes ..., got 'lots'
>>> del os.environ["SYMNET_CACHE_MAX_BYTES"]
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .errors import ConfigError

__all__ = ["BLAS_THRESHOLD", "ConfigError", "blas_threshold", "cache_dir", "cache_max_bytes",
           "check_shared", "compile_jobs", "debug_level", "linker_name", "pool_bytes",
           "vector_width"]

#: Default multiply-adds (rows x inner x cols) from which an LLVM product
#: calls BLAS: measured by ``benchmarks/gemm_crossover.py``.
BLAS_THRESHOLD = 32 * 32 * 32


_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _size(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    match = _SIZE.match(raw)
    if match is None:
        raise ConfigError(f"{name} must be a size in bytes such as 500M or 2G, got {raw!r}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _integer(name: str, default: int, lo: int, hi: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer from {lo} to {hi}, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be an integer from {lo} to {hi}, got {raw!r}")
    return value


def cache_dir() -> Path | None:
    """The compile cache folder: ``$SYMNET_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/symnet`` or ``~/.cache/symnet``; None when set to ''."""
    env = os.environ.get("SYMNET_CACHE_DIR")
    if env is not None:
        return Path(env).expanduser() if env else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symnet"


def cache_max_bytes() -> int:
    """``$SYMNET_CACHE_MAX_BYTES``: the cache drops its least recently used
    entries beyond this size (default 1 GiB)."""
    return _size("SYMNET_CACHE_MAX_BYTES", 1 << 30)


def debug_level() -> int:
    """``$SYMNET_DEBUG``: 1 graph after each pass, 2 + program and source,
    3 + optimized LLVM IR, 4 + assembly."""
    return _integer("SYMNET_DEBUG", 0, 0, 4)


def pool_bytes() -> int:
    """``$SYMNET_POOL_BYTES``: released output memory the LLVM backend keeps
    for reuse (default 256 MiB, 0 turns the pool off)."""
    return _size("SYMNET_POOL_BYTES", 256 << 20)


def linker_name() -> str:
    """``$SYMNET_LINKER``: the C compiler driver that links shared libraries
    ('' = none: MCJIT loads the objects)."""
    return os.environ.get("SYMNET_LINKER", "cc").strip()


def compile_jobs() -> int:
    """``$SYMNET_COMPILE_JOBS``: processes that compile the parts of one
    module at once (default: the usable cores, at most 2; 1 where there is
    no fork)."""
    if sys.platform != "linux" or not hasattr(os, "fork"):
        return 1
    return _integer("SYMNET_COMPILE_JOBS", max(1, min(len(os.sched_getaffinity(0)), 2)), 1, 8)


def blas_threshold() -> int:
    """``$SYMNET_BLAS_THRESHOLD``: multiply-adds from which a native product
    calls BLAS instead of symnet's own loops (part of every kernel's
    identity: changing it compiles new kernels)."""
    return _integer("SYMNET_BLAS_THRESHOLD", BLAS_THRESHOLD, 0, 1 << 62)


#: ``blas_threads()`` when ``$SYMNET_BLAS_THREADS`` is ``auto``.
BLAS_THREADS_AUTO = -1


def blas_threads() -> int:
    """``$SYMNET_BLAS_THREADS``: threads that share a native call's matrix
    products. Unset or ``auto`` (:data:`BLAS_THREADS_AUTO`): the cores that
    other processes leave free, chosen before each call; N: always N. Each
    product big enough is cut into blocks fixed by its shape, so the count
    changes the speed, never a bit of the result."""
    raw = os.environ.get("SYMNET_BLAS_THREADS", "").strip().lower()
    if raw in ("", "auto"):
        return BLAS_THREADS_AUTO
    return _integer("SYMNET_BLAS_THREADS", 1, 1, 1024)


def check_shared() -> bool:
    """``$SYMNET_CHECK_SHARED``: when 1, the LLVM backend also generates each
    group it shares with an earlier identical group and raises if the two
    functions differ (the test suite turns it on)."""
    return _integer("SYMNET_CHECK_SHARED", 0, 0, 1) == 1


def vector_width() -> int:
    """``$SYMNET_VECTOR_WIDTH``: the vector width in bits that generated loops
    prefer (128, 256 or 512); 0 (unset) lets the LLVM backend choose: 512 on
    CPUs with AVX-512, whose tuning otherwise keeps loops at 256 bits."""
    raw = os.environ.get("SYMNET_VECTOR_WIDTH", "").strip()
    if raw == "":
        return 0
    if raw not in ("128", "256", "512"):
        raise ConfigError(f"SYMNET_VECTOR_WIDTH must be 128, 256 or 512, got {raw!r}")
    return int(raw)
