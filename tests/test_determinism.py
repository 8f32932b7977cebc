"""Same expression, same generated code: the text of every stage is independent of
the process's hash seed (nothing is ordered by set iteration, hash or id)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

#: CSE once ordered the subexpressions it lifted by set iteration: in exactly
#: this fresh process, hash seeds 1 and 3 gave different code.
SMALL = r'''
import sympy as sp, numpy as np, symnet
x, y = sp.symbols("x y")
e = symnet.logistic(x * y) + sp.tanh(x) ** 2 + sp.log(1 + sp.exp(y))
k = symnet.compile_grad(e, [x, y], [x, y], backend="numpy")
print(k.source)
'''

SCRIPT = r'''
import hashlib, sympy as sp, symnet
from symnet.nn import MLP
from symnet.sgd import compile_sgd
out = []
x, y, w = sp.symbols("x y w")
e = symnet.logistic(w * x * y) + sp.tanh(x) ** 2 + sp.sin(x * w)
for be in ("numpy", "llvm"):
    out.append(symnet.compile_grad(e, [x, y, w], [x, y, w], backend=be).source)
for sizes, act in (([5, 7, 3], "relu"), ([4, 6, 6, 2], "tanh")):
    net = MLP(sizes, act)
    risk = net.risk(lam=1e-3)
    ins = [net.X, net.labels(), *net.params]
    out.append(str(symnet.grad(risk, net.params)))
    for be in ("numpy", "llvm"):
        out.append(symnet.compile_grad(risk, net.params, ins, backend=be).source)
    sgd = compile_sgd(risk, net.params, net.X, net.labels(), backend="numpy")
    out.append(sgd.source)
    llvm = compile_sgd(risk, net.params, net.X, net.labels(), backend="llvm")
    llvm.compile_for(4)
    out.append(llvm.source)
print(hashlib.sha256("\n=====\n".join(out).encode()).hexdigest())
'''


@pytest.mark.parametrize("script", [SMALL, SCRIPT], ids=["formula", "networks"])
def test_generated_code_does_not_depend_on_the_hash_seed(script):
    texts = set()
    for seed in ("1", "2", "3", "4"):
        # No disk cache: each process derives and generates everything itself.
        env = {**os.environ, "PYTHONHASHSEED": seed, "SYMNET_CACHE_DIR": ""}
        res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        texts.add(res.stdout)
    assert len(texts) == 1, texts
