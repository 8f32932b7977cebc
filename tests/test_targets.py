"""Targets are checked once per data set, for every loss and entry point:
integer labels in range and whole, one-hot columns that are one-hot (or
distributions), binary targets in [0, 1], finite values -- and training that
diverges stops with a message naming the epoch."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symnet
from symnet.cli import main
from symnet.nn import MLP
from symnet.sgd import compile_sgd
from symnet.train import DivergedError, fit, init_params

rng = np.random.default_rng(0)
X = rng.standard_normal((12, 4))


@pytest.mark.parametrize("y, match", [
    (np.array([0, 1, 2] * 3 + [0, 1, -1]), "lie in 0..2, got -1 at sample 11"),
    (np.array([0, 1, 3] * 4), "lie in 0..2, got 3"),
    (np.array([0.0, 1.5] * 6), "whole numbers, got 1.5"),
    (np.array([0.0, np.nan] * 6), "NaN"),
])
def test_fit_rejects_bad_class_labels(y, match):
    with pytest.raises(ValueError, match=match):
        fit(MLP([4, 5, 3], "tanh"), X, y, epochs=1, progress=False)


def test_fit_rejects_bad_one_hot_rows_anywhere():
    T = np.eye(3)[np.arange(12) % 3]
    T[7] = [5, -2, 9]  # not the first sample
    with pytest.raises(ValueError, match="non-negative, got -2 at row 1, sample 7"):
        fit(MLP([4, 5, 3], "tanh"), X, T, epochs=1, progress=False)
    T[7] = [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="column 7 sums to 1.5"):
        fit(MLP([4, 5, 3], "tanh"), X, T, epochs=1, progress=False)
    T[7] = [0.2, 0.3, 0.5]  # a distribution: soft targets are allowed
    fit(MLP([4, 5, 3], "tanh"), X, T, epochs=1, progress=False)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_binary_targets_must_lie_in_0_1(backend):
    net = MLP([4, 5, 1], "tanh", output="logistic")
    with pytest.raises(ValueError, match=r"binary targets must lie in \[0, 1\].*got 2"):
        fit(net, X, np.full(12, 2), loss="binary_cross_entropy", epochs=1, progress=False,
            backend=backend)
    res = fit(net, X, (X[:, 0] > 0).astype(int), loss="binary_cross_entropy", epochs=2,
              progress=False, backend=backend)
    assert res.history.train_loss[-1] >= 0  # a cross-entropy is never negative


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_compile_sgd_checks_every_target_once(backend):
    net = MLP([4, 5, 3], "tanh")
    sgd = compile_sgd(net.risk(lam=0.0), net.params, net.X, net.labels(), backend=backend)
    ps = list(init_params(net).values())
    y = np.arange(12) % 3
    bad = y.copy()
    bad[5] = -1
    with pytest.raises(ValueError, match="got -1 at sample 5"):
        sgd.epoch(X.T, bad, np.arange(12), 1, 0.1, ps)
    T = np.eye(3)[:, y]
    T[:, 9] = [5, -2, 9]
    with pytest.raises(ValueError, match="sample 9"):
        sgd.prepare(X.T, T)
    Xn = X.T.copy()
    Xn[2, 3] = np.inf
    with pytest.raises(ValueError, match="X: NaN and infinite"):
        sgd.prepare(Xn, y)
    data = sgd.prepare(X.T, y)
    before = [p.copy() for p in ps]
    sgd.epoch(data, None, np.arange(12), 1, 0.1, ps)
    assert any(not np.array_equal(a, b) for a, b in zip(ps, before, strict=True))


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_kernels_check_whole_label_matrices(backend):
    net = MLP([4, 5, 3], "tanh")
    k = symnet.compile([net.loss()], [net.X, net.labels(), *net.params], backend=backend)
    ps = list(init_params(net).values())
    T = np.eye(3)[:, np.arange(12) % 3]
    T[:, 11] = [0, 0, 0]
    with pytest.raises(ValueError, match="column 11 sums to 0"):
        k(X.T, T, *ps)
    with pytest.raises(ValueError, match="whole numbers"):
        k(X.T, np.full(12, 0.5), *ps)


def test_cli_rejects_bad_labels(tmp_path, capsys):
    data = tmp_path / "d.csv"
    rows = np.column_stack([X, np.arange(12) % 3])
    rows[4, -1] = -1
    np.savetxt(data, rows, delimiter=",", fmt="%g")
    assert main(["train", "--data", str(data), "--no-progress", "--epochs", "1", "--task",
                 "classification"]) == 1
    assert "label -1 of sample 4 is negative" in capsys.readouterr().err
    # Without --task a negative target makes the file a regression, and the output says so.
    assert main(["train", "--data", str(data), "--no-progress", "--epochs", "1"]) == 0
    assert "task: regression (inferred from the targets" in capsys.readouterr().out


def test_divergence_stops_fit_with_the_epoch_and_a_suggestion():
    Xd = rng.standard_normal((40, 4)) * 50
    y = (Xd[:, 0] > 0).astype(int)
    net = MLP([4, 8, 2], "relu")
    with pytest.raises(DivergedError, match=r"diverged in epoch \d+.*smaller learning rate") as e:
        fit(net, Xd, y, X_val=Xd, y_val=y, alpha=1e3, epochs=30, patience=None,
            progress=False)
    err = e.value
    assert len(err.result.history) == err.epoch
    for v in err.result.params.values():  # never the diverged epoch's parameters
        assert np.isfinite(v).all()


def test_cli_stops_a_diverging_run(capsys):
    # alpha 0.5 diverges in the first epoch; at the default 0.1 this network
    # diverges or stops early depending on the last bits of its arithmetic.
    assert main(["train", "--activation", "prelu", "--no-progress", "--epochs", "15",
                 "--alpha", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "training diverged in epoch" in err and "smaller learning rate" in err


def test_zero_gradient_check_grad_integer_labels():
    net = MLP([4, 3], output="softmax")
    values = {net.X: X[:3].T, net.labels(): np.array([0, 2, 1]),
              **{p: v for p, v in zip(net.params, init_params(net, 1).values(), strict=True)},
              sp.Symbol("lambda"): 0.0}
    assert symnet.check_grad(net.risk(), net.params, values).ok


# Values that sit on every edge of the target checks.
_EDGES = [0.0, 1.0, 0.5, 0.25, -0.0, -1e-300, 1e-7, 1 + 1.5e-6, 1 - 5e-7, 1 + 5e-5,
          1 - 1.5e-4, 2.0, np.nan, np.inf, -np.inf, 1e308]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 1e308 overflows on purpose
@pytest.mark.parametrize("kind", ["onehot", "binary"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_quick_acceptance_of_targets_is_exactly_the_full_check(kind, dtype, data):
    """check_targets accepts most calls after two reductions: it must accept
    exactly what the one-by-one checks accept (and leave the errors to them)."""
    from symnet.targets import _check_each, _plainly_valid

    rows = data.draw(st.integers(1, 4))
    cols = data.draw(st.sampled_from([1, 3, 16, 17, 40]))
    labels = data.draw(st.lists(st.integers(0, rows - 1), min_size=cols, max_size=cols))
    Y = np.zeros((rows, cols), dtype=dtype)
    Y[labels, np.arange(cols)] = 1
    for _ in range(data.draw(st.integers(0, 3))):  # a few entries moved to an edge
        c = data.draw(st.integers(0, cols - 1))
        r = labels[c] if data.draw(st.booleans()) else data.draw(st.integers(0, rows - 1))
        Y[r, c] = data.draw(st.sampled_from(_EDGES))
    if data.draw(st.booleans()):
        Y = np.asfortranarray(Y)
    try:
        _check_each("Y", kind, Y)
        accepted = True
    except ValueError:
        accepted = False
    assert _plainly_valid(kind, Y) == accepted


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("kind", ["onehot", "binary"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cols", [1, 40])
@pytest.mark.parametrize("edge", _EDGES)
def test_quick_acceptance_at_each_edge(kind, dtype, cols, edge):
    from symnet.targets import _check_each, _plainly_valid

    for where in ((1, cols - 1), (0, cols - 1)):  # a one, then a zero, moved to the edge
        Y = np.zeros((2, cols), dtype=dtype)
        Y[1] = 1
        Y[where] = edge
        try:
            _check_each("Y", kind, Y)
            accepted = True
        except ValueError:
            accepted = False
        assert _plainly_valid(kind, Y) == accepted, (Y[:, -1], where)
