"""Recycled memory for large kernel outputs: no page faults on repeated calls.

A kernel over a million points returns a fresh 8 MB array per output. Fresh
memory from the operating system is zero-filled page by page on first
touch, and for such kernels those page faults cost more than the
arithmetic. Every array this pool hands out is an ordinary NumPy array
whose base is a small lease object; when the caller drops the last view
of it, the lease gives the memory back, and the next call of the same size
reuses it (already mapped, no faults). At most ``SYMNET_POOL_BYTES``
(default 256 MiB) of released memory is kept; ``0`` turns the pool off.
"""

from __future__ import annotations

import math

import numpy as np

from ... import aligned, config
from ...aligned import ALIGN, address

__all__ = ["ALIGN", "MIN_BYTES", "OutputPool", "aligned_copy", "aligned_empty", "pool"]

#: Smaller arrays come from NumPy directly: the allocator serves them from
#: memory it already has, so there is nothing to save.
MIN_BYTES = 1 << 18

class _Lease:
    """The base of a pooled array: returns the block when the array dies."""

    __slots__ = ("__array_interface__", "_pool", "_block")

    def __init__(self, pool: OutputPool, block: np.ndarray, shape: tuple, dtype: np.dtype):
        self._pool = pool
        self._block = block
        self.__array_interface__ = {"data": (_address(block), False), "shape": shape,
                                    "typestr": dtype.str, "version": 3}

    def __del__(self) -> None:
        self._pool._give_back(self._block)


def _address(block: np.ndarray) -> int:
    at = address(block)
    return at + (-at % ALIGN)


class OutputPool:
    """Blocks of released output memory, by size.

    >>> p = OutputPool(limit=1 << 24)
    >>> a = p.empty((1000, 100), np.float64)
    >>> a.shape, a.dtype, a.ctypes.data % 64
    ((1000, 100), dtype('float64'), 0)
    >>> where = a.ctypes.data
    >>> del a                      # the memory goes back to the pool ...
    >>> p.empty((1000, 100), np.float64).ctypes.data == where   # ... and is reused
    True
    """

    def __init__(self, limit: int | None = None):
        if limit is None:
            limit = config.pool_bytes()
        self.limit = limit
        self._free: dict[int, list[np.ndarray]] = {}

    def held(self) -> int:
        """Bytes of released memory kept for reuse."""
        return sum(len(v) * k for k, v in list(self._free.items()))

    def empty(self, shape: int | tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialized, aligned, C-contiguous array (pooled if large)."""
        dtype = np.dtype(dtype)
        shape = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < MIN_BYTES or self.limit <= 0:
            return aligned.empty(shape, dtype)
        try:
            block = self._free.get(nbytes, []).pop()
        except IndexError:
            block = np.empty(nbytes + ALIGN, dtype=np.uint8)
        return np.asarray(_Lease(self, block, shape, dtype))

    def _give_back(self, block: np.ndarray) -> None:
        # Runs from a finalizer, possibly in any thread: only GIL-atomic
        # list and dict operations, no locks that could already be held.
        nbytes = block.nbytes - ALIGN
        if self.held() + nbytes <= self.limit:
            self._free.setdefault(nbytes, []).append(block)

    def clear(self) -> None:
        """Return every kept block to the system."""
        self._free.clear()


#: The pool that the LLVM backend's kernels allocate outputs from.
pool = OutputPool()


def aligned_empty(shape: int | tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialized C-contiguous array whose data starts on an ALIGN boundary
    (large ones recycle released memory from :data:`pool`).

    >>> a = aligned_empty((3, 5), np.float64)
    >>> a.shape, a.ctypes.data % ALIGN, a.flags.c_contiguous
    ((3, 5), 0, True)
    """
    return pool.empty(shape, dtype)


def aligned_copy(a: np.ndarray, dtype=None) -> np.ndarray:
    """``a`` as an aligned C-contiguous array (itself if it already is one).

    >>> b = aligned_copy(np.arange(6.0)[1:])
    >>> b.ctypes.data % ALIGN, b.tolist()
    (0, [1.0, 2.0, 3.0, 4.0, 5.0])
    """
    dtype = np.dtype(a.dtype if dtype is None else dtype)
    if a.dtype == dtype and a.flags.c_contiguous and address(a) % ALIGN == 0:
        return a
    out = aligned_empty(a.shape, dtype)
    out[...] = a
    return out
