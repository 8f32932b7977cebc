"""Random kernels through one shared on-disk cache, LLVM checked against NumPy.

Many kernels of random shapes (products over every inner dimension, products
big enough for the BLAS team to cut into blocks,
transposes, elementwise chains, reductions, MLP training steps of random
widths, solves, determinants and Kronecker products, point-wise formulas,
whole SGD epochs of deep random MLPs under every optimizer)
are compiled in this process with one cache folder, in both dtypes; a
second process then compiles the same list over the same folder in another
order and checks again. A cache entry used for a request it was not written
for shows up as a mismatch here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symnet
from symnet import registry
from symnet.nn import MLP

m = sp.Symbol("m", integer=True, positive=True)
x, y = sp.symbols("x y", real=True)
#: The registry rows with a test example, in registration order.
ROWS = [r for r in registry.rows() if r.example is not None]


def build(spec: dict):
    """(outputs, inputs, argument arrays, wrt or None) of a kernel description."""
    rng = np.random.default_rng(spec["seed"])
    kind = spec["kind"]
    if kind in ("product", "split"):
        # "split": big enough (>= team.MIN_WORK multiply-adds) for the BLAS
        # team to cut into blocks; scaled so float32 sums stay well-conditioned.
        r, k, c = spec["dims"]
        scale = 1.0 if kind == "product" else 1.0 / np.sqrt(k)
        A, B = sp.MatrixSymbol("A", r, k), sp.MatrixSymbol("B", k, m)
        outs = [A * B, symnet.logistic(A * B), (A * B).T * A]
        return outs, [A, B], [rng.standard_normal((r, k)) * scale,
                              rng.standard_normal((k, c)) * scale], None
    if kind == "transposed":
        r, k, c = spec["dims"]
        A, B = sp.MatrixSymbol("A", k, r), sp.MatrixSymbol("B", c, k)
        outs = [A.T * B.T, symnet.matsum(sp.HadamardPower(A.T * B.T, 2))]
        return outs, [A, B], [rng.standard_normal((k, r)), rng.standard_normal((c, k))], None
    if kind == "chain":
        r, c = spec["dims"][:2]
        Z = sp.MatrixSymbol("Z", r, m)
        outs = [symnet.softmax(Z), symnet.logsumexp(Z),
                symnet.relu(symnet.Elementwise(sp.tanh, Z) * 2),
                symnet.matsum(symnet.softplus(Z))]
        return outs, [Z], [rng.standard_normal((r, c)) * 5], None
    if kind == "mlp":
        sizes = spec["dims"]
        net = MLP(list(sizes), spec["act"])
        ins = [net.X, net.labels(), *net.params]
        args = [rng.standard_normal((sizes[0], 3)), rng.integers(0, sizes[-1], 3)]
        args += [rng.standard_normal(tuple(int(d) for d in p.shape)) * 0.5 for p in net.params]
        return net.risk(lam=0.01), ins, args, net.params
    if kind == "registry":
        # Every registry row's example, point-wise with its derivative.
        row = ROWS[spec["row"]]
        lo, hi = row.domain
        n = spec["dims"][0]
        return (row.example(x) * y, [x, y],
                [rng.uniform(lo, hi, n), rng.uniform(-1, 1, n)], [x, y])
    if kind == "linalg":
        # Solves, determinants, powers and Kronecker products of random sizes.
        r, c, p = spec["dims"]
        A, B, C = sp.MatrixSymbol("A", r, r), sp.MatrixSymbol("B", r, c), sp.MatrixSymbol("C", p, c)
        risk = (symnet.matsum(A.I * B) + sp.log(sp.det(A * A.T)) + sp.det(A)
                + symnet.matsum(sp.HadamardPower(A ** 3, 2)) / 10 + symnet.matsum(B.T * A.I)
                + symnet.matsum(sp.HadamardPower(sp.KroneckerProduct(B, C), 2)))
        a = rng.standard_normal((r, r)) + 2 * r * np.eye(r)
        return risk, [A, B, C], [a, rng.standard_normal((r, c)), rng.standard_normal((p, c))], [
            A, B, C]
    # point-wise formula
    n = spec["dims"][0]
    outs = [sp.exp(-x * y) * spec["dims"][1], y, x ** 2 + 3, sp.Integer(spec["dims"][2])]
    return outs, [x, y], [rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)], None


def check_epoch(spec: dict, dtype: str) -> None:
    """Two SGD epochs of a random (possibly deep) MLP with a random optimizer: the
    native epoch (optimizer state updated in place) against the NumPy one."""
    from symnet.sgd import compile_sgd
    from symnet.train import init_params

    depth, width, classes = spec["dims"]
    net = MLP([3] + [width] * depth + [classes], spec["act"])
    rng = np.random.default_rng(spec["seed"])
    X = rng.standard_normal((3, 11)).astype(dtype)
    y = rng.integers(0, classes, 11)
    start = [np.ascontiguousarray(v) for v in init_params(net, spec["seed"], dtype).values()]
    # Biases start off zero: with zero output biases the softmax is exactly
    # uniform, a batch holding each class once has a gradient that is rounding
    # noise (~1e-17), and Adagrad's step g / (sqrt(g^2) + 1e-10) turns that noise
    # into ~5e-9 -- differently for any two summation orders, both right to
    # rounding (found by a longer random run of this test, checked with mpmath).
    for sym, v in zip(net.params, start, strict=True):
        if str(sym).startswith("b"):
            v += rng.uniform(-0.5, 0.5, v.shape).astype(dtype)
    out = {}
    for backend in ("numpy", "llvm"):
        sgd = compile_sgd(net.risk(lam=0.01), net.params, net.X, net.labels(), backend=backend,
                          dtype=dtype, optimizer=spec["optimizer"])
        params = [p.copy() for p in start]
        for e in range(2):
            sgd.epoch(X, y, np.random.default_rng(e).permutation(11), spec["batch"], 0.01,
                      params)
        out[backend] = params
    tol = 1e-9 if dtype == "float64" else 2e-3
    for g, w in zip(out["llvm"], out["numpy"], strict=True):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=json.dumps(spec))


def check(spec: dict, dtype: str) -> None:
    if spec["kind"] == "epoch":
        check_epoch(spec, dtype)
        return
    outs, ins, args, wrt = build(spec)
    # Arrays of the kernel's dtype, as a user's loop passes them: their bindings are remembered.
    args = [a.astype(dtype) if isinstance(a, np.ndarray) else a for a in args]
    if wrt is None:
        kernel = symnet.compile(outs, ins, backend="llvm", dtype=dtype)
        want = symnet.compile(outs, ins, backend="numpy", dtype=dtype)(*args)
    else:
        kernel = symnet.compile_grad(outs, wrt, ins, backend="llvm", dtype=dtype)
        want = symnet.compile_grad(outs, wrt, ins, backend="numpy", dtype=dtype)(*args)
    got = kernel(*args)
    # A second call meets the binding the kernel remembered for these shapes.
    for g, again in zip(got, kernel(*args), strict=True):
        np.testing.assert_array_equal(g, again, err_msg=json.dumps(spec))
    tol = 1e-10 if dtype == "float64" else 2e-4
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert np.shape(g) == np.shape(w), (spec, np.shape(g), np.shape(w))
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=json.dumps(spec))


dim = st.integers(1, 9)
specs = st.one_of(
    st.fixed_dictionaries({"kind": st.sampled_from(["product", "transposed"]),
                           "dims": st.tuples(dim, dim, dim), "seed": st.integers(0, 99)}),
    st.fixed_dictionaries({"kind": st.just("chain"), "dims": st.tuples(dim, dim),
                           "seed": st.integers(0, 99)}),
    st.fixed_dictionaries({"kind": st.just("mlp"),
                           "dims": st.tuples(st.integers(1, 6), st.integers(1, 6),
                                             st.integers(2, 4)),
                           "act": st.sampled_from(registry.activation_names()),
                           "seed": st.integers(0, 99)}),
    st.fixed_dictionaries({"kind": st.just("registry"), "row": st.integers(0, len(ROWS) - 1),
                           "dims": st.tuples(st.integers(1, 40)), "seed": st.integers(0, 99)}),
    st.fixed_dictionaries({"kind": st.just("linalg"),
                           "dims": st.tuples(st.integers(1, 6), st.integers(1, 4),
                                             st.integers(1, 3)),
                           "seed": st.integers(0, 99)}),
    # Deep nets (repeated layers share generated functions) trained by every optimizer.
    st.fixed_dictionaries({"kind": st.just("epoch"),
                           # past 8 layers a step makes its calls from chunks
                           # (module.CHUNK_CALLS), with or without buffers of its own
                           "dims": st.tuples(st.integers(1, 12), st.integers(1, 5),
                                             st.integers(2, 4)),
                           "act": st.sampled_from(["tanh", "relu", "logistic", "softplus"]),
                           "optimizer": st.sampled_from(["sgd", "momentum", "nesterov",
                                                         "adagrad", "rmsprop", "adam", "adamw"]),
                           "batch": st.integers(1, 12), "seed": st.integers(0, 99)}),
    st.fixed_dictionaries({"kind": st.just("pointwise"),
                           "dims": st.tuples(st.integers(1, 40), st.integers(1, 5),
                                             st.integers(0, 3)),
                           "seed": st.integers(0, 99)}),
)

SEEN: list[dict] = []


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shared-cache")
    old = os.environ["SYMNET_CACHE_DIR"]
    os.environ["SYMNET_CACHE_DIR"] = str(folder)
    yield folder
    os.environ["SYMNET_CACHE_DIR"] = old


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=specs, dtype=st.sampled_from(["float64", "float32"]))
def test_random_kernels_share_one_disk_cache(shared_cache, spec, dtype):
    check(spec, dtype)
    SEEN.append({"spec": spec, "dtype": dtype})


#: Products the BLAS team cuts into blocks (r x k times k x c, c a run-time
#: dim): a (r, k) pair repeats with another c, so its second call meets the
#: cached kernel with new sizes.
SPLITS = [(130, 100, 170), (130, 100, 200), (257, 300, 64), (64, 784, 256), (400, 129, 200)]


@pytest.mark.parametrize("dims", SPLITS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_products_the_team_splits_share_the_disk_cache(shared_cache, dims, dtype):
    from symnet.backends.llvm import team

    r, k, c = dims
    assert team.blocks(c, r, k, 2)[1] == 2 or team.blocks(r, c, k, 2)[1] == 2  # really split
    spec = {"kind": "split", "dims": list(dims), "seed": sum(dims)}
    check(spec, dtype)
    SEEN.append({"spec": spec, "dtype": dtype})


SECOND = """
import json, sys
sys.path.insert(0, {tests!r})
from test_shared_cache_property import check
todo = json.loads(sys.stdin.read())
for item in todo:
    check(item["spec"], item["dtype"])
print(len(todo))
"""


def test_a_second_process_reads_the_same_cache_in_another_order(shared_cache):
    assert len(SEEN) >= 20, "the property test runs first and fills the cache"
    assert list(shared_cache.glob("*.o")) and list(shared_cache.glob("*.prog"))
    todo = list(reversed(SEEN))
    todo = todo[::2] + todo[1::2]
    env = dict(os.environ, SYMNET_CACHE_DIR=str(shared_cache))
    r = subprocess.run([sys.executable, "-c", SECOND.format(tests=os.path.dirname(__file__))],
                       input=json.dumps(todo), capture_output=True, text=True, env=env,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert int(r.stdout.split()[-1]) == len(todo)
