"""SciPy's OpenBLAS threads: the library's own by default, fixed, or lowered by contention."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

import symnet
from symnet.backends.llvm import blas
from symnet.backends.llvm.blas import _Threads, contention_threads


def _controller():
    blas.blas_address(np.float64)  # loads SciPy's OpenBLAS
    t = _Threads()
    lib = t._controller()
    if lib is None:
        pytest.skip("no SciPy OpenBLAS found by threadpoolctl")
    return t, lib


def test_threads_follow_the_other_runnable_tasks_when_auto(monkeypatch):
    t, lib = _controller()
    monkeypatch.setenv("SYMNET_BLAS_THREADS", "auto")
    monkeypatch.setattr(t, "_default", 4)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    for others, want in ((0, 4), (1, 3), (3, 1), (9, 1)):
        monkeypatch.setattr(t, "_others", staticmethod(lambda o=others: o))
        t._at = -1.0
        assert t.choose() == want
    monkeypatch.setenv("SYMNET_BLAS_THREADS", "2")
    assert t.choose() == 2
    monkeypatch.delenv("SYMNET_BLAS_THREADS")
    monkeypatch.setattr(t, "_others", staticmethod(lambda: 3))
    assert t.choose() == 4  # unset: the library's own count, whatever the load
    monkeypatch.setenv("SYMNET_BLAS_THREADS", "many")
    with pytest.raises(symnet.ConfigError, match="SYMNET_BLAS_THREADS"):
        t.choose()


def test_a_call_under_contention_runs_on_fewer_threads_and_restores_them(monkeypatch):
    t, lib = _controller()
    monkeypatch.setattr(blas, "_THREADS", t)
    before = lib.num_threads
    monkeypatch.setenv("SYMNET_BLAS_THREADS", "1")
    with contention_threads():
        inside = lib.num_threads
    assert inside == 1
    assert lib.num_threads == before


def test_a_spinning_process_is_seen_as_contention():
    idle = _Threads._others()
    if idle is None:
        pytest.skip("no /proc/loadavg")
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        seen = [_Threads._others() for _ in range(20)]
    finally:
        spin.kill()
        spin.wait()
    assert max(seen) >= 1  # the spinner (at least) runs beside this process


def test_by_default_the_same_call_gives_the_same_bits(monkeypatch):
    """Unset, the thread count never changes, so a call repeats bit for bit; on one
    thread OpenBLAS splits products differently: equal to rounding, not to the bit."""
    from symnet.nn import MLP
    from symnet.train import training_kernel

    net = MLP([300, 200, 10], "relu")
    k = training_kernel(net, lam=0.0, backend="llvm")
    rng = np.random.default_rng(0)
    ps = [rng.standard_normal(tuple(int(d) for d in p.shape)) * 0.05 for p in net.params]
    X = rng.standard_normal((300, 256))
    y = rng.integers(0, 10, 256)
    monkeypatch.delenv("SYMNET_BLAS_THREADS", raising=False)
    first, again = k(X, y, *ps), k(X, y, *ps)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setenv("SYMNET_BLAS_THREADS", "1")
    one = k(X, y, *ps)
    for a, b in zip(one, first, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-15)
