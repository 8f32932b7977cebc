"""Derived MLP gradients against the hand-written reference and central differences."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netcase import PAIRS, compare, kernel_for, random_problem

import symnet

HIDDEN = ["logistic", "tanh", "hard_logistic", "hard_tanh", "relu", "leaky_relu", "prelu",
          "softplus", "maxout"]


@pytest.mark.parametrize("act", HIDDEN)
@pytest.mark.parametrize("output,loss", PAIRS)
@pytest.mark.parametrize("m", [1, 5])
def test_one_hidden_layer_matches_reference(act, output, loss, m):
    err = compare([4, 5, 3], [act], output, loss, m, 0.1, seed=1)[0]
    assert err <= 1e-10


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("m", [1, 6])
def test_deep_networks_match_reference(depth, m):
    acts = [HIDDEN[(depth + i) % len(HIDDEN)] for i in range(depth)]
    sizes = [3] + [4] * depth + [3]
    for output, loss in PAIRS[:2]:
        assert compare(sizes, acts, output, loss, m, 0.05, seed=depth)[0] <= 1e-10


@pytest.mark.parametrize("act", HIDDEN)
def test_central_differences(act):
    """check_grad along a random direction, relative error <= 1e-6 (eq. 4.59)."""
    net, _ = kernel_for([3, 4, 2], [act], "softmax", "cross_entropy")
    rng = np.random.default_rng(7)
    values, _, X, Y = random_problem(net, "cross_entropy", 3, rng)
    lam = sp.Symbol("lambda")
    values.update({net.X: X, net.labels(): Y, lam: 0.1})
    report = symnet.check_grad(net.risk(lam=lam), net.params, values, eps=1e-6)
    assert report.rel_error <= 1e-6, str(report)


def test_check_grad_detects_a_wrong_gradient():
    """A kernel whose derivative is wrong must fail the same check."""
    x, w = sp.symbols("x w")
    k = symnet.compile([sp.sin(w * x), x * sp.sin(w * x)], [x, w])  # wrong: should be cos
    f0, wrong = k(1.3, 0.4)
    h = 1e-6
    num = (k(1.3, 0.4 + h)[0] - k(1.3, 0.4 - h)[0]) / (2 * h)
    assert abs(num - wrong) > 1e-3
    assert symnet.check_grad(sp.sin(w * x), [w], {x: 1.3, w: 0.4}).ok


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(act=st.sampled_from(HIDDEN), pair=st.sampled_from(PAIRS),
       hidden=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       n_in=st.integers(1, 4), n_out=st.integers(2, 3), m=st.integers(1, 4),
       lam=st.sampled_from([0.0, 0.3]), seed=st.integers(0, 2**16))
def test_property_random_networks(act, pair, hidden, n_in, n_out, m, lam, seed):
    output, loss = pair
    sizes = [n_in, *hidden, n_out]
    assert compare(sizes, [act] * len(hidden), output, loss, m, lam, seed)[0] <= 1e-9


def test_symbolic_sizes_one_kernel_many_batches():
    """A kernel with symbolic sizes serves every batch size."""
    n0, n1 = sp.symbols("n0 n1", integer=True, positive=True)
    from symnet.nn import MLP
    net = MLP([n0, n1, 3], "tanh")
    R = net.risk(lam=0.0)
    k = symnet.compile([R, *symnet.grad(R, net.params)], [net.X, net.labels(), *net.params])
    rng = np.random.default_rng(0)
    W1, b1 = rng.standard_normal((4, 2)), np.zeros((4, 1))
    W2, b2 = rng.standard_normal((3, 4)), np.zeros((3, 1))
    for m in (1, 7):
        X = rng.standard_normal((2, m))
        y = rng.integers(0, 3, m)
        R_val, dW1, db1, dW2, db2 = k(X, y, W1, b1, W2, b2)
        assert dW1.shape == (4, 2) and db2.shape == (3, 1) and np.isfinite(R_val)


def test_user_defined_activation_in_a_network():
    """Mish, x tanh(softplus(x)), declared as a SymPy Lambda: derived, checked."""
    from symnet.nn import MLP

    x = sp.Symbol("x")
    mish = sp.Lambda(x, x * sp.tanh(symnet.softplus(x)))
    net = MLP([3, 4, 2], [mish])
    grads = symnet.grad(net.risk(lam=0.0), net.params)
    assert "softplus" in str(grads) and "tanh" in str(grads)
    rng = np.random.default_rng(2)
    values = {p: rng.standard_normal(tuple(int(d) for d in p.shape)) for p in net.params}
    values.update({net.X: rng.standard_normal((3, 5)), net.labels(): np.eye(2)[:, [0, 1, 1, 0, 1]]})
    report = symnet.check_grad(net.risk(lam=0.0), net.params, values)
    assert report.rel_error <= 1e-6, str(report)
