"""The wrong numbers a new user met, each as a test (they all failed before the
kernel identity, output and target fixes): kernels differing in one dimension,
inputs and constants returned from point-wise kernels, zero gradients of
piecewise-constant factors, and training on a cache another run filled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symnet

m = sp.Symbol("m", integer=True, positive=True)


def _product(k: int, backend: str):
    W, X = sp.MatrixSymbol("W", 3, k), sp.MatrixSymbol("X", k, m)
    return symnet.compile([W * X], [W, X], backend=backend)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("cache", ["off", "shared"])
def test_kernels_differing_only_in_the_inner_dimension(backend, cache, monkeypatch, tmp_path):
    monkeypatch.setenv("SYMNET_CACHE_DIR", "" if cache == "off" else str(tmp_path))
    for k in (5, 4, 6, 4, 5):
        out = _product(k, backend)(np.ones((3, k)), np.ones((k, 2)))[0]
        assert np.array_equal(out, np.full((3, 2), float(k))), (k, out)


SCRIPT = """
import numpy as np, sympy as sp, symnet
m = sp.Symbol("m", integer=True, positive=True)
k = {k}
W, X = sp.MatrixSymbol("W", 3, k), sp.MatrixSymbol("X", k, m)
rng = np.random.default_rng(k)
A, B = rng.standard_normal((3, k)), rng.standard_normal((k, 2))
out = symnet.compile([W * X], [W, X], backend="llvm")(A, B)[0]
print(float(np.max(np.abs(out - A @ B))))
"""


def test_a_disk_cache_entry_is_never_used_for_another_inner_dimension(tmp_path):
    env = dict(os.environ, SYMNET_CACHE_DIR=str(tmp_path))
    for k in (400, 3, 400, 3):
        r = subprocess.run([sys.executable, "-c", SCRIPT.format(k=k)], capture_output=True,
                           text=True, env=env, check=True)
        assert float(r.stdout) < 1e-12, (k, r.stdout)


def test_training_on_a_cache_filled_by_a_run_on_other_data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 16, (60, 64)).round()
    y = rng.integers(0, 10, 60)
    small = tmp_path / "small.csv"
    np.savetxt(small, np.column_stack([X, y]), delimiter=",", fmt="%g")
    env = dict(os.environ, SYMNET_CACHE_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "symnet.cli", "train", "--no-progress", "--epochs", "3"]
    subprocess.run([*cmd, "--data", str(small)], env=env, check=True, capture_output=True)
    r = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    line = next(t for t in r.stdout.splitlines() if t.startswith("validation accuracy"))
    accuracy = float(line.split(":")[1].split("%")[0])
    assert accuracy > 90.0, r.stdout


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_pass_through_and_constant_outputs(backend):
    x, y = sp.symbols("x y")
    xs, ys = np.linspace(0, 1, 5), np.linspace(2, 3, 5)
    assert np.array_equal(symnet.compile([y], [x, y], backend=backend)(xs, ys)[0], ys)
    value, dx = symnet.compile_grad(x * y, [x], [x, y], backend=backend)(xs, ys)
    assert np.array_equal(value, xs * ys) and np.array_equal(dx, ys)
    value, dx = symnet.compile_grad(3 * x, [x], [x], backend=backend)(xs)
    assert np.array_equal(value, 3 * xs) and np.array_equal(dx, np.full(5, 3.0))
    sq, three = symnet.compile([x ** 2, 3], [x], backend=backend)(xs)
    assert np.array_equal(sq, xs ** 2) and np.array_equal(three, np.full(5, 3.0))


def test_piecewise_constant_factors_have_zero_gradient():
    x, y = sp.symbols("x y")
    assert symnet.grad(sp.sign(x) * y, [x])[0] == 0
    assert symnet.grad(sp.Heaviside(x) * y, [x, y]) == [0, sp.Heaviside(x)]
    assert symnet.check_grad(sp.sign(x) * y + x ** 2, [x, y], {x: 0.7, y: -1.2}).ok


def test_a_variable_not_in_the_expression_is_one_clear_error():
    x, y = sp.symbols("x y")
    W = sp.MatrixSymbol("W", 2, 2)
    for call in (lambda: symnet.grad(y ** 2, [x]),
                 lambda: symnet.compile_grad(y ** 2, [x], [x, y]),
                 lambda: symnet.grad(symnet.matsum(W), [sp.MatrixSymbol("V", 2, 2)])):
        with pytest.raises(symnet.NoDependenceError, match="does not depend on (x|V)"):
            call()


def test_the_demo_data_trains_after_any_kernel_in_the_same_cache(tmp_path):
    # Same process, shared on-disk cache: MLPs of other widths first.
    from symnet.data import load_digits, reference_split
    from symnet.nn import MLP
    from symnet.train import accuracy, fit

    os.environ["SYMNET_CACHE_DIR"], old = str(tmp_path), os.environ["SYMNET_CACHE_DIR"]
    try:
        X, y = load_digits()
        X_tr, y_tr, X_va, y_va = reference_split(X, y)
        for hidden in (7, 32):
            rng = np.random.default_rng(hidden)
            fit(MLP([64, hidden, 10], "logistic"), rng.uniform(0, 1, (20, 64)),
                rng.integers(0, 10, 20), epochs=1, backend="llvm", progress=False)
        net = MLP([64, 32, 10], "logistic")
        res = fit(net, X_tr, y_tr, X_val=X_va, y_val=y_va, epochs=4, backend="llvm",
                  progress=False)
        assert accuracy(net, res.params, X_va, y_va, backend="llvm") > 0.9
    finally:
        os.environ["SYMNET_CACHE_DIR"] = old
    assert list(Path(tmp_path).glob("*.o"))
