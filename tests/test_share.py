"""Group sharing (symnet.lower.share): repeated layers generate one function, same numbers."""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp
from netcase import flatten_reference, random_problem, rel_err
from reference import risk_and_grads

import symnet
from symnet import programs
from symnet.backends.llvm import jit
from symnet.lower import plan_kernel
from symnet.lower import share as share_mod
from symnet.nn import MLP


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-4)])
def test_a_deep_network_shares_its_layers_and_matches_the_reference(dtype, tol, monkeypatch):
    monkeypatch.setenv("SYMNET_CHECK_SHARED", "0")  # the IR as users get it
    net = MLP([3] + [6] * 11 + [2], "tanh", output="softmax")
    R = net.risk(lam=1e-3)
    k = symnet.compile_grad(R, net.params, [net.X, net.labels(), *net.params], backend="llvm",
                            dtype=dtype)
    kp = plan_kernel(k.program)
    _, first = share_mod.share(kp, frozenset())
    shared = sum(1 for i, f in enumerate(first) if f != i)
    assert shared > len(first) // 2, (shared, len(first))
    defines = len(re.findall(r"^define ", k.llvm_ir, flags=re.M))
    assert defines < len(kp.groups) - shared // 2
    values, layers, X, Y = random_problem(net, "cross_entropy", 7, np.random.default_rng(3))
    out = k(X, Y, *[values[p] for p in net.params])
    R_ref, g_ref = risk_and_grads(layers, X, Y, "cross_entropy", 1e-3)
    assert rel_err(float(out[0]), R_ref) < tol
    for got, want in zip(out[1:], flatten_reference(net, g_ref), strict=True):
        assert rel_err(got, want) < tol


@pytest.mark.parametrize("seed", range(6))
def test_groups_that_share_read_and_write_buffers_of_the_same_shapes(seed):
    rng = np.random.default_rng(seed)
    widths = [int(w) for w in rng.choice([2, 3, 5], size=int(rng.integers(3, 7)))]
    act = str(rng.choice(["tanh", "relu", "logistic", "softplus"]))
    net = MLP(widths, act, output="softmax")
    kp = plan_kernel(symnet.compile_grad(
        net.risk(lam=1e-3), net.params, [net.X, net.labels(), *net.params]).program)
    args, first = share_mod.share(kp, frozenset())
    for i, f in enumerate(first):
        gi, gf = kp.groups[i], kp.groups[f]
        assert [s.op for s in gi.steps] == [s.op for s in gf.steps]
        shape = {**kp.shapes, **kp.scratch_sizes}
        assert [shape[a] for a in args[i]] == [shape[a] for a in args[f]]
        assert [s.attr for s in gi.steps if s.op == "ew"] == \
            [s.attr for s in gf.steps if s.op == "ew"]


def test_a_signature_that_misses_a_difference_is_caught(monkeypatch):
    # Every group claims the same signature: the first product and the
    # first loop cannot generate the same function, and the check says so.
    monkeypatch.setattr(share_mod, "signature", lambda kp, g, a, w: "all the same")
    monkeypatch.setenv("SYMNET_CHECK_SHARED", "1")
    monkeypatch.setenv("SYMNET_CACHE_DIR", "")
    net = MLP([3, 4, 5, 2], "hard_tanh", output="softmax")
    with pytest.raises(AssertionError, match="share a signature"):
        symnet.compile_grad(net.risk(lam=0.25), net.params, [net.X, net.labels(), *net.params],
                            backend="llvm")


def test_a_shared_module_is_generated_the_same_way_twice():
    net = MLP([2, 4, 4, 4, 4, 2], "tanh")
    R = net.risk(lam=0.0)
    ins = [net.X, net.labels(), *net.params]
    first = symnet.compile_grad(R, net.params, ins, backend="llvm").llvm_ir
    programs._PROGRAMS.clear()
    jit._MEMORY.clear()
    jit._LOADED.clear()
    again = symnet.compile_grad(R, net.params, ins, backend="llvm").llvm_ir
    assert first == again
    assert len(re.findall(r"^define ", first, flags=re.M)) > 3


def test_bodies_with_common_subexpressions_compile_on_every_backend():
    # emit_group names CSE temporaries after creating the body walk: the walk
    # must see them (regression: a copied environment raised KeyError _c0).
    x, y = sp.symbols("x y")
    e = sp.exp(x * y) * sp.sin(sp.exp(x * y) + y) + sp.exp(x * y) ** 2 / (1 + y ** 2)
    pts = (np.linspace(-1, 1, 7), np.linspace(0.5, 2, 7))
    want = np.exp(pts[0] * pts[1]) * np.sin(np.exp(pts[0] * pts[1]) + pts[1]) \
        + np.exp(pts[0] * pts[1]) ** 2 / (1 + pts[1] ** 2)
    for backend in ("numpy", "llvm"):
        (got,) = symnet.compile([e], [x, y], backend=backend)(*pts)
        assert np.allclose(got, want, rtol=1e-13), backend
    A = sp.MatrixSymbol("A", 3, 4)
    k = symnet.compile([sp.HadamardProduct(A.applyfunc(sp.exp), A.applyfunc(sp.exp))
                        .applyfunc(lambda v: v)], [A], backend="llvm")
    M = np.random.default_rng(0).standard_normal((3, 4))
    assert np.allclose(k(M)[0], np.exp(M) ** 2, rtol=1e-13)
