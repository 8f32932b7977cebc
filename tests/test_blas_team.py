"""The BLAS team: split products equal the reference, with the same bits on any thread count."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symnet.backends.llvm import blas, team

_FN = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 13)


def _ld(a) -> int:
    """The leading dimension of a column-major array or column-major view."""
    return a.strides[1] // a.itemsize if a.shape[1] > 1 else max(a.shape[0], 1)


def _gemm(addr: int, ta: str, tb: str, A, B, C, alpha: float, beta: float) -> None:
    """Column-major C = alpha op(A) op(B) + beta C through the ?gemm at ``addr``
    (A, B, C column-major, maybe views with a larger leading dimension)."""
    for a in (A, B, C):
        assert a.strides[0] == a.itemsize
    m, n = C.shape
    k = A.shape[1] if ta == "N" else A.shape[0]
    real = ctypes.c_float if C.dtype == np.float32 else ctypes.c_double
    keep = [ctypes.c_char(ta.encode()), ctypes.c_char(tb.encode()), ctypes.c_int(m),
            ctypes.c_int(n), ctypes.c_int(k), real(alpha), ctypes.c_int(_ld(A)),
            ctypes.c_int(_ld(B)), real(beta), ctypes.c_int(_ld(C))]
    at = [ctypes.addressof(x) for x in keep]
    _FN(addr)(*at[:6], A.ctypes.data, at[6], B.ctypes.data, at[7], at[8], C.ctypes.data, at[9])


def _case(rng, dtype, m, n, k, ta, tb):
    A = np.asfortranarray(rng.standard_normal((m, k) if ta == "N" else (k, m)).astype(dtype))
    B = np.asfortranarray(rng.standard_normal((k, n) if tb == "N" else (n, k)).astype(dtype))
    C = np.asfortranarray(rng.standard_normal((m, n)).astype(dtype))
    return A, B, C


def _reference(A, B, C, ta, tb, alpha, beta):
    a = A.astype(np.float64) if ta == "N" else A.T.astype(np.float64)
    b = B.astype(np.float64) if tb == "N" else B.T.astype(np.float64)
    return alpha * (a @ b) + beta * C.astype(np.float64)


def _addresses(dtype):
    real = blas.blas_address(dtype)
    if real is None:
        pytest.skip("no SciPy BLAS")
    return real, blas.kernel_gemm(dtype)


def test_blocks_cover_the_cut_side_exactly():
    for m, n, k in [(64, 784, 256), (256, 64, 784), (300, 70, 200), (513, 300, 40),
                    (20, 1000, 300), (129, 129, 129), (4096, 64, 64)]:
        for parts in (1, 2, 3, 4, 8):
            axis, count, size = team.blocks(m, n, k, parts)
            if count == 1:
                continue
            ext = n if axis == 1 else m
            assert ext == max(m, n)
            assert 2 <= count <= parts
            assert size % 16 == 0 and size >= team.MIN_BLOCK - 15
            last = ext - (count - 1) * size
            assert last >= size  # the last block takes the rest, never less than a block
    assert team.blocks(10, 256, 64, 2)[1] == 1       # below MIN_WORK: one call
    assert team.blocks(100, 100, 1000, 2)[1] == 1    # no side of two blocks' rows


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", "NT")
@pytest.mark.parametrize("tb", "NT")
def test_split_products_match_the_reference_and_the_team_changes_no_bit(dtype, ta, tb,
                                                                       monkeypatch):
    real, disp = _addresses(dtype)
    assert disp not in (None, real)
    rng = np.random.default_rng(3)
    tol = 2e-4 if dtype == np.float32 else 1e-12
    for m, n, k in [(64, 784, 256), (256, 64, 784), (300, 70, 200), (513, 300, 40),
                    (20, 1000, 300), (7, 5, 3)]:
        A, B, C0 = _case(rng, dtype, m, n, k, ta, tb)
        ref = _reference(A, B, C0, ta, tb, -0.5, 1.0)
        monkeypatch.setenv("SYMNET_BLAS_THREADS", "1")
        alone = np.asfortranarray(C0.copy())
        with blas.blas_call():  # OpenBLAS on one thread, no team: the blocks in turn
            _gemm(disp, ta, tb, A, B, alone, -0.5, 1.0)
        np.testing.assert_allclose(alone, ref, rtol=tol, atol=tol * 10 * np.sqrt(k))
        for threads in ("2", "3"):
            monkeypatch.setenv("SYMNET_BLAS_THREADS", threads)
            shared = np.asfortranarray(C0.copy())
            with blas.blas_call():
                _gemm(disp, ta, tb, A, B, shared, -0.5, 1.0)
            np.testing.assert_array_equal(shared, alone)


def _padded(a, rows: int):
    """``a`` as a column-major view into a taller array (leading dimension
    ``a.shape[0] + rows``), the rows below filled with NaN."""
    big = np.full((a.shape[0] + rows, a.shape[1]), np.nan, dtype=a.dtype, order="F")
    big[:a.shape[0]] = a
    return big[:a.shape[0]]


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 700), n=st.integers(1, 700), k=st.integers(1, 300),
       ta=st.sampled_from("NT"), tb=st.sampled_from("NT"), beta=st.sampled_from([0.0, 1.0]),
       pad=st.integers(0, 5))
def test_random_shapes_and_strides_match_the_reference(m, n, k, ta, tb, beta, pad):
    real, disp = _addresses(np.float64)
    rng = np.random.default_rng(m * 7 + n * 3 + k)
    A, B, C0 = _case(rng, np.float64, m, n, k, ta, tb)
    A, B = _padded(A, pad), _padded(B, 2 * pad)
    big = _padded(C0, pad)
    got = big.base
    with blas.blas_call():
        _gemm(disp, ta, tb, A, B, big, 0.25, beta)
    np.testing.assert_allclose(big, _reference(A, B, C0, ta, tb, 0.25, beta),
                               rtol=1e-12, atol=1e-12 * k)
    assert np.isnan(got[m:]).all()  # nothing written past the view


def test_a_helper_takes_blocks(monkeypatch):
    real, disp = _addresses(np.float64)
    if team.PARTS < 2:
        pytest.skip("one core: no block to share")
    rng = np.random.default_rng(0)
    A, B, C0 = _case(rng, np.float64, 1024, 512, 256, "N", "N")
    rt = team._runtime()
    before = rt.helped()
    deadline = time.monotonic() + 10
    monkeypatch.setenv("SYMNET_BLAS_THREADS", "2")
    with blas.blas_call():
        while rt.helped() == before and time.monotonic() < deadline:
            C = np.asfortranarray(C0.copy())
            _gemm(disp, "N", "N", A, B, C, 1.0, 1.0)
    assert rt.helped() > before
    np.testing.assert_allclose(C, _reference(A, B, C0, "N", "N", 1.0, 1.0), rtol=1e-12,
                               atol=1e-10)


def _training_kernel():
    from symnet.nn import MLP
    from symnet.train import training_kernel

    net = MLP([300, 200, 10], "relu")
    k = training_kernel(net, lam=0.0, backend="llvm")
    rng = np.random.default_rng(0)
    ps = [rng.standard_normal(tuple(int(d) for d in p.shape)) * 0.05 for p in net.params]
    X = rng.standard_normal((300, 256))
    y = rng.integers(0, 10, 256)
    return k, (X, y, *ps)


def test_split_kernel_gradients_match_the_numpy_backend():
    """The training kernel's products (up to 200 x 300 x 256) go through the
    team; the NumPy backend's through NumPy's own BLAS."""
    from symnet.nn import MLP
    from symnet.train import training_kernel

    k, args = _training_kernel()
    net = MLP([300, 200, 10], "relu")
    ref = training_kernel(net, lam=0.0, backend="numpy")(*args)
    for a, b in zip(k(*args), ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_every_thread_count_and_load_gives_the_same_bits(monkeypatch):
    """The team's size follows the load, and no size changes a bit."""
    k, args = _training_kernel()
    monkeypatch.delenv("SYMNET_BLAS_THREADS", raising=False)
    first = k(*args)
    t = blas._THREADS
    runs = []
    for setting in ("1", "2", "3", "auto"):
        monkeypatch.setenv("SYMNET_BLAS_THREADS", setting)
        runs.append(k(*args))
    monkeypatch.setenv("SYMNET_BLAS_THREADS", "auto")
    monkeypatch.setattr(t, "_others", staticmethod(lambda: 5))  # every core taken
    t._at = -1.0
    assert t.choose() == 1
    runs.append(k(*args))
    for run in runs:
        for a, b in zip(run, first, strict=True):
            np.testing.assert_array_equal(a, b)


def test_two_threads_calling_kernels_at_once_get_the_serial_bits():
    """One gets the team, the other runs its blocks alone: both exact."""
    k, args = _training_kernel()
    want = k(*args)
    got: list = [None] * 4
    errors: list = []

    def call(i):
        try:
            for _ in range(5):
                got[i] = k(*args)
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for out in got:
        for a, b in zip(out, want, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_runs_kernels_with_its_own_team():
    code = """
import os, sys, numpy as np
sys.path.insert(0, sys.argv[1])
from test_blas_team import _training_kernel
k, args = _training_kernel()
want = k(*args)
pid = os.fork()
if pid == 0:
    got = k(*args)
    same = all(np.array_equal(a, b) for a, b in zip(got, want))
    os._exit(0 if same else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    here = os.path.dirname(__file__)
    r = subprocess.run([sys.executable, "-c", code, here], timeout=300, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-2000:]
