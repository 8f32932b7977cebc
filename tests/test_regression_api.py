"""Regression as a first-class task, one set of defaults, and the CLI's data and predict paths."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet.cli import main
from symnet.data import infer_task, load_array_file, read_table
from symnet.nn import MLP
from symnet.train import (
    accuracy,
    fit,
    init_params,
    load_model,
    mean_squared_error,
    predict,
    predict_proba,
    r2_score,
    save_params,
)


def _regression_data(n=300, seed=0, outputs=1):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 - X[:, 2]
    if outputs == 2:
        y = np.c_[y, np.cos(X[:, 1])]
    return X, y


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_linear_output_trains_a_regression_without_a_loss_argument(backend):
    X, y = _regression_data()
    net = MLP([3, 16, 1], "tanh", output="linear")
    assert net.default_loss == "squared_error" and net.task == "regression"
    res = fit(net, X[:240], y[:240], X_val=X[240:], y_val=y[240:], alpha=0.02, epochs=25,
              progress=False, backend=backend, patience=None)
    # The history's error is the validation mean squared error, computed independently.
    best = res.history.val_error[res.best_epoch - 1]
    pred = predict(net, res.params, X[240:], backend="numpy")
    assert pred.shape == (60,)
    assert np.isclose(best, np.mean((pred - y[240:]) ** 2), rtol=1e-9)
    assert np.isclose(mean_squared_error(net, res.params, X[240:], y[240:]), best, rtol=1e-9)
    assert r2_score(net, res.params, X[240:], y[240:]) > 0.9
    with pytest.raises(ValueError, match="accuracy is for classifiers"):
        accuracy(net, res.params, X, y)
    with pytest.raises(ValueError, match="predict_proba needs a classifier"):
        predict_proba(net, res.params, X)


def test_several_regression_outputs_predict_a_row_per_sample():
    X, y = _regression_data(outputs=2)
    net = MLP([3, 8, 2], "tanh", output="linear")
    res = fit(net, X, y, epochs=3, alpha=0.01, progress=False)
    pred = predict(net, res.params, X)
    W1, b1, W2, b2 = (res.params[k] for k in ("W1", "b1", "W2", "b2"))
    want = (W2 @ np.tanh(W1 @ X.T + b1) + b2).T
    assert pred.shape == (300, 2) and np.allclose(pred, want, rtol=1e-12)


def test_predict_proba_is_the_softmax_or_the_two_class_split():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((7, 2))
    net = MLP([2, 3, 4], "relu", output="softmax")
    p = init_params(net, 2)
    probs = predict_proba(net, p, X)
    z = p["W2"] @ np.maximum(p["W1"] @ X.T + p["b1"], 0) + p["b2"]
    want = np.exp(z - z.max(axis=0)) / np.exp(z - z.max(axis=0)).sum(axis=0)
    assert probs.shape == (7, 4) and np.allclose(probs, want.T, rtol=1e-12)
    assert np.array_equal(predict(net, p, X), np.argmax(probs, axis=1))
    one = MLP([2, 1], output="logistic")
    q = init_params(one, 0)
    pr = predict_proba(one, q, X)
    s = 1 / (1 + np.exp(-(q["W1"] @ X.T + q["b1"])[0]))
    assert np.allclose(pr[:, 1], s, rtol=1e-12) and np.allclose(pr.sum(axis=1), 1.0)


def test_fit_defaults_agree_with_the_command_line_and_results_print_briefly():
    X, y = _regression_data(n=40)
    labels = (X[:, 0] > 0).astype(int)
    res = fit(MLP([3, 4, 2], "tanh"), X, labels, epochs=2, progress=False)
    assert res.sgd.backend == "llvm"
    text = repr(res)
    assert text.startswith("FitResult(params={W1: 4x3, b1: 4x1") and "array" not in text
    assert len(text) < 200


def test_check_grad_takes_integer_labels_like_every_kernel():
    net = MLP([3, 4, 2], "tanh")
    p = init_params(net, 0)
    X = np.random.default_rng(0).standard_normal((3, 5))
    labels = np.array([0, 1, 1, 0, 1])
    base = {net.X: X, **{s: p[str(s)] for s in net.params}}
    a = symnet.check_grad(net.risk(lam=1e-3), net.params, {**base, net.labels(): labels})
    b = symnet.check_grad(net.risk(lam=1e-3), net.params,
                          {**base, net.labels(): np.eye(2)[:, labels]})
    assert a.ok and a.analytic == b.analytic and a.numerical == b.numerical


@pytest.mark.parametrize("sep", [",", "\t", ";", "  "])
def test_text_tables_are_sniffed(tmp_path, sep):
    rows = [["x1", "x2", "y"], ["0.5", "1", "2.25"], ["-3", "4e1", "0.5"]]
    path = tmp_path / "t.txt"
    path.write_text("\n".join(sep.join(r) for r in rows) + "\n")
    X, y = load_array_file(path, task=None)
    assert X.tolist() == [[0.5, 1.0], [-3.0, 40.0]] and y.tolist() == [2.25, 0.5]
    assert read_table(path).shape == (2, 3)


def test_the_task_is_inferred_from_the_targets():
    assert infer_task(np.array([0, 1, 2, 1, 0, 2])) == "classification"
    assert infer_task(np.array([0.5, 1.5, 2.0])) == "regression"
    assert infer_task(np.arange(100.0)) == "regression"  # every value distinct
    assert infer_task(np.array([-1, 1, -1, 1])) == "regression"


def _write_regression(tmp_path):
    X, y = _regression_data(n=200)
    path = tmp_path / "r.tsv"
    path.write_text("a\tb\tc\ttarget\n" + "\n".join(
        "\t".join(f"{v:.8f}" for v in row) for row in np.c_[X, y]) + "\n")
    return path, X, y


def test_the_cli_trains_a_regression_and_predicts_with_the_saved_model(tmp_path, capsys):
    path, X, y = _write_regression(tmp_path)
    model = tmp_path / "m.npz"
    assert main(["train", "--data", str(path), "--hidden", "12", "--activation", "tanh",
                 "--alpha", "0.02", "--epochs", "6", "--save", str(model)]) == 0
    out = capsys.readouterr().out
    assert "task: regression (inferred from the targets" in out
    assert "linear output" in out and "squared_error" in out and "val mse" in out
    assert "validation mean squared error" in out and "\r" not in out  # no bar off a TTY
    net, params = load_model(model)
    assert main(["predict", str(model), "--data", str(path)]) == 0
    captured = capsys.readouterr()
    got = np.array([float(v) for v in captured.out.split()])
    assert np.allclose(got, predict(net, params, X), rtol=1e-9)
    assert "mean squared error" in captured.err
    feats = tmp_path / "f.csv"
    feats.write_text("\n".join(",".join(f"{v:.8f}" for v in row) for row in X[:5]) + "\n")
    assert main(["predict", str(model), "--data", str(feats)]) == 0
    assert len(capsys.readouterr().out.split()) == 5


def test_the_cli_checks_its_arguments_before_training(tmp_path, capsys):
    assert main(["train", "--plot", str(tmp_path / "missing" / "c.png")]) == 1
    captured = capsys.readouterr()
    assert "no such folder for --plot" in captured.err and "epoch" not in captured.out
    assert main(["train", "--epochs", "1", "--batch-size", "5000", "--no-progress"]) == 0
    assert "exceeds the 1437 training samples" in capsys.readouterr().out
    assert main(["train", "--task", "regression"]) == 1
    assert "give --data for a regression" in capsys.readouterr().err


def test_a_saved_model_records_its_architecture_or_says_why_not(tmp_path):
    net = MLP([3, 5, 2], ["relu"], output="softmax")
    f = save_params(tmp_path / "a.npz", net, init_params(net, 1))
    again, params = load_model(f)
    assert again.acts == ["relu"] and [int(n) for n in again.sizes] == [3, 5, 2]
    t = sp.Symbol("t")
    custom = MLP([3, 5, 2], sp.Lambda(t, t / (1 + sp.Abs(t))))
    g = save_params(tmp_path / "b.npz", custom, init_params(custom, 1))
    with pytest.raises(ValueError, match="does not record its network's architecture"):
        load_model(g)
