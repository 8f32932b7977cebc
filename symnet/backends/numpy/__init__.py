"""NumPy backend: a kernel plan -> readable Python source, executed into a function.

Modules: :mod:`.runtime` (the stable form of each head), :mod:`.printer`
(scalar bodies as NumPy expressions), :mod:`.kernel` (one function per
plan), :mod:`.epoch` (a whole SGD epoch).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...lower import EpochSpec, plan_kernel
from ...schedule import Program
from .epoch import NumPyEpoch, generate_sgd_epoch
from .kernel import generate, load
from .printer import SymnetNumPyPrinter
from .runtime import NAMESPACE

__all__ = ["NAMESPACE", "NumPyEpoch", "SymnetNumPyPrinter", "build", "build_epoch", "generate",
           "generate_sgd_epoch", "load"]


def build(prog: Program, name: str = "kernel", dtype=np.float64) -> tuple[Callable, str]:
    """Generate and load the program; return (function, source).

    >>> import sympy as sp
    >>> from symnet.graph import VARS
    >>> from symnet.schedule import Step
    >>> one = (sp.S(1), sp.S(1))
    >>> prog = Program([("x", sp.Symbol("x"))], [],
    ...                [Step("y", "ew", ("x",), one, VARS[0] ** 2, (one,))], ["y"])
    >>> fn, source = build(prog, "square")
    >>> print(source, fn(3.0))
    def square(x):
        y = x**2
        return (y,)
     (9.0,)
    """
    source = generate(plan_kernel(prog), name, dtype)
    return load(source, name), source


def build_epoch(prog: Program, name: str, dtype, spec: EpochSpec) -> NumPyEpoch:
    """A whole SGD epoch around the step program (see :func:`generate_sgd_epoch`)."""
    return NumPyEpoch(prog, name, dtype, spec)
