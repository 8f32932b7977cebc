"""Kernels shipped to workers as data: the derived program, rebuilt (or loaded) once per worker."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sympy as sp

from .. import optim, serialize
from ..api import build_kernel
from ..lru import LRU
from ..runtime import Kernel
from ..update import Update

__all__ = ["KernelSpec", "UpdateSpec"]

#: Kernels built in this (worker) process, by the digest of what was shipped.
_BUILT: LRU = LRU(16)


@dataclass(frozen=True)
class KernelSpec:
    """A compiled kernel as data: its program, inputs and outputs in symnet's
    serialized form (:mod:`symnet.serialize`, read back without running code),
    the backend, dtype and name. Pickling it sends text, never a function
    pointer or a library; :meth:`build` compiles it on the worker (its own disk
    cache makes that a load after the first time) and keeps it for the process.

    >>> import numpy as np
    >>> x = sp.Symbol('x')
    >>> from symnet import compile
    >>> spec = KernelSpec.of(compile([x ** 2], [x]))
    >>> float(spec.build()(3.0)[0])
    9.0
    """

    digest: str
    text: str
    backend: str
    dtype: str
    name: str

    @classmethod
    def of(cls, kernel: Kernel, name: str = "kernel") -> KernelSpec:
        text = serialize.dumps([kernel.program, kernel.inputs, kernel.outputs])
        key = "\0".join([text, kernel.backend, str(kernel.dtype), name])
        return cls(hashlib.sha256(key.encode()).hexdigest(), text, kernel.backend,
                   str(kernel.dtype), name)

    def build(self) -> Kernel:
        hit = _BUILT.get(self.digest)
        if hit is None:
            prog, ins, outs = serialize.loads(self.text)
            hit = build_kernel(prog, list(ins), list(outs), self.backend, self.dtype, self.name)
            _BUILT[self.digest] = hit
        return hit


@dataclass(frozen=True)
class UpdateSpec:
    """An optimizer step (:class:`symnet.update.Update`) as data: the parameters,
    the rules and the derived program. :meth:`build` gives a fresh Update (its
    state zero) on the worker, reusing the compiled kernel.

    >>> from symnet.nn import MLP
    >>> from symnet.update import compile_update
    >>> spec = UpdateSpec.of(compile_update(MLP([2, 2], 'linear').params, 'momentum'))
    >>> sorted(spec.build().state)
    ['v_W1', 'v_b1']
    """

    digest: str
    text: str
    backend: str
    dtype: str

    @classmethod
    def of(cls, update: Update) -> UpdateSpec:
        rules = sp.Tuple(*[sp.Tuple(t, e) for t, e in update.optimizer.rules])
        text = serialize.dumps([update.params, rules, update.program])
        key = "\0".join([text, update.optimizer.name, update.kernel.backend,
                         str(update.dtype)])
        return cls(hashlib.sha256(key.encode()).hexdigest(),
                   f"{update.optimizer.name}\0{text}", update.kernel.backend,
                   str(update.dtype))

    def build(self) -> Update:
        """A fresh Update (zero state) over the kernel this process built for the spec."""
        hit = _BUILT.get(self.digest)
        if hit is None:
            name, text = self.text.split("\0", 1)
            params, rules, program = serialize.loads(text)
            opt = optim.Optimizer(name, tuple((t, e) for t, e in rules))
            hit = Update(list(params), opt, self.backend, self.dtype, program=program)
            _BUILT[self.digest] = hit
        return Update(hit.params, hit.optimizer, self.backend, self.dtype,
                      program=hit.program, kernel=hit.kernel)
