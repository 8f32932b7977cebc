"""The threads of a native call's products: by contention by default, or fixed; OpenBLAS on one."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

import symnet
from symnet.backends.llvm import blas
from symnet.backends.llvm.blas import _Threads, blas_call


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
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    for others, want in ((0, 4), (1, 3), (3, 1), (9, 1)):
        monkeypatch.setattr(t, "_others", staticmethod(lambda o=others: o))
        t._at = -1.0
        assert t.choose() == want
    monkeypatch.setenv("SYMNET_BLAS_THREADS", "2")
    assert t.choose() == 2
    monkeypatch.delenv("SYMNET_BLAS_THREADS")
    monkeypatch.setattr(t, "_others", staticmethod(lambda: 3))
    t._at = -1.0
    assert t.choose() == 1  # unset is auto: the split changes no bit (test_blas_team)
    for bad in ("many", "0", "-2"):
        monkeypatch.setenv("SYMNET_BLAS_THREADS", bad)
        with pytest.raises(symnet.ConfigError, match="SYMNET_BLAS_THREADS"):
            t.choose()


def test_a_native_call_runs_openblas_on_one_thread_and_restores_it(monkeypatch):
    t, lib = _controller()
    monkeypatch.setattr(blas, "_THREADS", t)
    before = lib.num_threads
    for setting in ("1", "2", "auto"):
        monkeypatch.setenv("SYMNET_BLAS_THREADS", setting)
        with blas_call():
            inside = lib.num_threads
            with blas_call():  # nested (or a second thread's) call: still one
                assert lib.num_threads == 1
            assert lib.num_threads == 1
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
