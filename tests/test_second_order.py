"""Second order: JVP, HVP, GNVP and full Hessians against central differences and by hand."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from netcase import random_problem
from scipy.sparse.linalg import cg, eigsh

import symnet
from symnet.errors import NoDependenceError, ShapeError
from symnet.nn import MLP
from symnet.second_order import KINDS

PAIRS = [("softmax", "cross_entropy"), ("logistic", "binary_cross_entropy"),
         ("linear", "squared_error")]
EPS = 1e-5


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _setup(sizes, act, output, loss, m, seed=0, lam=0.01):
    rng = np.random.default_rng(seed)
    net = MLP(sizes, act, output=output)
    values, _, X, Y = random_problem(net, loss, m, rng)
    extra = [p for p in values if p not in net.params]        # prelu's gamma
    R = net.risk(loss, lam)
    ins = [net.X, net.labels(loss), *extra, *net.params]
    args = [X, Y, *[values[p] for p in extra]]
    P = [values[p] for p in net.params]
    V = [rng.standard_normal(p.shape) for p in P]
    return net, R, ins, args, P, V


def _fd_hv(kg, args, P, V):
    """Central difference of the compiled gradient along V."""
    gp = kg(*args, *[p + EPS * v for p, v in zip(P, V, strict=True)])[1:]
    gm = kg(*args, *[p - EPS * v for p, v in zip(P, V, strict=True)])[1:]
    return [(a - b) / (2 * EPS) for a, b in zip(gp, gm, strict=True)]


# ---------------------------------------------------------------- HVP
@pytest.mark.parametrize("act", list(symnet.ACTIVATIONS))
@pytest.mark.parametrize("output, loss", PAIRS)
@pytest.mark.parametrize("m", [1, 4])
def test_hvp_matches_central_differences_of_the_gradient(act, output, loss, m):
    net, R, ins, args, P, V = _setup([3, 4, 2], act, output, loss, m, seed=m)
    kg = symnet.compile_grad(R, net.params, ins)
    kh = symnet.compile_hvp(R, net.params, ins)
    out = kh(*args, *P, *V)
    k = len(P)
    value, grads, hv = out[0], out[1:1 + k], out[1 + k:]
    ref = kg(*args, *P)
    assert _rel(value, ref[0]) < 1e-12
    for a, b in zip(grads, ref[1:], strict=True):
        assert _rel(a, b) < 1e-12
    for a, b in zip(hv, _fd_hv(kg, args, P, V), strict=True):
        assert _rel(a, b) < 1e-6


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("output, loss", PAIRS)
def test_hvp_two_hidden_layers_both_backends(backend, output, loss):
    net, R, ins, args, P, V = _setup([4, 5, 3, 3], "tanh", output, loss, 6, seed=3)
    kg = symnet.compile_grad(R, net.params, ins, backend="numpy")
    kh = symnet.compile_hvp(R, net.params, ins, value=False, backend=backend)
    for a, b in zip(kh(*args, *P, *V), _fd_hv(kg, args, P, V), strict=True):
        assert _rel(a, b) < 1e-6
    k32 = symnet.compile_hvp(R, net.params, ins, value=False, backend=backend, dtype="float32")
    got = k32(*[np.asarray(a, np.float32) if isinstance(a, np.ndarray) else a for a in args],
              *[p.astype(np.float32) for p in P], *[v.astype(np.float32) for v in V])
    for a, b in zip(got, kh(*args, *P, *V), strict=True):
        assert a.dtype == np.float32
        assert _rel(a, b) < 2e-4


def _reference_hvp(X, Y, W1, b1, W2, b2, V, lam):
    """Pearlmutter's R-operator written out by hand for tanh -> softmax + CE + L2."""
    vW1, vb1, vW2, vb2 = V
    m = X.shape[1]
    z1 = W1 @ X + b1
    a1 = np.tanh(z1)
    z2 = W2 @ a1 + b2
    p = np.exp(z2 - z2.max(0))
    p /= p.sum(0)
    d2 = (p - Y) / m
    Rz1 = vW1 @ X + vb1
    Ra1 = (1 - a1 ** 2) * Rz1
    Rz2 = vW2 @ a1 + W2 @ Ra1 + vb2
    Rp = p * Rz2 - p * (p * Rz2).sum(0)
    Rd2 = Rp / m
    Rd1 = (vW2.T @ d2 + W2.T @ Rd2) * (1 - a1 ** 2) + (W2.T @ d2) * (-2 * a1 * Ra1)
    return [Rd1 @ X.T + lam * vW1, Rd1.sum(1, keepdims=True),
            Rd2 @ a1.T + d2 @ Ra1.T + lam * vW2, Rd2.sum(1, keepdims=True)]


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("m", [1, 7])
def test_hvp_matches_a_hand_written_r_operator(backend, m):
    net, R, ins, args, P, V = _setup([3, 5, 4], "tanh", "softmax", "cross_entropy", m, seed=11,
                                     lam=0.05)
    kh = symnet.compile_hvp(R, net.params, ins, value=False, backend=backend)
    ref = _reference_hvp(*args, *P, V, 0.05)
    for a, b in zip(kh(*args, *P, *V), ref, strict=True):
        assert _rel(a, b) < 1e-12


def test_hvp_matches_torch_where_installed():
    torch = pytest.importorskip("torch", reason="torch is in the bench extra only")
    net, R, ins, args, P, V = _setup([3, 5, 4], "tanh", "softmax", "cross_entropy", 5, seed=2,
                                     lam=0.05)
    X, Y = (torch.tensor(a) for a in args)

    def risk(W1, b1, W2, b2):
        z2 = W2 @ torch.tanh(W1 @ X + b1) + b2
        ce = -(Y * torch.log_softmax(z2, 0)).sum() / X.shape[1]
        return ce + 0.025 * ((W1 ** 2).sum() + (W2 ** 2).sum())

    _, ref = torch.autograd.functional.hvp(risk, tuple(torch.tensor(p) for p in P),
                                           tuple(torch.tensor(v) for v in V))
    kh = symnet.compile_hvp(R, net.params, ins, value=False)
    for a, b in zip(kh(*args, *P, *V), ref, strict=True):
        assert _rel(a, b.numpy()) < 1e-12


# ---------------------------------------------------------------- GNVP
def _jacobian_products(net, z, ins, args, P, V):
    """J v by central differences of the compiled output z, and a VJP kernel for J^T u."""
    zins = [ins[0], *ins[2:]]                       # X, prelu's gamma, parameters
    data = [args[0], *args[2:]]
    kz = symnet.compile([z], zins)
    Jv = (kz(*data, *[p + EPS * v for p, v in zip(P, V, strict=True)])[0]
          - kz(*data, *[p - EPS * v for p, v in zip(P, V, strict=True)])[0]) / (2 * EPS)
    U = sp.MatrixSymbol("U", *z.shape)
    kv = symnet.compile_grad(symnet.matsum(sp.HadamardProduct(U, z)), net.params, [U, *zins])
    return kz(*data, *P)[0], Jv, lambda u: kv(u, *data, *P)[1:]


GN_CASES = ([("numpy", act) for act in symnet.ACTIVATIONS]
            + [("llvm", "logistic"), ("llvm", "relu")])


@pytest.mark.parametrize("backend, act", GN_CASES)
@pytest.mark.parametrize("output, loss", PAIRS)
@pytest.mark.parametrize("m", [1, 5])
def test_gnvp_is_jt_closed_form_output_curvature_j(backend, act, output, loss, m):
    lam = 0.02
    net, R, ins, args, P, V = _setup([3, 4, 3], act, output, loss, m, seed=5, lam=lam)
    z = net.layers[-1].z[0]
    zval, Jv, jt = _jacobian_products(net, z, ins, args, P, V)
    if loss == "cross_entropy":
        p = np.exp(zval - zval.max(0))
        p /= p.sum(0)
        u = (p * Jv - p * (p * Jv).sum(0)) / m          # (diag p - p p^T) J v / m
    elif loss == "binary_cross_entropy":
        p = 1 / (1 + np.exp(-zval))
        u = p * (1 - p) * Jv / m
    else:
        u = Jv / m                                       # I / m
    ref = [g + (lam * v if w in net.weights else 0)
           for g, v, w in zip(jt(u), V, net.params, strict=True)]
    kn = symnet.compile_gnvp(R, net.params, ins, output=z, value=False, backend=backend)
    for a, b in zip(kn(*args, *P, *V), ref, strict=True):
        assert _rel(a, b) < 1e-6


def test_gauss_newton_equals_hessian_for_a_linear_model_with_squared_error():
    # z is linear in theta, so J^T H_L J is the whole Hessian.
    net, R, ins, args, P, V = _setup([3, 2], "linear", "linear", "squared_error", 4, seed=1)
    z = net.layers[-1].z[0]
    kh = symnet.compile_hvp(R, net.params, ins, value=False)
    kn = symnet.compile_gnvp(R, net.params, ins, output=z, value=False)
    for a, b in zip(kn(*args, *P, *V), kh(*args, *P, *V), strict=True):
        assert _rel(a, b) < 1e-12


def test_gauss_newton_is_positive_semidefinite_where_the_hessian_is_not():
    net, R, ins, args, P, V = _setup([3, 4, 3], "tanh", "softmax", "cross_entropy", 8, seed=9,
                                     lam=0.0)
    values = dict(zip(ins, [*args, *P], strict=True))
    H = symnet.curvature(R, net.params, values).dense()
    G = symnet.curvature(R, net.params, values, kind="gauss-newton",
                         output=net.layers[-1].z[0]).dense()
    assert np.linalg.eigvalsh(H).min() < -1e-6
    assert np.linalg.eigvalsh(G).min() > -1e-10
    assert np.abs(G - G.T).max() < 1e-12


# ---------------------------------------------------------------- JVP
@pytest.mark.parametrize("backend, act", [("numpy", a) for a in symnet.ACTIVATIONS]
                         + [("llvm", "softplus"), ("llvm", "maxout")])
def test_jvp_matches_central_differences_of_the_output(backend, act):
    net, R, ins, args, P, V = _setup([3, 4, 3], act, "softmax", "cross_entropy", 3, seed=4)
    f = net.output_expr
    fins, data = [ins[0], *ins[2:]], [args[0], *args[2:]]
    kf = symnet.compile([f], fins)
    kj = symnet.compile_jvp(f, net.params, fins, backend=backend)
    value, tangent = kj(*data, *P, *V)
    fd = (kf(*data, *[p + EPS * v for p, v in zip(P, V, strict=True)])[0]
          - kf(*data, *[p - EPS * v for p, v in zip(P, V, strict=True)])[0]) / (2 * EPS)
    assert _rel(value, kf(*data, *P)[0]) < 1e-12
    assert _rel(tangent, fd) < 1e-6


def test_jvp_formula_is_the_r_operator_of_a_dense_layer():
    W = sp.MatrixSymbol("W", 3, 2)
    b = sp.MatrixSymbol("b", 3, 1)
    x = sp.MatrixSymbol("x", 2, 1)
    (t,) = symnet.jvp(symnet.logistic(W * x + b), [W, b])
    vW, vb = sp.MatrixSymbol("v_W", 3, 2), sp.MatrixSymbol("v_b", 3, 1)
    rng = np.random.default_rng(0)
    vals = {s: rng.standard_normal(s.shape) for s in (W, b, x, vW, vb)}
    k = symnet.compile([t], [W, b, x, vW, vb])
    z = vals[W] @ vals[x] + vals[b]
    s = 1 / (1 + np.exp(-z))
    ref = s * (1 - s) * (vals[vW] @ vals[x] + vals[vb])          # f'(z) o (R{W} x + R{b})
    assert _rel(k(*[vals[s] for s in (W, b, x, vW, vb)])[0], ref) < 1e-12


# ---------------------------------------------------------------- full Hessians
FORMULAS = [
    lambda x, y, z: x ** 2 * y + sp.sin(x * z),
    lambda x, y, z: sp.exp(x * y) / (1 + z ** 2),
    lambda x, y, z: symnet.logistic(x * y + z),
    lambda x, y, z: sp.log(1 + x ** 2 + y ** 4) * sp.cos(z),
    lambda x, y, z: sp.erf(x - y) + sp.atan(y * z),
]


@pytest.mark.parametrize("k", range(len(FORMULAS)))
def test_hessian_of_a_scalar_formula_matches_sympy_and_is_symmetric(k):
    x, y, z = sp.symbols("x y z")
    f = FORMULAS[k](x, y, z)
    H = symnet.hessian(f, [x, y, z])
    ref = sp.hessian(f.rewrite(sp.exp) if f.has(symnet.logistic) else f, [x, y, z])
    rng = np.random.default_rng(k)
    for _ in range(3):
        pt = dict(zip((x, y, z), rng.uniform(-1.5, 1.5, 3), strict=True))
        a = np.array(H.matrix.subs(pt).rewrite(sp.exp).evalf(), dtype=float)
        b = np.array(ref.subs(pt).evalf(), dtype=float)
        assert _rel(a, b) < 1e-12
        assert np.array_equal(a, a.T)
    assert H.matrix == H.matrix.T


def test_hessian_agrees_with_compiled_curvature_and_central_differences():
    x, y = sp.symbols("x y")
    f = sp.exp(x) * sp.sin(y) + x ** 3 * y
    H = symnet.hessian(f, [x, y])
    pt = {x: 0.3, y: -0.7}
    dense = symnet.curvature(f, [x, y], pt).dense()
    kg = symnet.compile_grad(f, [x, y], [x, y])
    fd = np.empty((2, 2))
    for j, e in enumerate(np.eye(2)):
        gp = kg(0.3 + EPS * e[0], -0.7 + EPS * e[1])[1:]
        gm = kg(0.3 - EPS * e[0], -0.7 - EPS * e[1])[1:]
        fd[:, j] = [(a - b) / (2 * EPS) for a, b in zip(gp, gm, strict=True)]
    sym = np.array(H.subs(pt), dtype=float)
    assert _rel(sym, dense) < 1e-12
    assert _rel(dense, fd) < 1e-6


def test_hessian_blocks_of_a_small_matrix_parameter():
    W = sp.MatrixSymbol("W", 2, 2)
    x = sp.MatrixSymbol("x", 2, 1)
    f = symnet.matsum(symnet.softplus(W * x))
    H = symnet.hessian(f, [W])
    rng = np.random.default_rng(3)
    Wv, xv = rng.standard_normal((2, 2)), rng.standard_normal((2, 1))
    reps = {W[i, j]: Wv[i, j] for i in range(2) for j in range(2)}
    reps.update({x[i, 0]: xv[i, 0] for i in range(2)})
    sym = np.array(H.matrix.xreplace(reps).doit().evalf(), dtype=float)
    s = 1 / (1 + np.exp(-(Wv @ xv)))[:, 0]
    # d^2 / dW_ij dW_kl = delta_ik s_i (1 - s_i) x_j x_l
    ref = np.zeros((4, 4))
    for i in range(2):
        ref[2 * i:2 * i + 2, 2 * i:2 * i + 2] = s[i] * (1 - s[i]) * (xv @ xv.T)
    assert _rel(sym, ref) < 1e-12
    assert H.block(W, W).shape == (4, 4)


def test_hessian_printed_after_cse_at_the_textbook_point():
    x, w, b = sp.symbols("x w b")
    H = symnet.hessian(symnet.logistic(w * x + b), [w, b])
    assert str(H) == ("t0 = logistic(b + w*x)\n"
                      "t1 = t0*(1 - 2*t0)*(1 - t0)\n"
                      "d^2f/dw^2 = t1*x**2\n"
                      "d^2f/dw db = t1*x\n"
                      "d^2f/db^2 = t1")
    assert r"\frac{\partial^{2} f}{\partial w \partial b} &= t_{1} x" in H.latex()
    assert H.subs({x: 1, w: 0, b: 0}) == sp.zeros(2, 2)       # sigma''(0) = 0


def test_hessian_with_symbolic_sizes_says_what_to_use():
    net = MLP([2, 2, 2], "tanh")
    with pytest.raises(ShapeError, match="concrete"):
        symnet.hessian(net.risk(), net.params)


# ---------------------------------------------------------------- printing
def test_printed_r_propagation_of_a_two_hidden_layer_net():
    net = MLP([3, 4, 4, 2], "logistic", output="softmax")
    h = symnet.hvp(net.risk(), net.params)
    text = str(h).splitlines()
    expected = [
        "z1 = W1*X + b1*1",
        "a1 = logistic(z1)",
        "z2 = W2*a1 + b2*1",
        "a2 = logistic(z2)",
        "z3 = W3*a2 + b3*1",
        "a3 = softmax(z3)",
        "delta3 = 1/m*(a3 - Y)",
        "delta2 = HadamardProduct(W3.T*delta3, HadamardProduct(a2, -a2 + 1))",
        "R{z1} = v_W1*X + v_b1*1",
        "R{a1} = HadamardProduct(HadamardProduct(a1, -a1 + 1), R{z1})",
        "R{z2} = W2*R{a1} + v_W2*a1 + v_b2*1",
        "R{a2} = HadamardProduct(HadamardProduct(a2, -a2 + 1), R{z2})",
        "R{z3} = W3*R{a2} + v_W3*a2 + v_b3*1",
        "R{a3} = HadamardProduct(a3, -1*(1*(HadamardProduct(a3, R{z3}))) + R{z3})",
        "R{delta3} = 1/m*R{a3}",
        "R{delta2} = HadamardProduct(HadamardProduct(a2, -a2 + 1), W3.T*R{delta3} + "
        "v_W3.T*delta3) + HadamardProduct(W3.T*delta3, R{a2}, -2*a2 + 1)",
        "R{delta1} = HadamardProduct(HadamardProduct(a1, -a1 + 1), W2.T*R{delta2} + "
        "v_W2.T*delta2) + HadamardProduct(W2.T*delta2, R{a1}, -2*a1 + 1)",
        "R{dL/dW1} = lambda*v_W1 + R{delta1}*X.T",
        "R{dL/db1} = R{delta1}*1",
        "R{dL/dW2} = lambda*v_W2 + delta2*R{a1}.T + R{delta2}*a1.T",
        "R{dL/db2} = R{delta2}*1",
        "R{dL/dW3} = lambda*v_W3 + delta3*R{a2}.T + R{delta3}*a2.T",
        "R{dL/db3} = 1/m*R{a3}*1",
    ]
    assert text == expected
    tex = h.latex().splitlines()
    assert tex[0] == r"\begin{aligned}" and tex[-1] == r"\end{aligned}"
    assert (r"\mathcal{R}\left\{z_{2}\right\} &= W_{2} \mathcal{R}\left\{a_{1}\right\} + "
            r"v_{W2} a_{1} + v_{b2} 1 \\") in tex
    assert (r"\mathcal{R}\left\{\delta_{1}\right\} &= \left(a_{1} \circ \left(- a_{1} + 1\right)"
            r"\right) \circ \left(W_{2}^{T} \mathcal{R}\left\{\delta_{2}\right\} + v_{W2}^{T} "
            r"\delta_{2}\right) + \left(W_{2}^{T} \delta_{2}\right) \circ \mathcal{R}\left\{a_{1}"
            r"\right\} \circ \left(- 2 a_{1} + 1\right) \\") in tex
    assert (r"\mathcal{R}\left\{\frac{\partial L}{\partial W_{2}}\right\} &= \lambda v_{W2} + "
            r"\delta_{2} \mathcal{R}\left\{a_{1}\right\}^{T} + \mathcal{R}\left\{\delta_{2}"
            r"\right\} a_{1}^{T} \\") in tex
    assert "R{" in h.pretty()


def test_printed_gauss_newton_sweep_skips_the_second_derivative_terms():
    net = MLP([3, 4, 4, 2], "logistic", output="softmax")
    text = str(symnet.gnvp(net.risk(), net.params, output=net.layers[-1].z[0]))
    assert "Rgn{delta2} = HadamardProduct(HadamardProduct(a2, -a2 + 1), W3.T*R{delta3})" in text
    assert "(Gv)_W2 = lambda*v_W2 + Rgn{delta2}*a1.T" in text
    assert "-2*a2 + 1" not in text          # no sigma'' terms: that is the Gauss-Newton part


def test_printing_is_deterministic():
    net = MLP([3, 4, 2], "tanh")
    a = str(symnet.hvp(net.risk(), net.params))
    b = str(symnet.hvp(MLP([3, 4, 2], "tanh").risk(), MLP([3, 4, 2], "tanh").params))
    assert a == b


# ---------------------------------------------------------------- extremes, operators, errors
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output, loss", PAIRS[:2])
def test_products_stay_finite_at_800_logits(backend, dtype, output, loss):
    net, R, ins, args, P, V = _setup([2, 2], "linear", output, loss, 4, seed=0)
    X = np.array([[800.0, -800.0, 400.0, -400.0], [0.0, 0.0, 0.0, 0.0]], dtype)
    P = [np.array([[1.0, 0.0], [-1.0, 0.0]], dtype), np.zeros((2, 1), dtype)]
    V = [np.ones((2, 2), dtype), np.ones((2, 1), dtype)]
    for kind in KINDS:
        k = symnet.compile_hvp(R, net.params, ins, kind=kind, output=net.layers[-1].z[0],
                               backend=backend, dtype=dtype)
        for o in k(X, np.asarray(args[1], dtype), *P, *V):
            assert np.all(np.isfinite(o)), (kind, o)


def test_curvature_operator_works_with_eigsh_and_cg():
    net, R, ins, args, P, V = _setup([3, 4, 3], "tanh", "softmax", "cross_entropy", 10, seed=6,
                                     lam=0.1)
    values = dict(zip(ins, [*args, *P], strict=True))
    H = symnet.curvature(R, net.params, values)
    D = H.dense()
    assert np.abs(D - D.T).max() < 1e-12
    top = eigsh(H, k=2, which="LA", return_eigenvectors=False)
    assert _rel(np.sort(top), np.sort(np.linalg.eigvalsh(D))[-2:]) < 1e-8
    G = symnet.curvature(R, net.params, values, kind="gauss-newton",
                         output=net.layers[-1].z[0])
    # G is singular (softmax does not see a shift of all logits): a consistent right side.
    b = G.matvec(np.random.default_rng(0).standard_normal(G.shape[0]))
    x, info = cg(G, b, rtol=1e-12, maxiter=500)
    assert info == 0 and _rel(G.dense() @ x, b) < 1e-8
    W2 = net.params[2]
    assert _rel(H.block(W2, W2), D[H.offsets[2]:H.offsets[3], H.offsets[2]:H.offsets[3]]) == 0


def test_shapes_and_backends_share_one_disk_cache():
    # Kernels that differ only in a dimension must not share a cache entry; a second
    # call of a shape seen before meets the cache and must give the same numbers.
    rng = np.random.default_rng(42)
    shapes = [[int(s) for s in rng.integers(1, 5, 3)] for _ in range(4)]
    for trial, sizes in enumerate([*shapes, shapes[0]]):
        kind = KINDS[trial % 2]
        net, R, ins, args, P, V = _setup(sizes, "softplus", "softmax", "cross_entropy",
                                         1 + trial % 3, seed=trial)
        z = net.layers[-1].z[0]
        kg = symnet.compile_grad(R, net.params, ins)
        ref = symnet.compile_hvp(R, net.params, ins, kind=kind, output=z, value=False)
        want = ref(*args, *P, *V)
        if kind == "hessian":
            for a, b in zip(want, _fd_hv(kg, args, P, V), strict=True):
                assert _rel(a, b) < 1e-6, sizes
        for dtype, tol in (("float64", 1e-12), ("float32", 2e-4)):
            kh = symnet.compile_hvp(R, net.params, ins, kind=kind, output=z, value=False,
                                    backend="llvm", dtype=dtype)
            cast = [np.asarray(a, dtype) if isinstance(a, np.ndarray) else a
                    for a in [*args, *P, *V]]
            for a, b in zip(kh(*cast), want, strict=True):
                assert a.dtype == dtype and _rel(a, b) < tol, (sizes, kind, dtype)


def test_errors_name_the_offending_argument():
    x, y = sp.symbols("x y")
    W = sp.MatrixSymbol("W", 2, 2)
    with pytest.raises(ShapeError, match="v_W"):
        symnet.hvp(symnet.matsum(W), [W], [sp.MatrixSymbol("v_W", 2, 3)])
    with pytest.raises(ValueError, match="output"):
        symnet.gnvp(x ** 2, [x], output=None)
    with pytest.raises(ValueError, match="does not depend on the output"):
        symnet.gnvp(x ** 2, [x], output=y)
    with pytest.raises(ValueError, match="also among the inputs"):
        symnet.compile_hvp(x * y, [x], [x, y], v=[y])
    with pytest.raises(ValueError, match="unknown curvature"):
        symnet.compile_hvp(x * y, [x], [x, y], kind="fisher")
    with pytest.raises(NoDependenceError, match="y"):
        symnet.hvp(x ** 3, [x, y])
    with pytest.raises(ValueError, match="2 variables but 1"):
        symnet.hvp(x * y, [x, y], [sp.Symbol("u")])
    H = symnet.curvature(x ** 2 * y, [x, y], {x: 1.0, y: 2.0})
    with pytest.raises(ShapeError, match="3 entries"):
        H.split(np.ones(3))
    with pytest.raises(ValueError, match="dimension mismatch"):
        H.matvec(np.ones(3))
