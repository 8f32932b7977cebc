"""Bad input gets an exception that names the offending expression, argument or shape."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet.nn import MLP

n, m = sp.symbols("n m", integer=True, positive=True)
W = sp.MatrixSymbol("W", 3, 2)
V = sp.MatrixSymbol("V", 4, 4)
x = sp.MatrixSymbol("x", 2, 1)
s, t = sp.symbols("s t")


def test_shape_mismatch_in_product():
    """SymPy lets symbolic sizes through; symnet names the product and sizes."""
    P, Q = sp.MatrixSymbol("P", n, n), sp.MatrixSymbol("Q", m, 2)
    with pytest.raises(symnet.ShapeError, match="n x n by m x 2: inner dimensions n and m"):
        symnet.grad(symnet.matsum(P * Q), [Q])


def test_shape_mismatch_in_elementwise():
    with pytest.raises(symnet.ShapeError, match=r"prelu\(W, g\) with shapes 3 x 2, 4 x 1"):
        symnet.grad(symnet.matsum(symnet.prelu(W, sp.MatrixSymbol("g", 4, 1))), [W])


def test_non_scalar_loss():
    with pytest.raises(symnet.ShapeError, match=r"must be a scalar.*3 x 1 matrix W\*x"):
        symnet.grad(W * x, [W])


def test_parameter_not_used():
    with pytest.raises(ValueError, match="does not depend on t"):
        symnet.grad(sp.sin(s), [s, t])


def test_unsupported_function():
    # (gamma, once the example here, is a registry row now.)
    with pytest.raises(symnet.UnsupportedError, match="zeta"):
        symnet.grad(sp.zeta(s), [s])


def test_unsupported_matrix_operation():
    with pytest.raises(symnet.UnsupportedError, match="DiagonalOf"):
        symnet.grad(symnet.matsum(sp.DiagonalOf(V)), [V])


def test_a_symbolic_matrix_power_is_refused_naming_it():
    k = sp.Symbol("k", integer=True)
    with pytest.raises(symnet.UnsupportedError, match=r"matrix power V\*\*k.*exponent k"):
        symnet.grad(sp.Trace(sp.MatPow(V, k)), [V])


def test_wrt_must_be_a_symbol():
    with pytest.raises(TypeError, match="Symbol or MatrixSymbol"):
        symnet.grad(s * t, [s * t])


def test_missing_input_named():
    with pytest.raises(ValueError, match="t, which is not among the inputs"):
        symnet.compile([s * t], [s])


class TestKernelArguments:
    k = symnet.compile([symnet.matsum(W * x)], [W, x])

    def test_wrong_shape(self):
        with pytest.raises(symnet.ShapeError, match=r"argument W: expected shape 3 x 2, got 2 x 3"):
            self.k(np.ones((2, 3)), np.ones((2, 1)))

    def test_wrong_ndim(self):
        with pytest.raises(symnet.ShapeError, match="argument W"):
            self.k(np.ones((3, 2, 1)), np.ones((2, 1)))

    def test_wrong_dtype(self):
        with pytest.raises(TypeError, match="argument x: expected real numbers"):
            self.k(np.ones((3, 2)), np.array([["a"], ["b"]]))
        with pytest.raises(TypeError, match="argument W: expected real numbers, got dtype complex"):
            self.k(np.ones((3, 2), dtype=complex), np.ones((2, 1)))

    def test_missing_and_unknown_arguments(self):
        with pytest.raises(TypeError, match="missing argument"):
            self.k(np.ones((3, 2)))
        with pytest.raises(TypeError, match="unknown argument 'y'"):
            self.k(np.ones((3, 2)), y=1)
        with pytest.raises(TypeError, match="takes 2 arguments"):
            self.k(1, 2, 3)

    def test_keyword_call_and_column_vector(self):
        out = self.k(x=np.array([1.0, 2.0]), W=np.ones((3, 2)))[0]
        assert out == 9.0

    def test_non_contiguous_is_accepted(self):
        big = np.arange(24.0).reshape(6, 4)
        view = big[::2, ::2]
        assert not view.flags.c_contiguous
        want = float(np.sum(view @ np.ones((2, 1))))
        assert self.k(view, np.ones((2, 1)))[0] == want


def test_inconsistent_dimension():
    A = sp.MatrixSymbol("A", n, m)
    B = sp.MatrixSymbol("B", m, 1)
    k = symnet.compile([A * B], [A, B])
    with pytest.raises(symnet.ShapeError, match="dimension m is 4 here but 3"):
        k(np.ones((2, 3)), np.ones((4, 1)))


def test_integer_labels_out_of_range():
    net = MLP([2, 3], [], output="softmax")
    R = net.risk(lam=0.0)
    k = symnet.compile([R], [net.X, net.labels(), *net.params])
    args = [np.zeros((3, 2)), np.zeros((3, 1))]
    assert np.isfinite(k(np.ones((2, 2)), np.array([0, 2]), *args)[0])
    with pytest.raises(ValueError, match="argument Y: class labels must lie in 0..2"):
        k(np.ones((2, 2)), np.array([0, 3]), *args)


def test_points_only_without_matrices():
    k = symnet.compile([symnet.matsum(W * x) * s], [W, x, s])
    with pytest.raises(symnet.ShapeError, match="argument s"):
        k(np.ones((3, 2)), np.ones((2, 1)), np.ones(4))


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        symnet.compile([s], [s], backend="cuda")


def test_bad_dtype_option():
    with pytest.raises(TypeError, match="float64 or float32"):
        symnet.compile([s], [s], dtype="int32")


def test_nan_inputs_propagate_not_crash():
    k = symnet.compile([symnet.logistic(s)], [s])
    assert np.isnan(k(np.nan)[0])
