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


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matrix_vector_products_in_explicit_vectors(dtype, tmp_path, monkeypatch):
    """A x with both dims known and the inner one a multiple of the lanes runs
    in explicit vectors (one accumulator per row, the sums of a block of rows
    transposed into one vector): against NumPy, with rows left over after the
    blocks and shapes where it does not apply."""
    from symnet.backends.llvm.jit import vector_bits

    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    lanes = vector_bits() // (64 if dtype == "float64" else 32)
    rng = np.random.default_rng(4)
    tol = 1e-13 if dtype == "float64" else 1e-5
    for rows, inner in [(lanes, lanes), (lanes + 3, 2 * lanes), (32, 64), (4 * lanes + 1, lanes),
                        (lanes - 1, lanes), (2 * lanes, lanes + 1), (10, 32),
                        (9 * lanes, 3), (17 * lanes, 2)]:
        for ta in (False, True):
            A = sp.MatrixSymbol("A", *((inner, rows) if ta else (rows, inner)))
            x = sp.MatrixSymbol("x", inner, 1)
            kern = symnet.compile([(A.T if ta else A) * x], [A, x], backend="llvm", dtype=dtype)
            # A x: a block of rows per pass; A^T x: out's vectors kept in registers
            vectorized = rows % lanes == 0 if ta else rows >= lanes and inner % lanes == 0
            assert (("cacc" if ta else "vacc") in kern.fn.llvm_ir) == vectorized, (rows, inner)
            for scale in (1.0, 800.0):
                a = (scale * rng.standard_normal((inner, rows) if ta else (rows, inner)))
                a = a.astype(dtype)
                v = rng.standard_normal((inner, 1)).astype(dtype)
                op = a.T if ta else a
                want = op.astype(np.float64) @ v.astype(np.float64)
                got = kern(a, v)[0]
                bound = tol * np.abs(op).astype(np.float64) @ np.abs(v).astype(np.float64)
                assert np.all(np.abs(got - want) <= bound + 1e-300), (rows, inner, scale, ta)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_explicit_vector_dot_rows_apply_an_update_scale(dtype, ta):
    """The folded form out = beta out + alpha op(A) x of the explicit-vector
    products (an update consuming the product), emitted alone and run
    through MCJIT."""
    import ctypes

    from llvmlite import ir

    from symnet.backends.llvm import jit
    from symnet.backends.llvm.irutil import I64, PTR, Ctx
    from symnet.backends.llvm.matmul import Scale
    from symnet.backends.llvm.matvec import dot_cols_vector, dot_rows_vector

    elem = ir.DoubleType() if dtype == "float64" else ir.FloatType()
    lanes = jit.vector_bits() // (64 if dtype == "float64" else 32)
    rows, inner = 2 * lanes + 3, 2 * lanes
    module = ir.Module("t")
    module.triple = jit.target_machine().triple
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, elem, elem]),
                     name="f")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    c = Ctx(module, b, elem, {}, vector_bits=jit.vector_bits())
    A, x, out, alpha, beta = fn.args
    if ta:
        rows = 9 * lanes  # more vectors than one pass keeps in registers
    emit = dot_cols_vector if ta else dot_rows_vector
    assert emit(c, A, x, out, I64(rows), I64(inner), Scale(alpha, beta))
    b.ret_void()
    obj, _ = jit._compile_one(str(module))
    engine = jit._engine_from_objects([obj])
    ct = ctypes.c_double if dtype == "float64" else ctypes.c_float
    f = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ct, ct)(
        engine.get_function_address("f"))
    rng = np.random.default_rng(5)
    a = rng.standard_normal((inner, rows) if ta else (rows, inner)).astype(dtype)
    v = rng.standard_normal(inner).astype(dtype)
    o = rng.standard_normal(rows).astype(dtype)
    want = 0.75 * o.astype(np.float64) - 0.5 * ((a.T if ta else a).astype(np.float64) @ v)
    f(a.ctypes.data, v.ctypes.data, o.ctypes.data, -0.5, 0.75)
    np.testing.assert_allclose(o, want, rtol=1e-12 if dtype == "float64" else 1e-5,
                               atol=1e-12 if dtype == "float64" else 1e-5)


def test_one_sample_steps_choose_their_product_versions_at_compile_time(tmp_path, monkeypatch):
    """With the batch fixed to one sample, every product's dims are known: the
    epoch's step calls no run-time routine (it did, when the plan's fixed
    batch was not put into the products' dims), and trains like the NumPy
    backend."""
    from symnet.nn import MLP
    from symnet.sgd import compile_sgd

    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    net = MLP([16, 12, 3], "logistic")
    sgds = {be: compile_sgd(net.risk(lam=1e-3), net.params, net.X, net.labels(), backend=be,
                            track_loss=False) for be in ("llvm", "numpy")}
    sgds["llvm"].compile_for(1)
    assert "symnet.mm." not in sgds["llvm"].source
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((16, 40)), rng.integers(0, 3, 40)
    start = [rng.standard_normal(p.shape) * 0.3 for p in net.params]
    got = {}
    for be, sgd in sgds.items():
        ps = [np.ascontiguousarray(p) for p in start]
        for e in range(3):
            sgd.epoch(X, y, np.random.default_rng(e).permutation(40), 1, 0.1, ps)
        got[be] = ps
    for a, b in zip(got["llvm"], got["numpy"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
