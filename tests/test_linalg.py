"""Matrix powers, inverses (as solves), determinants, log-determinants and
Kronecker products: values and gradients on both backends and dtypes,
against NumPy's own linear algebra and central differences."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnet

n = sp.Symbol("n", integer=True, positive=True)
p = sp.Symbol("p")


def _cases(N):
    """(name, expression, inputs, NumPy reference f(*arrays)) with A N x N."""
    A, B = sp.MatrixSymbol("A", N, N), sp.MatrixSymbol("B", N, 2)
    X = sp.MatrixSymbol("X", 2, N)
    inv = np.linalg.inv
    return [
        ("solve", symnet.matsum(A.I * B), [A, B], lambda a, b: np.sum(np.linalg.solve(a, b))),
        ("inverse-times-on-the-right", symnet.matsum(X * A.I), [A, X],
         lambda a, x: np.sum(x @ inv(a))),
        ("trace-of-inverse", sp.Trace(A.I), [A], lambda a: np.trace(inv(a))),
        ("logdet", sp.log(sp.det(A * A.T)), [A], lambda a: np.linalg.slogdet(a @ a.T)[1]),
        ("det", sp.det(A), [A], np.linalg.det),
        ("power-3", symnet.matsum(A ** 3), [A], lambda a: np.sum(a @ a @ a)),
        ("power-minus-2", symnet.matsum(A ** -2), [A], lambda a: np.sum(inv(a @ a))),
        ("trace-of-square", sp.Trace(A * A), [A], lambda a: np.trace(a @ a)),
        ("trace-of-power-5", sp.Trace(A ** 5), [A],
         lambda a: np.trace(np.linalg.matrix_power(a, 5))),
        ("identity-and-zero", symnet.matsum((A + sp.Identity(N)) ** 2 + sp.ZeroMatrix(N, N)
                                            + A * sp.Identity(N)), [A],
         lambda a: np.sum((a + np.eye(len(a))) @ (a + np.eye(len(a))) + a)),
        ("hadamard-power-symbolic", symnet.matsum(sp.HadamardPower(B, p)), [B, p],
         lambda b, q: np.sum(np.abs(b) ** q)),
        ("solve-of-a-solve", symnet.matsum(sp.HadamardPower(A.I * (A.T).I * B, 2)), [A, B],
         lambda a, b: np.sum((inv(a) @ inv(a.T) @ b) ** 2)),
    ]


def _values(ins, rng, N):
    out = []
    for v in ins:
        if v == p:
            out.append(2.5)
        elif v.name == "A":
            out.append(rng.standard_normal((N, N)) + 2.5 * np.eye(N))
        elif v.name == "B":
            out.append(np.abs(rng.standard_normal((N, 2))) + 0.5)
        else:  # X, 2 x N
            out.append(rng.standard_normal((2, N)))
    return out


def _central(f, vals, k, eps=1e-6):
    g = np.zeros_like(np.asarray(vals[k], dtype=float))
    for idx in np.ndindex(*g.shape):
        hi = [np.array(v, dtype=float, copy=True) for v in vals]
        lo = [np.array(v, dtype=float, copy=True) for v in vals]
        hi[k][idx] += eps
        lo[k][idx] -= eps
        g[idx] = (f(*hi) - f(*lo)) / (2 * eps)
    return g


NAMES = [c[0] for c in _cases(3)]


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("name", NAMES)
def test_value_and_gradient_match_numpy_and_central_differences(name, backend):
    for N in (1, 3, 5):
        _, e, ins, f = next(c for c in _cases(N) if c[0] == name)
        wrt = [v for v in ins if v != p]
        vals = _values(ins, np.random.default_rng(N), N)
        out = symnet.compile_grad(e, wrt, ins, backend=backend)(*vals)
        want = f(*vals)
        assert abs(float(out[0]) - want) <= 1e-11 * max(1.0, abs(want)), (name, N)
        for k, w in enumerate(wrt):
            num = _central(f, vals, ins.index(w))
            got = np.asarray(out[1 + k], dtype=float).reshape(num.shape)
            scale = max(1.0, float(np.max(np.abs(num))))
            assert np.max(np.abs(got - num)) <= 2e-6 * scale, (name, N, str(w))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_llvm_matches_numpy_with_a_symbolic_size(name, dtype):
    # One kernel for every n: the size is read off the arrays at call time.
    _, e, ins, _ = next(c for c in _cases(n) if c[0] == name)
    wrt = [v for v in ins if v != p]
    kernels = {b: symnet.compile_grad(e, wrt, ins, backend=b, dtype=dtype)
               for b in ("numpy", "llvm")}
    tol = 1e-10 if dtype == "float64" else 1e-4
    for N in (1, 2, 4, 7):
        vals = [np.asarray(v, dtype=dtype) if np.ndim(v) else v
                for v in _values(ins, np.random.default_rng(10 + N), N)]
        want = kernels["numpy"](*vals)
        got = kernels["llvm"](*vals)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(np.asarray(g, dtype=float), np.asarray(w, dtype=float),
                                       rtol=tol, atol=tol, err_msg=f"{name} n={N}")


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_kronecker_product_and_its_factors_gradients(backend):
    A, B = sp.MatrixSymbol("A", 2, 3), sp.MatrixSymbol("B", 3, 2)
    C = sp.MatrixSymbol("C", 6, 6)
    e = (symnet.matsum(sp.HadamardProduct(sp.KroneckerProduct(A, B), C))
         + symnet.matsum(sp.HadamardPower(sp.KroneckerProduct(A, B, A), 2)))
    rng = np.random.default_rng(0)
    vals = [rng.standard_normal((2, 3)), rng.standard_normal((3, 2)), rng.standard_normal((6, 6))]

    def f(a, b, c):
        return np.sum(np.kron(a, b) * c) + np.sum(np.kron(np.kron(a, b), a) ** 2)

    out = symnet.compile_grad(e, [A, B, C], [A, B, C], backend=backend)(*vals)
    assert abs(float(out[0]) - f(*vals)) <= 1e-12 * abs(f(*vals))
    for k in range(3):
        np.testing.assert_allclose(out[1 + k], _central(f, vals, k), rtol=1e-6, atol=1e-6)


def test_kronecker_gradient_formula_compiles_back():
    # The derived formula is SymPy again (kron_adjoint_A(...)) and compiles.
    A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 3, 1)
    e = symnet.matsum(sp.HadamardPower(sp.KroneckerProduct(A, B), 2))
    (dA,) = symnet.grad(e, [A])
    assert "kron_adjoint_A" in str(dA)
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 2)), rng.standard_normal((3, 1))
    want = 2 * a * np.sum(b ** 2)
    for backend in ("numpy", "llvm"):
        got = symnet.compile([dA], [A, B], backend=backend)(a, b)[0]
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_the_gradient_of_log_det_reads_as_the_inverse_transpose():
    A = sp.MatrixSymbol("A", 3, 3)
    (dA,) = symnet.grad(sp.log(sp.det(A)), [A])
    assert sp.simplify(dA - sp.Inverse(A).T) == sp.ZeroMatrix(3, 3)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_inverse_in_a_product_is_a_solve(backend):
    A, B = sp.MatrixSymbol("A", 4, 4), sp.MatrixSymbol("B", 4, 2)
    k = symnet.compile([A.I * B], [A, B], backend=backend)
    assert [s.op for s in k.program.steps] == ["solve"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_log_det_stays_finite_where_det_overflows(backend, dtype):
    A = sp.MatrixSymbol("A", 3, 3)
    k = symnet.compile_grad(sp.log(sp.det(A)), [A], [A], backend=backend, dtype=dtype)
    big = 1e200 if dtype == "float64" else 1e30
    a = np.diag([big, big, big]).astype(dtype)
    value, grad = k(a)
    assert np.isfinite(value)
    np.testing.assert_allclose(float(value), 3 * np.log(big), rtol=1e-6)
    np.testing.assert_allclose(grad, np.diag([1 / big] * 3), rtol=1e-5)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_log_det_of_a_negative_determinant_is_nan_and_det_keeps_its_sign(backend):
    A = sp.MatrixSymbol("A", 2, 2)
    k = symnet.compile([sp.log(sp.det(A)), sp.det(A)], [A], backend=backend)
    with np.errstate(invalid="ignore"):
        ld, d = k(np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert np.isnan(ld)
    assert float(d) == -1.0


def test_a_singular_matrix_is_an_error_on_numpy_and_non_finite_on_llvm():
    A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 2, 1)
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    b = np.ones((2, 1))
    with pytest.raises(np.linalg.LinAlgError, match="2 x 2 matrix .* is singular"):
        symnet.compile([A.I * B], [A, B])(singular, b)
    with np.errstate(all="ignore"):
        out = symnet.compile([A.I * B], [A, B], backend="llvm")(singular, b)[0]
    assert not np.isfinite(out).all()


def test_shapes_are_checked_with_the_expression_named():
    m = sp.Symbol("m", integer=True, positive=True)
    A = sp.MatrixSymbol("A", n, m)
    with pytest.raises(symnet.ShapeError, match=r"non-square n x m matrix \(in log\(Determinant"):
        symnet.grad(sp.log(sp.det(A)), [A])
    with pytest.raises(symnet.ShapeError, match=r"inverse of a non-square .*\(in A\*\*\(-1\)"):
        symnet.grad(sp.Trace(sp.Inverse(A)), [A])
    P = sp.MatrixSymbol("P", m, 2)
    with pytest.raises(symnet.ShapeError, match="Kronecker product needs concrete shapes"):
        symnet.grad(symnet.matsum(sp.KroneckerProduct(P, P)), [P])
