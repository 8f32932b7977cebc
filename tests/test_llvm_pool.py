"""The output pool: released memory is reused, live memory never is."""

from __future__ import annotations

import gc

import numpy as np
import sympy as sp

import symnet
from symnet.backends.llvm.pool import MIN_BYTES, OutputPool

N = MIN_BYTES // 8 * 4  # float64 elements: well above the pooling threshold


def test_released_block_is_reused_and_live_block_is_not():
    p = OutputPool(limit=1 << 30)
    a = p.empty(N, np.float64)
    b = p.empty(N, np.float64)
    assert not np.shares_memory(a, b)
    a[:] = 1.0
    where = a.ctypes.data
    view = a[10:20]
    del a
    gc.collect()
    c = p.empty(N, np.float64)  # a view keeps the block alive
    assert c.ctypes.data != where
    assert view.tolist() == [1.0] * 10
    del view
    gc.collect()
    d = p.empty(N, np.float64)
    assert d.ctypes.data == where
    assert p.held() == 0


def test_limit_and_disabled_pool():
    p = OutputPool(limit=N * 8)  # room for exactly one block
    a, b = p.empty(N, np.float64), p.empty(N, np.float64)
    del a, b
    gc.collect()
    assert p.held() == N * 8
    off = OutputPool(limit=0)
    x = off.empty(N, np.float64)
    del x
    gc.collect()
    assert off.held() == 0


def test_shapes_dtypes_alignment_and_small_arrays():
    p = OutputPool(limit=1 << 30)
    for shape, dt in (((N // 4, 4), np.float64), ((7,), np.float32), ((3, N), np.float32)):
        a = p.empty(shape, dt)
        assert a.shape == shape and a.dtype == dt and a.flags.c_contiguous
        assert a.flags.writeable and a.ctypes.data % 64 == 0
    small = p.empty(5, np.float64)
    del small
    gc.collect()
    assert all(k >= MIN_BYTES for k in p._free)


def test_repeated_kernel_calls_return_independent_correct_outputs():
    x, w = sp.symbols("x w")
    k = symnet.compile([sp.tanh(w * x), w * x ** 2], [x, w], backend="llvm")
    xs = np.linspace(-3, 3, N)
    first = k(xs, 0.5)
    kept = [o.copy() for o in first]
    second = k(xs, 2.0)  # first is still alive: its memory must not be reused
    assert all(not np.shares_memory(a, b) for a in first for b in second)
    assert np.array_equal(first[0], kept[0]) and np.array_equal(first[1], kept[1])
    assert np.allclose(second[0], np.tanh(2.0 * xs), rtol=1e-15, atol=0)
    del first, second
    gc.collect()
    third = k(xs, 0.5)  # recycled memory, same values as the first call
    assert np.array_equal(third[0], kept[0]) and np.array_equal(third[1], kept[1])


def test_small_outputs_are_independent_of_each_other_inputs_and_later_calls():
    W = sp.MatrixSymbol("W", 3, 4)
    x = sp.MatrixSymbol("x", 4, 1)
    # The same value twice, an input passed through, and two computed values.
    outs = [W * x, W * x, W, sp.HadamardProduct(W, W)]
    for be in ("llvm", "numpy"):
        k = symnet.compile(outs, [W, x], backend=be)
        Wv, xv = np.arange(12.0).reshape(3, 4), np.ones((4, 1))
        first = k(Wv, xv)
        kept = [o.copy() for o in first]
        for a in range(len(first)):
            assert not np.shares_memory(first[a], Wv) and not np.shares_memory(first[a], xv)
            for b in range(a):
                assert not np.shares_memory(first[a], first[b])
        first[0][0, 0] = -1.0  # writing one output changes nothing else
        assert first[1][0, 0] == kept[1][0, 0] and Wv[0, 0] == 0.0
        k(Wv + 1.0, xv)
        assert all(np.array_equal(o, c) for o, c in zip(first[1:], kept[1:], strict=True))
        assert np.array_equal(first[2], Wv) and np.array_equal(first[3], Wv ** 2)
