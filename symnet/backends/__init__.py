"""Backends: each turns a Program into a callable; they never import each other."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["BACKENDS", "get"]

#: name -> module path; a backend module provides ``build(program, name, dtype)``.
BACKENDS: dict[str, str] = {
    "numpy": "symnet.backends.numpy",
    "llvm": "symnet.backends.llvm",
}


def get(name: str) -> ModuleType:
    """The backend module called ``name``.

    >>> get("numpy").__name__
    'symnet.backends.numpy'
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[name])
