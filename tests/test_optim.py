"""Optimizers as formulas (symnet.optim) compiled into the epoch, against hand-written NumPy
updates driven by symnet's own gradient kernel, and against torch.optim where it is installed."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet import optim
from symnet.nn import MLP
from symnet.sgd import compile_sgd
from symnet.train import fit, init_params


def _reference_step(name: str, p, g, st, t, alpha):
    """One update in NumPy, written from each method's definition (torch.optim's)."""
    if name == "sgd":
        return p - alpha * g
    if name == "momentum":
        st["v"] = 0.9 * st["v"] - alpha * g
        return p + st["v"]
    if name == "nesterov":
        st["v"] = 0.9 * st["v"] - alpha * g
        return p + 0.9 * st["v"] - alpha * g
    if name == "adagrad":
        st["s"] = st["s"] + g * g
        return p - alpha * g / (np.sqrt(st["s"]) + 1e-10)
    if name == "rmsprop":
        st["s"] = 0.99 * st["s"] + 0.01 * g * g
        return p - alpha * g / (np.sqrt(st["s"]) + 1e-8)
    decay = 0.01 if name == "adamw" else 0.0
    st["m"] = 0.9 * st["m"] + 0.1 * g
    st["v"] = 0.999 * st["v"] + 0.001 * g * g
    m_hat, v_hat = st["m"] / (1 - 0.9 ** t), st["v"] / (1 - 0.999 ** t)
    return p * (1 - alpha * decay) - alpha * m_hat / (np.sqrt(v_hat) + 1e-8)


def _problem(seed=0, n=23):
    net = MLP([4, 5, 3], "tanh")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((4, n))
    y = rng.integers(0, 3, n)
    start = [np.ascontiguousarray(v) for v in init_params(net, seed).values()]
    return net, X, y, start


def _reference(net, X, y, start, name, batch, alpha, epochs):
    lam = 1e-3
    k = symnet.compile_grad(net.risk(lam=lam), net.params, [net.X, net.labels(), *net.params])
    params = [p.copy() for p in start]
    states = [{s: np.zeros_like(p) for s in ("v", "s", "m")} for p in params]
    t = 0
    for e in range(epochs):
        order = np.random.default_rng(e).permutation(X.shape[1])
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            grads = k(X[:, idx], y[idx], *params)[1:]
            t += 1
            params = [_reference_step(name, p, g, st, t, alpha)
                      for p, g, st in zip(params, grads, states, strict=True)]
    return params


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_every_optimizer_follows_its_definition(name, batch, backend):
    net, X, y, start = _problem()
    alpha = 0.01 if name in ("adam", "adamw", "rmsprop") else 0.1
    sgd = compile_sgd(net.risk(lam=1e-3), net.params, net.X, net.labels(), backend=backend,
                      optimizer=name)
    params = [p.copy() for p in start]
    for e in range(3):
        sgd.epoch(X, y, np.random.default_rng(e).permutation(X.shape[1]), batch, alpha, params)
    want = _reference(net, X, y, start, name, batch, alpha, 3)
    for got, w in zip(params, want, strict=True):
        np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-12)
    assert not np.allclose(params[0], start[0])
    if optim.get(name).counts_steps:
        assert sgd.state["t_steps"][0, 0] == 3 * -(-X.shape[1] // batch)


def test_a_users_own_rule_compiles_the_same_way():
    # A clipped heavy ball: the velocity is kept within +-0.05.
    v = sp.Symbol("v")
    clip = optim.Optimizer("clipped", (
        (v, sp.Max(-0.05, sp.Min(0.05, 0.8 * v - optim.ALPHA * optim.G))),
        (optim.THETA, optim.THETA + v)))
    assert str(clip).splitlines()[1] == "theta <- theta + v"
    net, X, y, start = _problem(1)
    k = symnet.compile_grad(net.risk(lam=1e-3), net.params, [net.X, net.labels(), *net.params])
    for backend in ("numpy", "llvm"):
        sgd = compile_sgd(net.risk(lam=1e-3), net.params, net.X, net.labels(), backend=backend,
                          optimizer=clip)
        params = [p.copy() for p in start]
        sgd.epoch(X, y, np.arange(X.shape[1]), 1, 0.3, params)
        want = [p.copy() for p in start]
        vel = [np.zeros_like(p) for p in start]
        for i in range(X.shape[1]):
            grads = k(X[:, [i]], y[[i]], *want)[1:]
            vel = [np.clip(0.8 * u - 0.3 * g, -0.05, 0.05) for u, g in zip(vel, grads,
                                                                          strict=True)]
            want = [p + u for p, u in zip(want, vel, strict=True)]
        for got, w in zip(params, want, strict=True):
            np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-12)


def test_bad_rules_are_refused_by_name():
    with pytest.raises(ValueError, match="no rule assigns theta"):
        optim.Optimizer("x", ((sp.Symbol("v"), optim.G),))
    with pytest.raises(ValueError, match="uses beta, which is neither"):
        optim.Optimizer("x", ((optim.THETA, optim.THETA - sp.Symbol("beta") * optim.G),))
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'"):
        optim.get("adamax")


def test_fit_with_adam_resets_its_state_and_trains():
    from symnet.data import load_digits, reference_split

    X, y = load_digits()
    X_tr, y_tr, X_va, y_va = reference_split(X, y)
    net = MLP([64, 16, 10], "logistic")
    a = fit(net, X_tr, y_tr, X_val=X_va, y_val=y_va, optimizer="adam", alpha=0.003, epochs=4,
            progress=False, patience=None)
    b = fit(net, X_tr, y_tr, X_val=X_va, y_val=y_va, optimizer="adam", alpha=0.003, epochs=4,
            progress=False, patience=None)
    assert a.history.val_error[-1] < 0.1
    assert a.history.train_loss == b.history.train_loss  # same seed, state reset: same run


def test_the_optimizer_prints_its_rules_and_the_cli_takes_it(capsys):
    from symnet.cli import main

    assert str(optim.adam()).splitlines()[0] == "m <- 0.1*g + 0.9*m"
    assert main(["train", "--optimizer", "momentum", "--epochs", "2", "--alpha", "0.05",
                 "--no-progress"]) == 0
    assert "batch 1 (momentum)" in capsys.readouterr().out




@pytest.mark.parametrize("name", ["momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_trajectories_match_torch_optim(name):
    th = pytest.importorskip("torch", reason="the torch.optim comparison needs torch (bench "
                             "extra); the NumPy reference above always runs")
    net, X, y, start = _problem(2)
    alpha = 0.01
    k = symnet.compile_grad(net.risk(lam=1e-3), net.params, [net.X, net.labels(), *net.params])
    tensors = [th.tensor(p.copy(), dtype=th.float64, requires_grad=True) for p in start]
    make = {"momentum": lambda ps: th.optim.SGD(ps, lr=alpha, momentum=0.9),
            "nesterov": lambda ps: th.optim.SGD(ps, lr=alpha, momentum=0.9, nesterov=True),
            "adagrad": lambda ps: th.optim.Adagrad(ps, lr=alpha, eps=1e-10),
            "rmsprop": lambda ps: th.optim.RMSprop(ps, lr=alpha, alpha=0.99, eps=1e-8),
            "adam": lambda ps: th.optim.Adam(ps, lr=alpha),
            "adamw": lambda ps: th.optim.AdamW(ps, lr=alpha, weight_decay=0.01)}[name]
    opt = make(tensors)
    sgd = compile_sgd(net.risk(lam=1e-3), net.params, net.X, net.labels(), backend="llvm",
                      optimizer=name)
    params = [p.copy() for p in start]
    order = np.arange(X.shape[1])
    sgd.epoch(X, y, order, 1, alpha, params)
    for i in order:
        grads = k(X[:, [i]], y[[i]], *[t.detach().numpy() for t in tensors])[1:]
        for t, g in zip(tensors, grads, strict=True):
            t.grad = th.tensor(np.asarray(g, dtype=np.float64))
        opt.step()
    for got, t in zip(params, tensors, strict=True):
        np.testing.assert_allclose(got, t.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_the_rules_print_as_latex_for_jupyter():
    text = optim.adam()._repr_latex_()
    assert text.startswith("$\\begin{aligned}") and text.count("\\leftarrow") == 3
    assert "\\sqrt{" in text and "0.999" in text


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_the_update_kernel_follows_each_definition_on_both_backends(name, dtype):
    """compile_update (what data-parallel steps apply) on random parameter shapes, LLVM
    and NumPy in one process over the session's shared on-disk cache, against the
    update written out in NumPy; three steps, so the state and step count matter."""
    from symnet.update import compile_update

    rng = np.random.default_rng(list(optim.OPTIMIZERS).index(name) * 2 + (dtype == "float32"))
    tol = 1e-12 if dtype == "float64" else 2e-5
    for trial in range(3):
        shapes = [tuple(int(v) for v in rng.integers(1, 7, size=2)) for _ in range(3)]
        params = [sp.MatrixSymbol(f"P{k}", *s) for k, s in enumerate(shapes)]
        start = [rng.standard_normal(s).astype(dtype) for s in shapes]
        grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(3)]
        alpha = 0.05
        want = [p.astype(np.float64) for p in start]
        states = [{s: np.zeros(sh) for s in ("v", "s", "m")} for sh in shapes]
        for t, gs in enumerate(grads, 1):
            want = [_reference_step(name, p, g.astype(np.float64), st, t, alpha)
                    for p, g, st in zip(want, gs, states, strict=True)]
        results = {}
        for backend in ("numpy", "llvm"):
            up = compile_update(params, name, backend=backend, dtype=dtype)
            got = [p.copy() for p in start]
            for gs in grads:
                up.apply(alpha, got, gs)
            results[backend] = got
            for g, w in zip(got, want, strict=True):
                assert g.dtype == np.dtype(dtype)
                np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=f"{backend} {trial}")
            if up.optimizer.counts_steps:
                assert float(up.state[optim.STEP_COUNTER][0, 0]) == 3.0
        for a, b in zip(results["numpy"], results["llvm"], strict=True):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
