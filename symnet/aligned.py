"""Cache-line aligned arrays: what every native buffer and sample-major data set uses."""

from __future__ import annotations

import ctypes
import math

import numpy as np

__all__ = ["ALIGN", "address", "empty", "rows_of"]

#: Alignment of every buffer native code gets: a cache line, so a
#: full-width (AVX-512) vector load never straddles two lines.
ALIGN = 64


_FROM_BUFFER = ctypes.c_char.from_buffer
_ADDRESSOF = ctypes.addressof


def address(a: np.ndarray) -> int:
    """Where the data of array ``a`` starts (its first element).

    A writeable C-contiguous array is read through the buffer protocol,
    four times faster than ``a.ctypes.data`` (which builds a helper object
    on every access: a kernel call passes a dozen addresses); any other
    array goes through ``a.ctypes.data``.

    >>> a = np.zeros((3, 4))
    >>> address(a) == a.ctypes.data, address(a[:, 1]) == a[:, 1].ctypes.data
    (True, True)
    """
    try:
        return _ADDRESSOF(_FROM_BUFFER(a))
    except (TypeError, ValueError, BufferError):
        return a.ctypes.data


def empty(shape: int | tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialized C-contiguous array whose data starts on an ALIGN boundary.

    >>> a = empty((3, 5), np.float32)
    >>> a.shape, a.dtype, a.ctypes.data % ALIGN, a.flags.c_contiguous
    ((3, 5), dtype('float32'), 0, True)
    """
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + ALIGN, dtype=np.uint8)
    start = -address(raw) % ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def rows_of(a: np.ndarray) -> np.ndarray:
    """``a.T`` as an aligned C-contiguous copy: with rows a multiple of 64
    bytes long, every sample's vector loads stay within cache lines (a
    straddling load costs about twice as much).

    >>> r = rows_of(np.arange(6.0).reshape(2, 3))
    >>> r.tolist(), r.ctypes.data % ALIGN
    ([[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]], 0)
    """
    out = empty(a.shape[::-1], a.dtype)
    out[...] = a.T
    return out
