"""Full-batch second-order training: Newton-CG (Hessian, Gauss-Newton) and L-BFGS."""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference import Layer, risk_and_grads
from scipy.optimize import minimize

from symnet.cli import main
from symnet.data import load_digits, reference_split
from symnet.nn import MLP
from symnet.train import accuracy, fit, init_params


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return reference_split(X, y)


@pytest.mark.parametrize("method, curvature, backend", [
    ("newton-cg", "hessian", "numpy"),
    ("newton-cg", "gauss-newton", "llvm"),
    ("l-bfgs", "hessian", "numpy"),
])
def test_second_order_training_reaches_97_percent_on_digits(digits, method, curvature, backend):
    X_tr, y_tr, X_va, y_va = digits
    net = MLP([64, 32, 10], "logistic")
    res = fit(net, X_tr, y_tr, X_val=X_va, y_val=y_va, method=method, curvature=curvature,
              epochs=60, patience=10, progress=False, backend=backend)
    acc = accuracy(net, res.params, X_va, y_va)
    assert acc >= 0.97, (method, curvature, acc)
    assert abs(acc - (1 - res.best_val_error)) < 1e-12
    h = res.history
    assert 1 <= len(h) <= 60 and all(math.isnan(lr) for lr in h.lr)
    assert h.train_loss[-1] < h.train_loss[0]
    assert res.sgd is None


def _reference_objective(X, T, shapes, lam):
    """Risk and flat gradient of logistic -> softmax + CE + L2, by the hand-written reference."""
    def fun(x):
        parts, k = [], 0
        for s in shapes:
            n = int(np.prod(s))
            parts.append(x[k:k + n].reshape(s))
            k += n
        layers = [Layer("logistic", parts[0], parts[1], None),
                  Layer("softmax", parts[2], parts[3], None)]
        value, grads = risk_and_grads(layers, X, T, "cross_entropy", lam)
        return value, np.concatenate([g[key].reshape(-1) for g in grads for key in ("W", "b")])
    return fun


def test_lbfgs_follows_scipy_on_the_hand_written_risk(digits):
    X_tr, y_tr, _, _ = digits
    X, y = X_tr[:300], y_tr[:300]
    net = MLP([64, 8, 10], "logistic")
    start = init_params(net, 3)
    res = fit(net, X, y, method="l-bfgs", epochs=8, init=start, progress=False, lam=1e-3)
    T = np.eye(10)[:, y]
    shapes = [start[str(p)].shape for p in net.params]
    x0 = np.concatenate([start[str(p)].reshape(-1) for p in net.params])
    ref = minimize(_reference_objective(X.T, T, shapes, 1e-3), x0, jac=True,
                   method="L-BFGS-B", options={"maxiter": 8})
    got = np.concatenate([res.params[str(p)].reshape(-1) for p in net.params])
    assert np.max(np.abs(got - ref.x)) / np.max(np.abs(ref.x)) < 1e-8
    assert len(res.history) == ref.nit


def test_newton_cg_step_decreases_the_risk_and_damping_is_applied(digits):
    X_tr, y_tr, _, _ = digits
    X, y = X_tr[:200], y_tr[:200]
    net = MLP([64, 6, 10], "tanh")
    start = init_params(net, 1)
    T = np.eye(10)[:, y]
    risks = []
    for damping in (0.0, 10.0):
        res = fit(net, X, y, method="newton-cg", curvature="gauss-newton", damping=damping,
                  epochs=1, init=start, progress=False)
        layers = [Layer("tanh", res.params["W1"], res.params["b1"], None),
                  Layer("softmax", res.params["W2"], res.params["b2"], None)]
        risks.append(risk_and_grads(layers, X.T, T, "cross_entropy", 1e-4)[0])
    layers0 = [Layer("tanh", start["W1"], start["b1"], None),
               Layer("softmax", start["W2"], start["b2"], None)]
    r0 = risk_and_grads(layers0, X.T, T, "cross_entropy", 1e-4)[0]
    assert risks[0] < r0 and risks[1] < r0
    assert risks[0] != risks[1]            # the damped step is a different (shorter) one


def test_bad_second_order_options_are_named():
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = (X[:, 0] > 0).astype(int)
    net = MLP([2, 3, 2], "tanh")
    with pytest.raises(ValueError, match="unknown method 'newton'"):
        fit(net, X, y, method="newton", progress=False)
    with pytest.raises(ValueError, match="unknown curvature 'fisher'"):
        fit(net, X, y, method="newton-cg", curvature="fisher", progress=False)
    with pytest.raises(ValueError, match="damping"):
        fit(net, X, y, method="newton-cg", damping=-1.0, progress=False)


def test_cli_trains_with_newton_cg(capsys):
    code = main(["train", "--method", "newton-cg", "--curvature", "gauss-newton",
                 "--backend", "numpy", "--no-progress", "--epochs", "30"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "full-batch newton-cg, gauss-newton curvature" in out
    acc = float(out.split("validation accuracy: ")[1].split("%")[0])
    assert acc >= 97.0
