"""Training API: Algorithm 4.1, minibatch SGD against the NumPy reference, early stopping,
determinism, saving and loading, and the data loaders."""

import sys
from pathlib import Path

import numpy as np
import pytest

from symnet.data import DataError, load_array_file, load_digits, reference_split
from symnet.nn import MLP
from symnet.train import (
    History,
    accuracy,
    fit,
    init_params,
    inverse_time_decay,
    load_params,
    model_hash,
    plot_history,
    predict,
    save_params,
    step_decay,
)

# The hand-written oracle lives next to this file (tests/ is not a package).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import Layer, risk_and_grads  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return reference_split(*load_digits())


@pytest.fixture(scope="module")
def small(digits):
    """A small slice of the digits and one net, so compiled kernels are reused."""
    X_tr, y_tr, X_va, y_va = digits
    return MLP([64, 16, 10], "logistic", output="softmax"), X_tr[:300], y_tr[:300], \
        X_va[:150], y_va[:150]


# ------------------------------------------------------------------ data


def test_digits_and_reference_split():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64 and y.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0 and set(np.unique(y)) == set(range(10))
    X_tr, y_tr, X_va, y_va = reference_split(X, y)
    perm = np.random.default_rng(0).permutation(1797)
    assert np.array_equal(X_tr, X[perm[:1437]]) and np.array_equal(y_va, y[perm[1437:]])
    assert X_va.shape == (360, 64)


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_with_and_without_header(tmp_path):
    X, y = load_array_file(_write(tmp_path, "a.csv", "f1,f2,label\n0.5,1,2\n-3,4e1,0\n\n"))
    assert X.tolist() == [[0.5, 1.0], [-3.0, 40.0]] and y.tolist() == [2, 0]
    assert y.dtype == np.int64
    X, y = load_array_file(_write(tmp_path, "b.csv", "1,2,3.0\n4,5,1\n"))
    assert X.shape == (2, 2) and y.tolist() == [3, 1]


@pytest.mark.parametrize("text, match", [
    ("1,2,0\n1,nan,1\n", "line 2, column 2.*NaN"),
    ("1,2,0\n1,inf,1\n", "NaN and infinite"),
    ("1,2,0\n1,2,cat\n", "line 2: target 'cat' is not a finite number"),
    ("1,2,0\n1,2,1.5\n", "label 1.5 of sample 1 is not an integer"),
    ("1,2,0\n1,2,-1\n", "negative"),
    ("1,2,0\n1,x,1\n", "'x' is not a number"),
    ("1,2,0\n1,2\n", "line 2 has 2 columns, expected 3"),
    ("1\n2\n", "at least one feature column"),
    ("", "empty"),
    ("\n\n", "empty"),
    ("a,b,label\n", "header line but no data"),
])
def test_csv_errors(tmp_path, text, match):
    with pytest.raises(DataError, match=match) as info:
        load_array_file(_write(tmp_path, "bad.csv", text))
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_npz_loading_and_errors(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, X=np.ones((3, 2)), y=np.array([0, 1, 1]))
    X, y = load_array_file(good)
    assert X.shape == (3, 2) and y.tolist() == [0, 1, 1]
    cases = {
        "missing": ({"X": np.ones((3, 2))}, "needs arrays 'X' and 'y'"),
        "ndim": ({"X": np.ones(3), "y": np.zeros(3, int)}, "X must be 2-D"),
        "ylen": ({"X": np.ones((3, 2)), "y": np.zeros(2, int)}, "3 samples but y has 2"),
        "nan": ({"X": np.array([[1.0, np.nan]]), "y": np.zeros(1, int)}, r"X\[0, 1\] is nan"),
        "yfloat": ({"X": np.ones((2, 2)), "y": np.array([0.0, 0.5])}, "not an integer"),
        "ystr": ({"X": np.ones((2, 2)), "y": np.array(["a", "b"])}, "must be integers"),
    }
    for name, (arrays, match) in cases.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        with pytest.raises(DataError, match=match):
            load_array_file(path)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="not a valid .npz"):
        load_array_file(broken)
    with pytest.raises(FileNotFoundError):
        load_array_file(tmp_path / "missing.csv")


# ------------------------------------------------------------------ training


def test_algorithm_41_on_digits(digits):
    X_tr, y_tr, X_va, y_va = digits
    net = MLP([64, 16, 10], "logistic", output="softmax")
    res = fit(net, X_tr, y_tr, X_val=X_va, y_val=y_va, epochs=3, patience=None,
              progress=False)
    h = res.history
    assert h.epoch == [1, 2, 3] and len(h.seconds) == 3 and h.lr == [0.1] * 3
    assert h.train_loss[-1] < h.train_loss[0]
    acc = accuracy(net, res.params, X_va, y_va)
    assert acc >= 0.93
    assert acc == pytest.approx(1 - res.best_val_error)
    assert not res.stopped_early and res.best_epoch == int(np.argmin(h.val_error)) + 1


def test_same_seed_same_trajectory(small):
    net, X, y, X_va, y_va = small
    kw = dict(X_val=X_va, y_val=y_va, epochs=2, patience=None, progress=False)
    a, b = fit(net, X, y, seed=3, **kw), fit(net, X, y, seed=3, **kw)
    c = fit(net, X, y, seed=4, **kw)
    assert a.params.keys() == b.params.keys() == {"W1", "b1", "W2", "b2"}
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k])
    assert a.history.train_loss == b.history.train_loss
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    assert a.history.train_loss != c.history.train_loss


def test_early_stopping_restores_best_params(small):
    net, X, y, X_va, y_va = small

    def schedule(epoch):  # sensible for three epochs, then a learning rate that wrecks it
        return 0.1 if epoch <= 3 else 200.0

    res = fit(net, X, y, X_val=X_va, y_val=y_va, epochs=10, patience=1, schedule=schedule,
              progress=False)
    h = res.history
    assert res.stopped_early and len(h) < 10
    assert h.lr[:3] == [0.1] * 3 and h.lr[3] == 200.0
    best = min(h.val_error)
    assert res.best_epoch == h.val_error.index(best) + 1
    assert h.val_error[-1] > best  # the last epoch was worse: restoring matters
    assert 1 - accuracy(net, res.params, X_va, y_va) == pytest.approx(best)
    # The returned parameters are those after epoch best_epoch of the same trajectory.
    again = fit(net, X, y, epochs=res.best_epoch, schedule=schedule, progress=False)
    for k in res.params:
        assert np.array_equal(res.params[k], again.params[k])


def _onehot(y, k):
    T = np.zeros((k, len(y)))
    T[y, np.arange(len(y))] = 1.0
    return T


@pytest.mark.parametrize("act, batch_size", [("tanh", 5), ("tanh", 2), ("prelu", 2),
                                             ("logistic", 1)])
def test_sgd_steps_match_numpy_reference(act, batch_size):
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    net = MLP([3, 4, 2], act, output="softmax")
    alpha, lam, seed = 0.3, 0.01, 11
    res = fit(net, X, y, alpha=alpha, lam=lam, epochs=1, batch_size=batch_size, seed=seed,
              progress=False)
    # Replay by hand: same generator, initialization first, then one shuffle per epoch.
    gen = np.random.default_rng(seed)
    p = init_params(net, gen)
    order = gen.permutation(5)
    for s in range(0, 5, batch_size):
        idx = order[s:s + batch_size]
        g1 = p.get("g1")
        layers = [Layer(act, p["W1"], p["b1"], g1), Layer("softmax", p["W2"], p["b2"])]
        _, grads = risk_and_grads(layers, X[idx].T, _onehot(y[idx], 2), "cross_entropy", lam)
        p = {"W1": p["W1"] - alpha * grads[0]["W"], "b1": p["b1"] - alpha * grads[0]["b"],
             "W2": p["W2"] - alpha * grads[1]["W"], "b2": p["b2"] - alpha * grads[1]["b"],
             **({"g1": g1 - alpha * grads[0]["gamma"]} if g1 is not None else {})}
    assert res.params.keys() == p.keys()
    for k in p:
        np.testing.assert_allclose(res.params[k], p[k], rtol=1e-10, atol=1e-12)
    assert not np.allclose(res.params["W1"], init_params(net, seed)["W1"])


def test_minibatch_on_digits(small):
    net, X, y, X_va, y_va = small
    res = fit(net, X, y, X_val=X_va, y_val=y_va, epochs=6, batch_size=16, alpha=1.0,
              patience=None, progress=False)
    assert res.history.val_error[-1] < 0.2
    assert res.history.train_loss[-1] < 0.5 * res.history.train_loss[0]


def test_float32_and_progress_bar(small, capsys):
    net, X, y, _, _ = small
    res = fit(net, X[:40], y[:40], epochs=1, dtype="float32", progress=True)
    assert all(v.dtype == np.float32 for v in res.params.values())
    assert np.isfinite(res.history.train_loss[0])
    assert "40" in capsys.readouterr().err  # tqdm counts samples on stderr


def test_init_params():
    net = MLP([5, 3, 4, 2], ["maxout", "prelu"], output="softmax", pieces=3)
    p = init_params(net, seed=1)
    assert list(p) == ["W1_1", "b1_1", "W1_2", "b1_2", "W1_3", "b1_3", "W2", "b2", "g2",
                       "W3", "b3"]
    assert not np.array_equal(p["W1_1"], p["W1_2"])
    assert np.all(p["g2"] == 0.25) and np.all(p["b3"] == 0.0)
    big = init_params(MLP([400, 300, 2]), seed=0)["W1"]
    assert big.std() == pytest.approx(np.sqrt(1 / 400), rel=0.02)


def test_fit_argument_errors(small):
    net, X, y, _, _ = small
    with pytest.raises(ValueError, match="63 features per sample but the network takes 64"):
        fit(net, X[:, :63], y, progress=False)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.9"):
        fit(net, X, y + 1, progress=False)
    with pytest.raises(ValueError, match="both X_val and y_val"):
        fit(net, X, y, X_val=X, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        fit(net, X, y, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="learning rate must be positive"):
        fit(net, X, y, schedule=lambda e: -1.0, progress=False)
    with pytest.raises(ValueError, match="unknown loss"):
        fit(net, X, y, loss="hinge", progress=False)


def test_schedules():
    lr = inverse_time_decay(0.2, 0.5)
    assert [lr(e) for e in (1, 2, 3)] == [0.2, 0.2 / 1.5, 0.1]
    st = step_decay(1.0, drop=0.1, every=3)
    assert [st(e) for e in (1, 3, 4, 7)] == [1.0, 1.0, pytest.approx(0.1), pytest.approx(0.01)]


def test_predict_single_logistic_output_thresholds():
    net = MLP([2, 1], output="logistic")
    p = {"W1": np.array([[1.0, -1.0]]), "b1": np.zeros((1, 1))}
    assert predict(net, p, [[2.0, 0.0], [0.0, 2.0], [1.0, 0.5]]).tolist() == [1, 0, 1]


# ------------------------------------------------------------------ save / load


def test_save_load_round_trip_and_refusal(tmp_path):
    net = MLP([4, 3, 2], "relu", output="softmax")
    params = init_params(net, seed=5)
    path = save_params(tmp_path / "params", net, params)
    assert path.suffix == ".npz" and path.exists()
    loaded = load_params(path, MLP([4, 3, 2], "relu", output="softmax"))
    assert list(loaded) == list(params)
    for k in params:
        assert np.array_equal(loaded[k], params[k])
    for other in (MLP([4, 5, 2], "relu"), MLP([4, 3, 2], "tanh"),
                  MLP([4, 3, 2], "relu", output="logistic")):
        assert model_hash(other) != model_hash(net)
        with pytest.raises(ValueError, match="different model"):
            load_params(path, other)
    plain = tmp_path / "plain.npz"
    np.savez(plain, W1=np.ones((3, 4)))
    with pytest.raises(ValueError, match="not a symnet parameter file"):
        load_params(plain, net)
    with pytest.raises(ValueError, match="parameter W1 has shape"):
        save_params(tmp_path / "x.npz", net, {**params, "W1": np.ones((2, 2))})


# ------------------------------------------------------------------ plotting


def _history():
    h = History()
    for e in (1, 2):
        h._append(epoch=e, train_loss=1.0 / e, train_error=0.5 / e, val_loss=1.1 / e,
                  val_error=0.6 / e, lr=0.1, seconds=0.5)
    return h


def test_plot_history_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install symnet\[plot\]"):
        plot_history(_history(), tmp_path / "h.png")


def test_plot_history_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = plot_history(_history(), tmp_path / "h.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
