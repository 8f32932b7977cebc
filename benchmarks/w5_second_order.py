"""W5: Hessian-vector products of a network's risk, against one gradient and against peers.

Two networks: the digits net (64-32-10 logistic, softmax + cross-entropy,
lambda = 1e-4) on the 1437 training samples at once (what Newton-CG
evaluates), and W2's net (784-256-256-10 relu) on a batch of 256. Each peer
computes H v of the same risk at the same parameters along the same
direction v (default_rng(7)); symnet also reports the gradient alone (the
"HVP / gradient" ratio) and the Gauss-Newton product. Float64 throughout.
"""

from __future__ import annotations

import numpy as np
from harness import (
    Peer,
    Section,
    best,
    fastest_ratio,
    find,
    fmt_ratio,
    fmt_time,
    isolated_rounds,
    repeat,
    table,
    verdict,
)
from problems import init_mlp

NETS = {
    "digits": dict(sizes=(64, 32, 10), act="logistic", lam=1e-4, batch=1437),
    "W2": dict(sizes=(784, 256, 256, 10), act="relu", lam=1e-4, batch=256),
}
TOL = 1e-9


def _problem(net: str):
    cfg = NETS[net]
    m = cfg["batch"]
    if net == "digits":
        from symnet.data import load_digits, reference_split

        X, y = load_digits()
        X_tr, y_tr, _, _ = reference_split(X, y)
        X = np.ascontiguousarray(X_tr[:m].T)
        y = y_tr[:m]
    else:
        rng = np.random.default_rng(0)
        X = rng.random((cfg["sizes"][0], m))
        y = rng.integers(0, cfg["sizes"][-1], m)
    T = np.zeros((cfg["sizes"][-1], m))
    T[y, np.arange(m)] = 1.0
    params = init_mlp(cfg["sizes"], np.random.default_rng(42))
    rng = np.random.default_rng(7)
    V = [rng.standard_normal(p.shape) for p in params]
    return cfg, X, y, T, params, V


def symnet_peer(net: str, what: str, backend: str, reps: int) -> Peer:
    """what: 'grad' (compile_grad), 'hvp' (value, gradient and H v), 'hvp-only', 'gnvp-only'."""
    import time

    import symnet
    from symnet.nn import MLP

    cfg, X, y, T, params, V = _problem(net)
    mlp = MLP(list(cfg["sizes"]), cfg["act"], output="softmax")
    R = mlp.risk(lam=cfg["lam"])
    ins = [mlp.X, mlp.labels(), *mlp.params]
    t0 = time.perf_counter()
    if what == "grad":
        k = symnet.compile_grad(R, mlp.params, ins, backend=backend)
        args = (X, T, *params)
    else:
        kind = "gauss-newton" if what.startswith("gnvp") else "hessian"
        k = symnet.compile_hvp(R, mlp.params, ins, kind=kind, output=mlp.layers[-1].z[0],
                               value=not what.endswith("only"), backend=backend)
        args = (X, T, *params, *V)
    build = time.perf_counter() - t0
    times, out = repeat(lambda: k(*args), reps)
    peer = Peer(f"symnet {backend} {what}", times)
    peer.extra["compile"] = fmt_time(build)
    n = len(params)
    peer.result = [np.asarray(o) for o in (out[1:] if what == "grad" else out[-n:])]
    return peer


def jax_peer(net: str, reps: int) -> Peer:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    cfg, X, y, T, params, V = _problem(net)
    act = jax.nn.sigmoid if cfg["act"] == "logistic" else jax.nn.relu
    lam = cfg["lam"]

    def risk(ps, X, T):
        a = X
        for k in range(0, len(ps) - 2, 2):
            a = act(ps[k] @ a + ps[k + 1])
        z = ps[-2] @ a + ps[-1]
        ce = -jnp.sum(T * jax.nn.log_softmax(z, axis=0)) / X.shape[1]
        return ce + lam / 2 * sum(jnp.sum(W * W) for W in ps[0::2])

    @jax.jit
    def hvp(ps, vs, X, T):
        return jax.jvp(lambda q: jax.grad(risk)(q, X, T), (ps,), (vs,))[1]

    ps, vs = tuple(map(jnp.asarray, params)), tuple(map(jnp.asarray, V))
    Xj, Tj = jnp.asarray(X), jnp.asarray(T)
    times, out = repeat(lambda: jax.block_until_ready(hvp(ps, vs, Xj, Tj)), reps)
    peer = Peer("JAX jit(jvp(grad))", times)
    peer.result = [np.asarray(o) for o in out]
    return peer


def torch_peer(net: str, reps: int, how: str = "func") -> Peer:
    """how: 'func' (torch.func.jvp over torch.func.grad: forward-over-reverse) or
    'double' (reverse-over-reverse: the gradient with create_graph, then the
    gradient of g . v, what torch.autograd.functional.hvp does, without its checks)."""
    import torch
    from torch.func import grad, jvp

    cfg, X, y, T, params, V = _problem(net)
    act = torch.sigmoid if cfg["act"] == "logistic" else torch.relu
    lam = cfg["lam"]
    Xt, Tt = torch.tensor(X), torch.tensor(T)

    def risk(ps):
        a = Xt
        for k in range(0, len(ps) - 2, 2):
            a = act(ps[k] @ a + ps[k + 1])
        z = ps[-2] @ a + ps[-1]
        ce = -(Tt * torch.log_softmax(z, 0)).sum() / Xt.shape[1]
        return ce + lam / 2 * sum((W * W).sum() for W in ps[0::2])

    ps = tuple(torch.tensor(p) for p in params)
    vs = tuple(torch.tensor(v) for v in V)

    def hvp():
        return jvp(grad(risk), (ps,), (vs,))[1]

    def double():
        leaves = tuple(p.detach().requires_grad_() for p in ps)
        g = torch.autograd.grad(risk(leaves), leaves, create_graph=True)
        dot = sum((a * b).sum() for a, b in zip(g, vs, strict=True))
        return torch.autograd.grad(dot, leaves)

    times, out = repeat(hvp if how == "func" else double, reps)
    label = "torch.func jvp(grad)" if how == "func" else "double backward"
    peer = Peer(f"PyTorch {label} ({torch.get_num_threads()} threads)", times)
    peer.result = [o.numpy() for o in out]
    return peer


def _agree(p: Peer, ref: Peer) -> None:
    if p.result is None or ref.result is None or p.name.endswith((" grad", "gnvp-only")):
        return
    worst = max(float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))
                for a, b in zip(p.result, ref.result, strict=True))
    p.agrees = worst < TOL
    p.agree = f"{'ok' if p.agrees else 'DIFFERS'} (rel. {worst:.1e})"


def run(quick: bool = False, probe: dict | None = None) -> Section:
    reps = 5 if quick else 15
    rounds = 1 if quick else 2
    mod = __name__.rsplit(".", 1)[-1]
    text = ["## W5: Hessian-vector products", "",
            __doc__.split("\n\n", 1)[1].replace("\n", " ").strip()
            + f" Times: median of {reps} calls after a warm-up, in each of {rounds} fresh "
            "process(es) per row (rows interleaved). Agreement: largest relative difference "
            f"per parameter vs `symnet llvm hvp-only` (tolerance {TOL:g}). Ratio = row / "
            "symnet llvm gradient.", ""]
    lines = []
    for net in NETS:
        print(f"W5: {net}", flush=True)
        specs = [(f"symnet llvm {w}", "symnet_peer", (net, w, "llvm", reps), ())
                 for w in ("grad", "hvp", "hvp-only", "gnvp-only")]
        specs += [("symnet numpy hvp-only", "symnet_peer", (net, "hvp-only", "numpy", reps), ()),
                  ("JAX jit(jvp(grad))", "jax_peer", (net, reps), ("jax",)),
                  ("PyTorch torch.func jvp(grad)", "torch_peer", (net, reps), ("torch",)),
                  ("PyTorch double backward", "torch_peer", (net, reps, "double"), ("torch",))]
        peers = isolated_rounds(mod, specs, rounds)
        ref = find(peers, "symnet llvm hvp-only")
        for p in peers:
            if p.ok and ref is not None and ref.ok:
                _agree(p, ref)
        g = find(peers, "symnet llvm grad")
        cfg = NETS[net]
        text += [f"**{net}**: {'-'.join(map(str, cfg['sizes']))} {cfg['act']}, batch "
                 f"{cfg['batch']}", "", table(peers, g, ["compile"],
                                              ratio_label="ratio to symnet gradient"), ""]
        h = find(peers, "symnet llvm hvp")
        if g and g.ok and h and h.ok:
            r = h.median / g.median
            lines.append(verdict(r <= 3, f"{net}: one HVP (value, gradient and H v in one "
                                         f"kernel) <= 3x one gradient: {fmt_time(h.median)} vs "
                                         f"{fmt_time(g.median)} = {fmt_ratio(r)} "
                                         f"({fastest_ratio(h, g)})"))
        only = ref if ref is not None and ref.ok else None
        other = best(peers)
        if only and other:
            r = other.median / only.median
            lines.append(verdict(r > 1, f"{net}: symnet LLVM HVP faster than the best peer "
                                        f"`{other.name}`: {fmt_time(other.median)} vs "
                                        f"{fmt_time(only.median)} = {r:.2f}x "
                                        f"({fastest_ratio(other, only)})"))
        elif only:
            lines.append(verdict(None, f"{net}: HVP vs JAX / PyTorch (not installed)"))
        bad = [p.name for p in peers if p.agrees is False]
        lines.append(verdict(not bad, f"{net}: every H v agrees with symnet's to {TOL:g}"
                                      + (f" (not: {', '.join(bad)})" if bad else "")))
    text += ["**Targets**", ""] + [f"- {line}" for line in lines] + [""]
    return Section("\n".join(text), lines)
