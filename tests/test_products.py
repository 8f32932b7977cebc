"""Matrix products' code versions: chosen at compile time when the dimensions are
known (symnet.lower.product_versions), else one shared routine per transpose pattern
that chooses per call; every version against NumPy, in one process and one cache."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet.lower import product_versions

m, n, k = sp.symbols("m n k", integer=True, positive=True)


def _operands(ta: bool, tb: bool, rows, cols, inner):
    A = sp.MatrixSymbol("A", *((inner, rows) if ta else (rows, inner)))
    B = sp.MatrixSymbol("B", *((cols, inner) if tb else (inner, cols)))
    return A, B, (A.T if ta else A) * (B.T if tb else B)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_products_of_run_time_dims_agree_with_numpy_in_every_version(dtype, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(2)
    # one column (dot products), small (loops), past the BLAS threshold (32^3)
    sizes = [(7, 1, 5), (1, 9, 4), (13, 6, 11), (40, 37, 33), (70, 1, 600)]
    for ta in (False, True):
        for tb in (False, True):
            A, B, expr = _operands(ta, tb, m, n, k)
            kern = symnet.compile([expr], [A, B], backend="llvm", dtype=dtype)
            for r, c, i in sizes:
                a = rng.standard_normal((i, r) if ta else (r, i)).astype(dtype)
                b = rng.standard_normal((c, i) if tb else (i, c)).astype(dtype)
                want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b)
                got = kern(a, b)[0]
                tol = 1e-12 if dtype == "float64" else 1e-4
                scale = max(1.0, float(np.abs(want).max()))
                assert np.abs(got - want).max() <= tol * scale * i, (ta, tb, r, c, i)


def test_one_routine_per_transpose_pattern_for_run_time_dims():
    W1, W2 = sp.MatrixSymbol("W1", 5, 4), sp.MatrixSymbol("W2", 3, 5)
    X = sp.MatrixSymbol("X", 4, m)
    kern = symnet.compile([W2 * symnet.ops.logistic(W1 * X)], [W1, W2, X], backend="llvm")
    ir_text = kern.fn.llvm_ir
    # two products with a symbolic batch, both op(A) op(B) = A B: one definition
    assert ir_text.count('define hidden void @"symnet.mm.nn.f64"') == 1
    rng = np.random.default_rng(0)
    w1, w2 = rng.standard_normal((5, 4)), rng.standard_normal((3, 5))
    for cols in (1, 3, 50):
        x = rng.standard_normal((4, cols))
        want = w2 @ (1 / (1 + np.exp(-(w1 @ x))))
        np.testing.assert_allclose(kern(w1, w2, x)[0], want, rtol=1e-13, atol=1e-13)


def test_fixed_dims_get_only_the_versions_they_need():
    assert product_versions(32, 1, 64, 32768) == frozenset({"dot"})
    assert product_versions(64, 64, 784, 32768) == frozenset({"ipj", "blas"})
    assert product_versions(m, 1, 64, 32768) is None
    small = sp.MatrixSymbol("S", 6, 5) * sp.MatrixSymbol("T", 5, 4)
    kern = symnet.compile([small], list(small.free_symbols), backend="llvm")
    ir_text = kern.fn.llvm_ir
    assert "mm.blas" not in ir_text and "symnet.mm." not in ir_text
