"""A small checksummed on-disk cache: atomic writes, damaged entries ignored."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["cache_dir", "read", "write"]

_MAGIC = b"SYMNET1\n"


def cache_dir() -> Path | None:
    """$SYMNET_CACHE_DIR, else ~/.cache/symnet (or $XDG_CACHE_HOME/symnet); '' disables."""
    env = os.environ.get("SYMNET_CACHE_DIR")
    if env is not None:
        return Path(env) if env else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symnet"


def _path(kind: str, key: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / f"{key}.{kind}"


def read(kind: str, key: str) -> bytes | None:
    """The payload stored under (kind, key), or None if absent, damaged or foreign.

    >>> read("none", "0" * 64) is None
    True
    """
    path = _path(kind, key)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC) + 64
    if not data.startswith(_MAGIC) or len(data) < head:
        return None
    payload = data[head:]
    if hashlib.sha256(payload).hexdigest().encode("ascii") != data[len(_MAGIC):head]:
        return None
    return payload


def write(kind: str, key: str, payload: bytes) -> None:
    """Store a payload; concurrent writers each write a whole file, then rename."""
    path = _path(kind, key)
    if path is None:
        return
    data = _MAGIC + hashlib.sha256(payload).hexdigest().encode("ascii") + payload
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache only costs a recompile
