"""symnet.distributed on a 2-worker LocalCluster: exact synchronous SGD, faults, checkpoints."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

distributed = pytest.importorskip("distributed", reason="needs the distributed extra")
da = pytest.importorskip("dask.array", reason="needs the distributed extra")

from reference import Layer, risk_and_grads  # noqa: E402

import symnet  # noqa: E402
from symnet import distributed as sd  # noqa: E402
from symnet import ops  # noqa: E402
from symnet.distributed import ship  # noqa: E402
from symnet.nn import MLP  # noqa: E402
from symnet.train import fit, init_params  # noqa: E402


@pytest.fixture(scope="module")
def client():
    c = sd.local_client(2)
    c.wait_for_workers(2, timeout=60)
    yield c
    c.close()


def _rel(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(a[k] - b[k])) / max(np.max(np.abs(b[k])), 1e-300))
               for k in b)


def _w2(n=512, seed=1, dtype="float64"):
    """W2's network (784-256-256-10, ReLU, softmax + cross-entropy) on n random samples."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, size=(n, 784)).astype(dtype)
    y = rng.integers(0, 10, n)
    return MLP([784, 256, 256, 10], "relu", output="softmax"), X, y


def _autoencoder():
    """A user-declared Model: a tied-weight autoencoder with a bias, its own loss."""
    m = sp.Symbol("m", integer=True, positive=True)
    X, Y = sp.MatrixSymbol("X", 6, m), sp.MatrixSymbol("Y", 6, m)
    W, c = sp.MatrixSymbol("W", 3, 6), sp.MatrixSymbol("c", 6, 1)
    out = W.T * ops.Elementwise(sp.tanh, W * X) + c * ops.ones(1, m)
    loss = ops.matsum(sp.HadamardPower(out - Y, 2)) / (2 * m)
    return symnet.Model(X, Y, [W, c], out, loss)


def test_sync_reproduces_single_process_minibatch_sgd_on_w2(client):
    net, X, y = _w2()
    kw = dict(lam=0.0, alpha=0.01, epochs=2, batch_size=64, seed=42)
    dist = sd.fit(net, X, y, client=client, progress=False, **kw)
    one = fit(net, X, y, patience=None, progress=False, **kw)
    assert _rel(dist.params, one.params) < 1e-12
    assert not np.allclose(dist.params["W1"], init_params(net, 42)["W1"])  # it trained
    np.testing.assert_allclose(dist.history.train_loss, one.history.train_loss, rtol=1e-12)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_sync_matches_hand_written_backprop(client, optimizer):
    """An independent implementation: NumPy backprop and the update written out."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 5))
    y = rng.integers(0, 3, 90)
    net = MLP([5, 7, 3], "tanh")
    alpha, lam, batch = 0.05, 1e-3, 16
    res = sd.fit(net, X, y, client=client, epochs=2, batch_size=batch, alpha=alpha, lam=lam,
                 seed=5, optimizer=optimizer, progress=False)
    gen = np.random.default_rng(5)
    p = init_params(net, gen)
    st = {k: {"v": np.zeros_like(v), "m": np.zeros_like(v)} for k, v in p.items()}
    t = 0
    for _ in range(2):
        order = gen.permutation(90)
        for s in range(0, 90, batch):
            idx = order[s:s + batch]
            layers = [Layer("tanh", p["W1"], p["b1"]), Layer("softmax", p["W2"], p["b2"])]
            _, g = risk_and_grads(layers, X[idx].T, np.eye(3)[y[idx]].T, "cross_entropy", lam)
            grads = {"W1": g[0]["W"], "b1": g[0]["b"], "W2": g[1]["W"], "b2": g[1]["b"]}
            t += 1
            for k, gk in grads.items():
                if optimizer == "sgd":
                    p[k] = p[k] - alpha * gk
                elif optimizer == "momentum":
                    st[k]["v"] = 0.9 * st[k]["v"] - alpha * gk
                    p[k] = p[k] + st[k]["v"]
                else:
                    st[k]["m"] = 0.9 * st[k]["m"] + 0.1 * gk
                    st[k]["v"] = 0.999 * st[k]["v"] + 0.001 * gk * gk
                    m_hat = st[k]["m"] / (1 - 0.9 ** t)
                    v_hat = st[k]["v"] / (1 - 0.999 ** t)
                    p[k] = p[k] - alpha * m_hat / (np.sqrt(v_hat) + 1e-8)
    assert _rel(res.params, p) < 1e-10


@pytest.mark.parametrize("backend", ["llvm", "numpy"])
def test_sync_reproduces_single_process_for_a_declared_model(client, backend):
    model = _autoencoder()
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 6))
    kw = dict(lam=1e-3, alpha=0.05, epochs=3, batch_size=25, seed=9, optimizer="adam",
              backend=backend)
    dist = sd.fit(model, X, X, client=client, progress=False, **kw)
    one = fit(model, X, X, patience=None, progress=False, **kw)
    assert _rel(dist.params, one.params) < 1e-12
    assert dist.history.train_loss[-1] < dist.history.train_loss[0]


def test_float32_follows_single_process(client):
    net, X, y = _w2(n=256, dtype="float32")
    kw = dict(lam=0.0, alpha=0.01, epochs=1, batch_size=32, seed=4, dtype="float32")
    dist = sd.fit(net, X, y, client=client, progress=False, **kw)
    one = fit(net, X, y, patience=None, progress=False, **kw)
    assert all(v.dtype == np.float32 for v in dist.params.values())
    assert _rel(dist.params, one.params) < 1e-5


def test_every_data_form_gives_the_same_training(client, tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 4))
    y = rng.integers(0, 2, 200)
    net = MLP([4, 6, 2], "tanh")
    kw = dict(epochs=2, batch_size=16, seed=1, progress=False, client=client)
    whole = sd.fit(net, X, y, **kw)
    blocks = sd.fit(net, [X[:70], X[70:150], X[150:]], [y[:70], y[70:150], y[150:]], **kw)
    darr = sd.fit(net, da.from_array(X, chunks=(64, 4)), da.from_array(y, chunks=64), **kw)
    paths = []
    for k, (a, b) in enumerate([(0, 120), (120, 200)]):
        paths.append(tmp_path / f"part{k}.npz")
        np.savez(paths[-1], X=X[a:b], y=y[a:b])
    files = sd.fit(net, paths, None, **kw)
    one = fit(net, X, y, epochs=2, batch_size=16, seed=1, progress=False, patience=None)
    for res in (whole, blocks, darr, files):
        assert _rel(res.params, one.params) < 1e-12


def test_a_worker_killed_mid_epoch_is_recovered_exactly(client):
    net, X, y = _w2(n=384)
    kw = dict(lam=1e-4, alpha=0.01, epochs=2, batch_size=32, seed=3, optimizer="momentum",
              progress=False, client=client)
    calm = sd.fit(net, X, y, **kw)
    victim = sorted(client.run(os.getpid).values())[0]
    killed = []

    def kill(epoch, step):
        if epoch == 1 and step == 4:
            os.kill(victim, signal.SIGKILL)
            killed.append(step)

    hit = sd.fit(net, X, y, step_callback=kill, **kw)
    assert killed == [4]
    assert victim not in client.run(os.getpid).values()
    for k in calm.params:  # the same tasks, rerun: the same numbers
        assert np.array_equal(calm.params[k], hit.params[k])
    one = fit(net, X, y, patience=None, **{k: v for k, v in kw.items() if k != "client"})
    assert _rel(hit.params, one.params) < 1e-12
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next tests


@pytest.mark.parametrize("mode", ["sync", "local"])
def test_resume_from_a_checkpoint_continues_bit_for_bit(client, tmp_path, mode):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(160, 5))
    y = rng.integers(0, 3, 160)
    net = MLP([5, 8, 3], "logistic")
    kw = dict(client=client, batch_size=10, seed=2, optimizer="adam", alpha=0.01,
              mode=mode, sync_every=3, progress=False, X_val=X[:40], y_val=y[:40])
    straight = sd.fit(net, X, y, epochs=4, **kw)
    path = tmp_path / "run.npz"
    first = sd.fit(net, X, y, epochs=2, checkpoint=path, **kw)
    assert len(first.history) == 2
    ck = sd.load_checkpoint(path)
    assert ck.epoch == 2 and set(ck.state) >= {"m_W1", "v_b2", "t_steps"}
    assert float(ck.state["t_steps"][0, 0]) > 0
    resumed = sd.fit(net, X, y, epochs=4, resume=path, **kw)
    for k in straight.params:
        assert np.array_equal(straight.params[k], resumed.params[k])
    assert resumed.history.train_loss == straight.history.train_loss
    assert resumed.best_epoch == straight.best_epoch
    with pytest.raises(ValueError, match="batch_size 10 there, 20 now"):
        sd.fit(net, X, y, epochs=4, resume=path, **{**kw, "batch_size": 20})


def test_local_sgd_on_one_shard_is_single_process_sgd(client):
    """With one shard, a local round is that many global steps: the same trajectory."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 4))
    y = rng.integers(0, 2, 120)
    net = MLP([4, 5, 2], "tanh")
    kw = dict(epochs=2, batch_size=8, seed=6, optimizer="rmsprop", alpha=0.01, progress=False)
    local = sd.fit(net, [X], [y], client=client, mode="local", sync_every=4, **kw)
    one = fit(net, X, y, patience=None, **kw)
    assert _rel(local.params, one.params) < 1e-12


def test_local_sgd_averages_the_workers_and_learns(client):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(400, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    net = MLP([4, 8, 2], "tanh")
    res = sd.fit(net, X, y, client=client, mode="local", sync_every=5, epochs=4, batch_size=8,
                 seed=1, alpha=0.1, progress=False)
    sync = sd.fit(net, X, y, client=client, epochs=4, batch_size=8, seed=1, alpha=0.1,
                  progress=False)
    assert res.history.train_error[-1] < 0.1
    assert res.history.train_loss[-1] < res.history.train_loss[0]
    assert not np.allclose(res.params["W1"], sync.params["W1"])  # another trajectory


def test_extreme_inputs_stay_finite(client):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(64, 3)) * 800.0
    y = rng.integers(0, 3, 64)
    net = MLP([3, 4, 3], "relu")
    res = sd.fit(net, X, y, client=client, epochs=1, batch_size=16, lam=0.0, alpha=1e-3,
                 progress=False)
    assert all(np.isfinite(v).all() for v in res.params.values())
    assert np.isfinite(res.history.train_loss).all()


def test_kernels_reach_the_workers_as_data(client):
    """The task carries program text, never code: it unpickles in a process without symnet's
    kernels loaded, and every worker holds the kernels it rebuilt."""
    net = MLP([3, 4, 2], "tanh")
    spec = ship.KernelSpec.of(symnet.train.training_kernel(net, backend="llvm"), "train_step")
    blob = pickle.dumps(spec)
    assert b"llvmlite" not in blob and len(blob) < 200_000
    code = ("import pickle,sys,numpy as np; s=pickle.loads(sys.stdin.buffer.read()); "
            "k=s.build(); print(float(k(np.ones((3,2)),np.eye(2),*[np.full(tuple(int(d) "
            "for d in p.shape),0.1) for p in k.inputs[2:]])[0]))")
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True,
                         check=True)
    here = spec.build()(np.ones((3, 2)), np.eye(2),
                        *[np.full(tuple(int(d) for d in p.shape), 0.1) for p in net.params])
    assert float(out.stdout) == pytest.approx(float(here[0]), rel=1e-15)
    rng = np.random.default_rng(0)
    sd.fit(net, rng.normal(size=(40, 3)), rng.integers(0, 2, 40), client=client, epochs=1,
           batch_size=8, progress=False)
    built = client.run(lambda: len(ship._BUILT))
    assert len(built) == 2 and all(n >= 1 for n in built.values())


def test_bad_input_is_named(client, tmp_path):
    net = MLP([4, 3, 2], "tanh")
    X = np.zeros((10, 4))
    y = np.zeros(10, dtype=int)
    with pytest.raises(ValueError, match="mode must be one of sync, local"):
        sd.fit(net, X, y, client=client, mode="async", progress=False)
    with pytest.raises(ValueError, match="y is missing"):
        sd.fit(net, X, None, client=client, progress=False)
    with pytest.raises(ValueError, match="list of 2 NumPy shards"):
        sd.fit(net, [X[:5], X[5:]], y, client=client, progress=False)
    with pytest.raises(ValueError, match="X shard 1 has 5 features per sample"):
        sd.fit(net, [X[:5], np.zeros((5, 5))], [y[:5], y[5:]], client=client,
               progress=False)
    with pytest.raises(ValueError, match="NaN"):
        sd.fit(net, np.full((10, 4), np.nan), y, client=client, progress=False)
    with pytest.raises(FileNotFoundError, match="missing.npz does not exist"):
        sd.fit(net, [str(tmp_path / "missing.npz")], None, client=client, progress=False)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        sd.fit(net, X, y, client=client, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="not a symnet checkpoint"):
        (tmp_path / "junk.npz").write_bytes(b"junk")
        sd.fit(net, X, y, client=client, resume=tmp_path / "junk.npz", progress=False)


def test_progress_shows_one_bar_and_the_dashboard(client, capsys):
    rng = np.random.default_rng(0)
    sd.fit(MLP([2, 3, 2], "tanh"), rng.normal(size=(30, 2)), rng.integers(0, 2, 30),
           client=client, epochs=2, batch_size=10, progress=True)
    out = capsys.readouterr()
    assert "sample/s" in out.err and "epoch 2/2" in out.err
    if "dashboard" in client.scheduler_info().get("services", {}):
        assert f"Dask dashboard: {client.dashboard_link}" in out.out


def test_cli_trains_on_the_scheduler_like_one_process(client, capsys, tmp_path):
    from symnet.cli import main

    base = ["train", "--batch-size", "64", "--epochs", "2", "--no-progress", "--seed", "3"]
    assert main(base) == 0
    alone = capsys.readouterr().out
    ck = tmp_path / "cli.npz"
    assert main([*base, "--scheduler", client.scheduler.address, "--checkpoint", str(ck)]) == 0
    spread = capsys.readouterr().out
    assert "dask: 2 worker(s)" in spread
    def rows(out: str) -> list[list[str]]:  # epoch, train loss, val loss, val error
        return [line.split()[:4] for line in out.splitlines() if line.split()[:1] in
                (["1"], ["2"])]

    assert len(rows(alone)) == 2
    assert rows(alone) == rows(spread)  # the same numbers
    assert alone.splitlines()[-1].split(" with ")[0] == spread.splitlines()[-1].split(" with ")[0]
    assert sd.load_checkpoint(ck).epoch == 2
    assert main(["train", "--resume", str(ck), "--no-progress"]) == 1
    assert "--resume belong to data-parallel training" in capsys.readouterr().err
    assert main([*base, "--scheduler", "local:x"]) == 1
    assert "worker count must be a positive integer" in capsys.readouterr().err
