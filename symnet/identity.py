"""Kernel identity: one digest of everything a compiled kernel's code depends on.

A cached kernel may be reused only for a request whose identity is the same,
so the identity is computed in this one place from the whole request -- the
complete program (every step with its shape, its arguments' shapes and
views), every option the code generator receives, the target machine, and
the versions of symnet's sources and of the libraries that shape the code.
Caches store the identity's text with an entry and check it when reading.

>>> import sympy as sp
>>> a = kernel_identity("demo", {"shape": (3, sp.Symbol("m"))})
>>> b = kernel_identity("demo", {"shape": (4, sp.Symbol("m"))})
>>> a.digest == b.digest, len(a.digest)
(False, 64)
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import serialize

__all__ = ["Identity", "kernel_identity", "source_version"]


@dataclass(frozen=True)
class Identity:
    """A request's identity: its canonical text and that text's sha256."""

    kind: str
    text: str
    digest: str


_SOURCES: str | None = None


def _source_files(folder: str, out: list[tuple[str, int, int]]) -> None:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    _source_files(entry.path, out)
            elif entry.name.endswith(".py"):
                st = entry.stat()
                out.append((entry.path, st.st_mtime_ns, st.st_size))


def _hash_sources(root: Path, files: list[str]) -> str:
    h = hashlib.sha256()
    for path in files:
        h.update(Path(path).relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(Path(path).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def source_version() -> str:
    """sha256 of symnet's own sources (every .py file of the package, by path).

    Reading and hashing every source costs a warm start ~3 ms, so the digest
    is kept in the compile cache under the files' (path, mtime, size) list,
    the signature Python's own bytecode cache trusts; any edited file
    changes it and the sources are hashed again.
    """
    global _SOURCES
    if _SOURCES is None:
        _SOURCES = sources_digest(Path(__file__).parent)
    return _SOURCES


def sources_digest(root: Path) -> str:
    """sha256 of the .py files under ``root``, through the cache (see above)."""
    from . import diskcache  # imports this module: loaded on first use

    stats: list[tuple[str, int, int]] = []
    _source_files(str(root), stats)
    stats.sort()
    listing = "\0".join(f"{p}\1{m}\1{n}" for p, m, n in stats)
    text = "sources " + hashlib.sha256(listing.encode()).hexdigest()
    key = Identity("sources", text, hashlib.sha256(text.encode()).hexdigest())
    stored = diskcache.read("sources", key)
    if stored is not None and len(stored) == 64:
        return stored.decode("ascii")
    digest = _hash_sources(root, [p for p, _, _ in stats])
    diskcache.write("sources", key, digest.encode("ascii"))
    return digest


def _version(dist: str) -> str:
    # The package's own __version__: free once it is loaded, and llvmlite's top
    # level loads no LLVM (0.2 ms); the distribution metadata lookup costs
    # 11 ms of every warm start (importlib.metadata and the email package).
    loaded = sys.modules.get(dist)
    if loaded is None:
        try:
            loaded = importlib.import_module(dist)
        except ImportError:
            loaded = None
    if isinstance(getattr(loaded, "__version__", None), str):
        return loaded.__version__
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


_VERSIONS: dict[str, str] | None = None


def _versions() -> dict[str, str]:
    global _VERSIONS
    if _VERSIONS is None:
        from . import __version__

        _VERSIONS = {"symnet": __version__, "sources": source_version(),
                     **{d: _version(d) for d in ("sympy", "numpy", "llvmlite")}}
    return _VERSIONS


def kernel_identity(kind: str, request: Mapping[str, object]) -> Identity:
    """The identity of a ``kind`` of compiled artifact built from ``request``.

    ``request`` must hold everything the artifact's code depends on (a
    backend passes the very object its code generator reads); values are
    SymPy objects, numbers, strings, containers, dataclasses or Programs.
    """
    from . import registry  # the rows shape every kernel's code (user rows included)

    versions = {**_versions(), "registry": registry.fingerprint()}
    text = serialize.dumps({"kind": kind, "versions": versions, "request": dict(request)})
    return Identity(kind, text, hashlib.sha256(text.encode()).hexdigest())
