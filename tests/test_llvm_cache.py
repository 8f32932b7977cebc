"""The LLVM compile cache: memory and disk, corruption detected, concurrency safe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import sympy as sp

import symnet
from symnet.backends.llvm import jit

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


def test_cache_key_depends_on_ir():
    a = jit._key("define void @f() { ret void }")
    b = jit._key("define void @g() { ret void }")
    assert a != b and len(a) == 64


def test_memory_cache_in_process():
    x = sp.Symbol("x")
    k1 = symnet.compile([sp.tanh(x) * 7], [x], backend="llvm")
    k2 = symnet.compile([sp.tanh(x) * 7], [x], backend="llvm")
    assert k2.fn.current.compiled.from_cache
    assert np.array_equal(k1(np.ones(3))[0], k2(np.ones(3))[0])
