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


def source_version() -> str:
    """sha256 of symnet's own sources (every .py file of the package, by path)."""
    global _SOURCES
    if _SOURCES is None:
        h = hashlib.sha256()
        root = Path(__file__).parent
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode())
            h.update(b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
        _SOURCES = h.hexdigest()
    return _SOURCES


def _version(dist: str) -> str:
    # A loaded package's own __version__ costs nothing; the distribution
    # metadata lookup costs milliseconds on every warm start.
    loaded = sys.modules.get(dist)
    if isinstance(getattr(loaded, "__version__", None), str):
        return loaded.__version__
    import importlib.metadata  # costs a twentieth of ``import symnet``: only when needed

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
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
