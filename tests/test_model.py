"""symnet.Model: users' own models (tied weights, a residual connection, a Huber loss) through
fit on both backends, checked against central differences and hand-written NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet import Model, ops
from symnet.nn import dense
from symnet.train import fit, init_params, load_params, predict, save_params

m = sp.Symbol("m", integer=True, positive=True)


def autoencoder(n=6, k=3) -> Model:
    X, Y = sp.MatrixSymbol("X", n, m), sp.MatrixSymbol("Y", n, m)
    W, b, c = sp.MatrixSymbol("W", k, n), sp.MatrixSymbol("b", k, 1), sp.MatrixSymbol("c", n, 1)
    out = dense(W.T, ops.logistic(dense(W, X, b)), c)
    return Model(X, Y, [W, b, c], out, ops.matsum(sp.HadamardPower(out - Y, 2)) / (2 * m))


def residual(n=5, h=4, classes=3) -> Model:
    X, T = sp.MatrixSymbol("X", n, m), ops.OneHot("T", classes, m)
    W1, b1 = sp.MatrixSymbol("W1", h, n), sp.MatrixSymbol("b1", h, 1)
    W2, b2 = sp.MatrixSymbol("W2", h, h), sp.MatrixSymbol("b2", h, 1)
    W3, b3 = sp.MatrixSymbol("W3", classes, h), sp.MatrixSymbol("b3", classes, 1)
    a1 = ops.Elementwise(sp.tanh, dense(W1, X, b1))
    a2 = a1 + ops.Elementwise(sp.tanh, dense(W2, a1, b2))
    z = dense(W3, a2, b3)
    return Model(X, T, [W1, b1, W2, b2, W3, b3], ops.softmax(z),
                 -ops.matsum(sp.HadamardProduct(T, ops.log_softmax(z))) / m, name="residual")


def huber(delta=1.0) -> Model:
    X, t = sp.MatrixSymbol("X", 2, m), sp.MatrixSymbol("t", 1, m)
    w, b = sp.MatrixSymbol("w", 1, 2), sp.MatrixSymbol("b0", 1, 1)
    pred = dense(w, X, b)
    r = sp.Symbol("r")
    rho = sp.Lambda(r, sp.Piecewise((r ** 2 / 2, sp.Abs(r) <= delta),
                                    (delta * (sp.Abs(r) - delta / 2), True)))
    return Model(X, t, [w, b], pred, ops.matsum(ops.Elementwise(rho, pred - t)) / m,
                 weights=[], name="huber")


def _residual_numpy(p, X):
    a1 = np.tanh(p["W1"] @ X.T + p["b1"])
    a2 = a1 + np.tanh(p["W2"] @ a1 + p["b2"])
    z = p["W3"] @ a2 + p["b3"]
    e = np.exp(z - z.max(axis=0))
    return (e / e.sum(axis=0)).T


@pytest.mark.parametrize("make", [autoencoder, residual, huber], ids=lambda f: f.__name__)
def test_the_gradient_of_every_model_passes_central_differences(make):
    model = make()
    rng = np.random.default_rng(0)
    p = init_params(model, 1)
    X = rng.standard_normal((int(model.X.shape[0]), 7))
    Y = (np.eye(3)[:, rng.integers(0, 3, 7)] if model.task == "classification"
         else rng.standard_normal((int(model.Y.shape[0]), 7)) * 2)
    values = {model.X: X, model.labels(): Y, **{s: p[str(s)] for s in model.params}}
    check = symnet.check_grad(model.risk(lam=1e-2), model.params, values)
    assert check.ok, check


def test_a_residual_model_trains_identically_on_both_backends_and_predicts_as_numpy():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((120, 5))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.8).astype(int) + (X[:, 2] > 1).astype(int)
    results = {be: fit(residual(), X, y, alpha=0.1, epochs=6, progress=False, backend=be)
               for be in ("numpy", "llvm")}
    a, b = results["numpy"], results["llvm"]
    np.testing.assert_allclose(a.history.train_loss, b.history.train_loss, rtol=1e-10)
    model = residual()
    probs = _residual_numpy(a.params, X)
    assert np.array_equal(predict(model, a.params, X), np.argmax(probs, axis=1))
    assert a.history.train_error[-1] < a.history.train_error[0]


def test_a_tied_autoencoder_learns_to_reconstruct():
    rng = np.random.default_rng(1)
    codes = rng.standard_normal((200, 2))
    X = np.tanh(codes @ rng.standard_normal((2, 6)))
    start = init_params(autoencoder(), 0)
    before = np.mean((predict(autoencoder(), start, X) - X) ** 2)
    res = fit(autoencoder(), X, X, alpha=0.05, epochs=15, progress=False, patience=None)
    assert res.history.train_error[-1] < 0.25 * before
    assert res.history.train_error[-1] < res.history.train_error[0]
    p = res.params
    recon = (p["W"].T @ (1 / (1 + np.exp(-(p["W"] @ X.T + p["b"])))) + p["c"]).T
    assert np.allclose(predict(autoencoder(), p, X), recon, rtol=1e-10)
    assert np.isclose(res.history.train_error[-1], np.mean((recon - X) ** 2), rtol=1e-9)


def test_a_huber_regression_ignores_outliers():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (300, 2))
    y = X @ np.array([2.0, -3.0]) + 0.5 + 0.05 * rng.standard_normal(300)
    y[:15] += 25.0
    res = fit(huber(), X, y, alpha=0.05, epochs=30, progress=False)
    w, b = res.params["w"].ravel(), res.params["b0"][0, 0]
    ls = np.linalg.lstsq(np.c_[X, np.ones(300)], y, rcond=None)[0]
    assert np.abs(w - [2.0, -3.0]).max() < 0.15 and abs(b - 0.5) < 0.2
    assert abs(ls[2] - 0.5) > 5 * abs(b - 0.5)  # least squares is pulled by the outliers


def test_saved_parameters_remember_the_model_and_its_loss(tmp_path):
    model = huber()
    f = save_params(tmp_path / "h.npz", model, init_params(model, 0))
    assert set(load_params(f, huber())) == {"w", "b0"}
    with pytest.raises(ValueError, match="different model"):
        load_params(f, huber(delta=2.0))


def test_bad_models_are_refused_by_name():
    X, Y = sp.MatrixSymbol("X", 2, m), sp.MatrixSymbol("Y", 1, sp.Symbol("n"))
    w = sp.MatrixSymbol("w", 1, 2)
    with pytest.raises(ValueError, match="share the batch"):
        Model(X, Y, [w], w * X, ops.matsum(w * X))
    Y = sp.MatrixSymbol("Y", 1, m)
    with pytest.raises(ValueError, match=r"weights \['v'\] are not parameters"):
        Model(X, Y, [w], w * X, ops.matsum(w * X), weights=[sp.MatrixSymbol("v", 1, 2)])
    with pytest.raises(ValueError, match="has its own loss"):
        fit(huber(), np.ones((4, 2)), np.ones(4), loss="cross_entropy", progress=False)


def test_the_command_line_trains_a_model_from_a_file(tmp_path, capsys):
    from symnet.cli import main

    (tmp_path / "mine.py").write_text(
        "import sympy as sp\nfrom symnet import Model, ops\nfrom symnet.nn import dense\n"
        "def make():\n"
        "    m = sp.Symbol('m', integer=True, positive=True)\n"
        "    X, T = sp.MatrixSymbol('X', 64, m), ops.OneHot('T', 10, m)\n"
        "    W, b = sp.MatrixSymbol('W', 10, 64), sp.MatrixSymbol('b', 10, 1)\n"
        "    z = dense(W, X, b)\n"
        "    return Model(X, T, [W, b], ops.softmax(z),\n"
        "                 -ops.matsum(sp.HadamardProduct(T, ops.log_softmax(z))) / m)\n")
    assert main(["train", "--model", f"{tmp_path / 'mine.py'}:make", "--epochs", "2",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "model model (2 parameters), its own loss" in out and "validation accuracy" in out
    assert main(["train", "--model", "nowhere:make"]) == 1
    assert "No module named 'nowhere'" in capsys.readouterr().err
