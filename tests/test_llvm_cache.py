"""Compiling and loading: memory and disk caches (corruption detected, concurrency
safe), linked shared libraries, MCJIT fallback, parts compiled in parallel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet.backends.llvm import jit
from symnet.nn import MLP

SCRIPT = """
import sys, numpy as np, sympy as sp, symnet
x, w = sp.symbols('x w')
k = symnet.compile([symnet.logistic(w * x) * sp.Integer({tag})], [x, w], backend='llvm')
v = k(0.75, 2.0)[0]
print(k.fn.current.compiled.from_cache, repr(float(v)))
"""


def _run(cache: Path, tag: int = 3) -> tuple[bool, str]:
    env = dict(os.environ, SYMNET_CACHE_DIR=str(cache))
    r = subprocess.run([sys.executable, "-c", SCRIPT.format(tag=tag)], capture_output=True,
                       text=True, env=env, check=True)
    flag, value = r.stdout.strip().split(" ", 1)
    return flag == "True", value


def test_disk_cache_round_trip(tmp_path):
    cold = _run(tmp_path)
    warm = _run(tmp_path)
    assert cold[0] is False and warm[0] is True
    assert cold[1] == warm[1]
    assert len(list(tmp_path.glob("*.o"))) == 1


def test_corrupted_entry_is_rebuilt(tmp_path):
    _run(tmp_path)
    (entry,) = tmp_path.glob("*.o")
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.write_bytes(bytes(data))
    flag, value = _run(tmp_path)
    assert flag is False  # not executed from the damaged file
    assert _run(tmp_path)[0] is True  # and it was rewritten whole
    assert value == _run(tmp_path)[1]


def test_truncated_and_foreign_entries_are_rebuilt(tmp_path):
    _run(tmp_path)
    (entry,) = tmp_path.glob("*.o")
    entry.write_bytes(entry.read_bytes()[:100])
    assert _run(tmp_path)[0] is False
    entry.write_bytes(b"not a symnet cache entry")
    assert _run(tmp_path)[0] is False


def test_concurrent_processes(tmp_path):
    env = dict(os.environ, SYMNET_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT.format(tag=5)],
                              stdout=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    values = {o.strip().split(" ", 1)[1] for o in outs}
    assert len(values) == 1
    assert _run(tmp_path, tag=5)[0] is True
    assert not list(tmp_path.glob(".tmp-*"))


def test_memory_cache_in_process():
    x = sp.Symbol("x")
    k1 = symnet.compile([sp.tanh(x) * 7], [x], backend="llvm")
    k2 = symnet.compile([sp.tanh(x) * 7], [x], backend="llvm")
    assert k2.fn.current.compiled.from_cache
    assert np.array_equal(k1(np.ones(3))[0], k2(np.ones(3))[0])


WARM_SCRIPT = """
import sys, numpy as np, sympy as sp, symnet
x, w = sp.symbols('x w')
k = symnet.compile([symnet.logistic(w * x) * 3], [x, w], backend='llvm')
v = k(0.75, 2.0)[0]
c = k.fn.current.compiled
print(c.from_cache, c.native, 'llvmlite.binding' in sys.modules, repr(float(v)))
"""


def _run_warm(cache: Path, **env_extra: str) -> list[str]:
    env = dict(os.environ, SYMNET_CACHE_DIR=str(cache), **env_extra)
    r = subprocess.run([sys.executable, "-c", WARM_SCRIPT], capture_output=True, text=True,
                       env=env, check=True)
    return r.stdout.split()


def test_warm_process_runs_the_linked_library_without_llvm(tmp_path):
    if jit.linker() is None:
        pytest.skip("no C compiler on the PATH: kernels load through MCJIT")
    cold = _run_warm(tmp_path)
    warm = _run_warm(tmp_path)
    assert cold[:3] == ["False", "True", "True"]  # compiled: LLVM was needed
    assert warm[:3] == ["True", "True", "False"]  # from the cache: LLVM never loaded
    assert cold[3] == warm[3]
    expected = 3.0 / (1.0 + np.exp(-1.5))
    assert float(warm[3]) == pytest.approx(expected, rel=1e-15)


def test_without_a_linker_kernels_run_through_mcjit(tmp_path):
    cold = _run_warm(tmp_path, SYMNET_LINKER="")
    warm = _run_warm(tmp_path, SYMNET_LINKER="")
    assert cold[:2] == ["False", "False"] and warm[:2] == ["True", "False"]
    assert cold[3] == warm[3]
    # A cache entry made without a linker is a different entry from one with it.
    if jit.linker() is not None:
        assert _run_warm(tmp_path)[:2] == ["False", "True"]


def test_a_broken_linker_falls_back_to_mcjit(tmp_path):
    fake = tmp_path / "bin" / "cc"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    out = _run_warm(tmp_path / "cache", SYMNET_LINKER=str(fake))
    assert out[:2] == ["False", "False"]
    assert float(out[3]) == pytest.approx(3.0 / (1.0 + np.exp(-1.5)), rel=1e-15)


def test_modules_with_the_same_symbols_stay_apart():
    # Every kernel module defines the same global names (the gemm pointer,
    # math helpers); each loaded library must use its own.
    x = sp.Symbol("x")
    ks = [symnet.compile([sp.exp(x) * c], [x], backend="llvm", name="same")
          for c in (2, 3, 5)]
    vals = [float(k(np.array([0.5]))[0][0]) for k in ks]
    assert vals == pytest.approx([c * np.exp(0.5) for c in (2, 3, 5)], rel=1e-15)


def _split_kernel(tag: float):
    # Enough groups (products, a column op, loops) to fill two module parts.
    net = MLP([6, 5, 4], "tanh")
    ins = [net.X, net.labels(), *net.params]
    k = symnet.compile_grad(net.risk(lam=0.01 * tag), net.params, ins,
                            backend="llvm")
    rng = np.random.default_rng(7)
    X = rng.standard_normal((6, 9))
    T = np.eye(4)[:, rng.integers(0, 4, 9)]
    ps = [rng.standard_normal(tuple(int(d) for d in p.shape)) for p in net.params]
    return k, k(X, T, *ps), symnet.compile_grad(
        net.risk(lam=0.01 * tag), net.params, ins, backend="numpy")(X, T, *ps)


def test_parts_compiled_in_parallel_agree_with_numpy(monkeypatch):
    monkeypatch.setenv("SYMNET_COMPILE_JOBS", "2")
    k, got, want = _split_kernel(1.0)
    assert "; ---- part 1 of 2 ----" in k.llvm_ir_optimized  # really split
    assert "; ---- part 1 of 2 ----" in k.asm
    for a, b in zip(got, want, strict=True):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_a_failed_compile_child_is_redone_in_process(monkeypatch):
    monkeypatch.setenv("SYMNET_COMPILE_JOBS", "2")
    started = []

    def broken_child(ir_text):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os._exit(3)  # dies without writing anything
        os.close(w)
        started.append(pid)
        return pid, r

    monkeypatch.setattr(jit, "_fork_compile", broken_child)
    k, got, want = _split_kernel(2.0)
    assert started  # a part was handed to the (failing) child
    for a, b in zip(got, want, strict=True):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_one_job_compiles_one_module(monkeypatch):
    monkeypatch.setenv("SYMNET_COMPILE_JOBS", "1")
    k, got, want = _split_kernel(3.0)
    assert "; ---- part" not in k.llvm_ir_optimized
    for a, b in zip(got, want, strict=True):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_parts_load_through_mcjit_without_a_linker(monkeypatch):
    monkeypatch.setenv("SYMNET_COMPILE_JOBS", "2")
    monkeypatch.setenv("SYMNET_LINKER", "")
    k, got, want = _split_kernel(4.0)
    assert not k.fn.current.compiled.native
    assert "; ---- part 1 of 2 ----" in k.llvm_ir_optimized
    for a, b in zip(got, want, strict=True):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_libraries_missing_from_the_global_scope_are_linked(monkeypatch, tmp_path):
    """libc and libm are linked only if this process's global symbols lack
    them; a kernel calling libm (atan2, lgamma) loads either way, and the
    choice is part of the target fingerprint (a library linked without them
    is never loaded where they are needed)."""
    import math

    if jit.linker() is None:
        pytest.skip("no C compiler on the PATH: kernels load through MCJIT")
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    x, y = sp.symbols("x y")
    xs, ys = np.array([0.3, 1.2, 4.5]), np.array([0.7, -2.5, 3.0])
    want = [math.atan2(a, b) + math.lgamma(a) for a, b in zip(xs, ys, strict=True)]

    monkeypatch.setattr(jit, "_LIBS", None)
    assert jit._runtime_libraries() == []          # CPython on glibc: both are there
    plain = jit.target_fingerprint()
    k = symnet.compile([sp.atan2(x, y) + sp.loggamma(x)], [x, y], backend="llvm")
    assert k.fn.current.compiled.native
    assert np.allclose(k(xs, ys)[0], want, rtol=1e-14)

    monkeypatch.setattr(jit, "_LIBS", None)
    monkeypatch.setattr(jit, "_RUNTIME_LIBRARIES",
                        (("-lc", ("memset",)), ("-lm", ("sin", "symnet_no_such_symbol"))))
    assert jit._runtime_libraries() == ["-lm"]
    assert jit.target_fingerprint() != plain
    linked = []
    real = jit._link
    monkeypatch.setattr(jit, "_link", lambda objs: linked.append(1) or real(objs))
    k = symnet.compile([sp.atan2(x, y) + sp.loggamma(x) * 1], [x, y], backend="llvm")
    assert linked and k.fn.current.compiled.native and not k.fn.current.compiled.from_cache
    assert np.allclose(k(xs, ys)[0], want, rtol=1e-14)
