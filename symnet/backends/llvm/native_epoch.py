"""Whole SGD epochs at run time: one native call per epoch, buffers placed once per batch size."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field, replace

import numpy as np

from ...aligned import address
from ...lower import EpochData, EpochSpec
from ...schedule import Program
from .blas import blas_call
from .native import _Native, _Specialization
from .pool import ALIGN, aligned_empty

__all__ = ["EpochFunction"]

_EPOCH_PROTO = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                ctypes.c_int64, ctypes.c_void_p)


@dataclass
class _EpochCall:
    """Per-dims buffer placement of an epoch call (see EpochFunction._epoch_call)."""

    n_buffers: int
    scratch: list[tuple[int, int]]               # (buffer index, offset in the call's block)
    params: list[int]                            # buffer indices passed as given
    total: int                                   # elements of the block
    dims: np.ndarray
    blas: bool                                   # whether the epoch's products may call BLAS
    #: per parameter buffer index: offset of its aligned working copy in the block
    shadows: dict[int, int] = field(default_factory=dict)
    #: blocks of finished calls, for the next (each is used by one call at a time)
    free: list = field(default_factory=list)

    def take(self, dtype: np.dtype) -> tuple[np.ndarray, int, np.ndarray]:
        """A block for one call -- (block, its address, the buffer table with
        the block's buffers filled in) -- reused from an earlier call if one
        is free."""
        try:
            return self.free.pop()
        except IndexError:
            pass
        block = aligned_empty(self.total, dtype)
        base = address(block)
        ptrs = np.zeros(self.n_buffers, dtype=np.uintp)
        for k, off in self.scratch:
            ptrs[k] = base + off * dtype.itemsize
        return block, base, ptrs

    def give(self, taken: tuple) -> None:
        if len(self.free) < 2:  # two epochs at once at most keep theirs
            self.free.append(taken)



class EpochFunction(_Native):
    """A whole SGD epoch in one native call (see :func:`.epoch.emit_epoch`).

    Compiled on the first epoch, for that epoch's batch size (each batch
    size gets its own step with the size built in).
    """

    def __init__(self, prog: Program, name: str, dtype: np.dtype, spec: EpochSpec):
        super().__init__(prog, name, dtype)
        self.epoch_spec = spec

    def _default(self) -> _Specialization:
        return self._spec(self.epoch_spec.batch_size)

    def _spec(self, batch: int) -> _Specialization:
        # One specialization per batch size: its full batches run a step
        # compiled with m fixed. This runner always passes the batch size it
        # compiled for: with one sample per batch there is never another size.
        hit = self._specs.get(("batch", batch))
        if hit is not None:  # the common case: no EpochSpec to rebuild
            return hit
        return self._compile(("batch", batch), _EPOCH_PROTO, {}, list(self.prog.dims),
                             epoch=replace(self.epoch_spec, batch_size=batch,
                                           any_batch=batch != 1))

    def compile_for(self, batch: int) -> None:
        """Compile (or load) the epoch for this batch size ahead of its first use."""
        self.current = self._spec(int(batch))

    def _epoch_call(self, spec: _Specialization, values: dict) -> _EpochCall:
        """Where every buffer of an epoch lives for these dims (cached): the
        parameters and scalars as passed, everything else in one block."""
        key, (sizes, offsets, total) = self._layout_for(spec, values)
        call = spec.calls.get(("epoch", key))
        if call is None:
            lanes = ALIGN // self.dtype.itemsize
            names = spec.plan.buffer_names
            n_in = len(self.prog.inputs)
            batch_slots = (self.epoch_spec.x, self.epoch_spec.y)
            scratch, params = [], []
            at = -(-total // lanes) * lanes  # the workspace first, then the other buffers
            for k, name in enumerate(names):
                if name in batch_slots or (k >= n_in and name not in offsets):
                    scratch.append((k, at))
                    at += -(-int(np.prod(sizes[name])) // lanes) * lanes
                elif k < n_in:
                    params.append(k)
                else:
                    scratch.append((k, offsets[name]))
            # Then room for an aligned working copy of every array parameter.
            shadows = {}
            for k in params:
                count = int(np.prod(sizes[names[k]]))
                if count:
                    shadows[k] = at
                    at += -(-count // lanes) * lanes
            call = spec.calls["epoch", key] = _EpochCall(
                len(names), scratch, params, max(at, 1),
                np.array(key if key else [0], dtype=np.int64), key in spec.blas_keys, shadows)
        return call

    def epoch(self, data: EpochData, arrays: list, order: np.ndarray, batch: int,
              dim_values: dict) -> float:
        """Run one epoch; parameters among ``arrays`` are updated in place.

        ``arrays`` follow the program's inputs (the X and Y slots are taken
        from ``data``'s sample-major rows, one C-contiguous row per sample);
        every array must already have this function's dtype (checked by the
        caller).
        """
        X, Y = data.X_rows, data.Y_rows
        if not (X.flags.c_contiguous and Y.flags.c_contiguous and X.dtype == self.dtype
                and Y.dtype == self.dtype and X.shape[0] == Y.shape[0]):
            raise ValueError("X and Y must be sample-major, C-contiguous and of the kernel's "
                             "dtype, with one row per sample each")
        order = np.ascontiguousarray(order, dtype=np.int64)
        n = order.shape[0]
        if n and (order.min() < 0 or order.max() >= X.shape[0]):
            raise ValueError(f"order indexes samples 0..{X.shape[0] - 1}, got "
                             f"{order.min()}..{order.max()}")
        spec = self.current = self._spec(int(batch))
        values = dict(dim_values)
        values[self.epoch_spec.batch] = batch
        call = self._epoch_call(spec, values)
        # A block per running call (never shared by two at once, so concurrent
        # epochs of one kernel cannot clobber each other's batches and
        # workspace), kept for the next call.
        taken = call.take(self.dtype)
        block, base, ptrs = taken
        item = self.dtype.itemsize
        shadows = []
        for k in call.params:
            arr = arrays[k]
            addr = address(arr)
            if arr.ndim and addr % ALIGN and k in call.shadows:
                # Updated every sample: an aligned working copy for the
                # epoch is much cheaper than split vector loads.
                at = call.shadows[k]
                shadow = block[at:at + arr.size].reshape(arr.shape)
                np.copyto(shadow, arr)
                shadows.append((arr, shadow))
                addr = base + at * item
            ptrs[k] = addr
        loss = np.zeros(1, dtype=self.dtype)
        args = (address(ptrs), address(call.dims), address(X), address(Y),
                address(order), n, int(batch), address(loss))
        if call.blas:
            with blas_call():
                spec.cfunc(*args)
        else:
            spec.cfunc(*args)
        for arr, shadow in shadows:
            np.copyto(arr, shadow)
        call.give(taken)
        return float(loss[0]) if self.epoch_spec.loss is not None else float("nan")

