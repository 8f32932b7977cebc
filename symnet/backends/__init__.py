"""Backends: each turns a kernel plan into code; they never import each other.

Every backend module satisfies :class:`Backend`: generic code (``api``,
``sgd``, ``train``) reaches a backend only through :func:`get` and these
two functions, never through a backend's own modules. Export
(:mod:`symnet.export`) reaches the code generators that write files --
the C backend, and the LLVM backend's object code -- through
:func:`exporter`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from ..lower import EpochData, EpochSpec
from ..schedule import Program

__all__ = ["BACKENDS", "EXPORTERS", "Backend", "Epoch", "exporter", "get"]

#: name -> module path of every backend.
BACKENDS: dict[str, str] = {
    "numpy": "symnet.backends.numpy",
    "llvm": "symnet.backends.llvm",
}

#: name -> module path of every code generator export uses: ``c`` provides
#: ``export_kernel``, ``export_epoch`` and ``library_wrapper``; ``llvm``
#: ``export_object``, ``host_triple`` and ``ALIGN``; ``onnx`` ``export_model``.
EXPORTERS: dict[str, str] = {
    "c": "symnet.backends.c",
    "llvm": "symnet.backends.llvm",
    "onnx": "symnet.backends.onnx",
}


class Epoch(Protocol):
    """A whole SGD epoch over a step program, as a backend builds it."""

    def compile_for(self, batch: int) -> None:
        """Prepare the code for this batch size ahead of its first epoch."""

    def epoch(self, data: EpochData, arrays: list, order: np.ndarray, batch: int,
              dim_values: dict) -> float:
        """Run one epoch in ``order``; return the mean loss (NaN if untracked).
        ``arrays`` follow the program's inputs; parameters are updated in place."""


@runtime_checkable
class Backend(Protocol):
    """What a backend module provides (same signatures for every backend)."""

    def build(self, prog: Program, name: str = "kernel", dtype=np.float64
              ) -> tuple[Callable, str | Callable[[], str]]:
        """A callable computing the program, and its source (or a thunk for it)."""

    def build_epoch(self, prog: Program, name: str, dtype, spec: EpochSpec) -> Epoch:
        """A whole SGD epoch around the step program."""


def get(name: str) -> Backend:
    """The backend module called ``name``.

    >>> be = get("numpy")
    >>> be.__name__, isinstance(be, Backend)
    ('symnet.backends.numpy', True)
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[name])


def exporter(name: str):
    """The code generator module called ``name`` (see :data:`EXPORTERS`).

    >>> exporter("c").__name__
    'symnet.backends.c'
    """
    if name not in EXPORTERS:
        raise ValueError(f"unknown exporter {name!r}; available: {', '.join(EXPORTERS)}")
    return importlib.import_module(EXPORTERS[name])
