"""W5: Hessian-vector products of a network's risk, against one gradient and against peers.

Two networks: the digits net (64-32-10 logistic, softmax + cross-entropy,
lambda = 1e-4) on the 1437 training samples at once (what Newton-CG
evaluates), and W2's net (784-256-256-10 relu) on a batch of 64. Each peer
computes H v of the same risk at the same parameters along the same
direction v (default_rng(7)); symnet also reports the gradient alone (the
"HVP / gradient" ratio) and the Gauss-Newton product. Float64 throughout.
"""

from __future__ import annotations

import math

import numpy as np
from harness import (
    Peer,
    Section,
    best,
    fastest_ratio,
    find,
    fmt_ratio,
    fmt_time,
    isolated,
    isolated_rounds,
    repeat,
    table,
    verdict,
)
from problems import init_mlp

NETS = {
    "digits": dict(sizes=(64, 32, 10), act="logistic", lam=1e-4, batch=1437),
    "W2": dict(sizes=(784, 256, 256, 10), act="relu", lam=1e-4, batch=64),
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


# ------------------------------------------------------------------ W3's formula at 10^6 points
def _points_problem():
    from w3_points import _data

    x1, x2, t, theta = _data()
    v = np.random.default_rng(7).standard_normal(theta.shape[0])
    return x1, x2, t, theta, v


def _point_rows(rows) -> list[np.ndarray]:
    from w3_points import STRIDE

    rows = np.asarray(rows)
    return [np.ascontiguousarray(rows[:, ::STRIDE]), rows.sum(axis=1)]


def points_symnet(backend: str, reps: int) -> Peer:
    import time

    from w3_points import _sympy_problem

    import symnet

    x1, x2, t, theta, v = _points_problem()
    (X1, X2, Tt), params, u = _sympy_problem()
    L = (symnet.logistic(u) - Tt) ** 2
    t0 = time.perf_counter()
    k = symnet.compile_hvp(L, params, [X1, X2, Tt, *params], value=False, backend=backend)
    build = time.perf_counter() - t0
    args = [x1, x2, t, *map(float, theta), *map(float, v)]
    times, out = repeat(lambda: k(*args), reps)
    peer = Peer(f"symnet {backend} points", times)
    peer.extra["compile"] = fmt_time(build)
    peer.result = _point_rows([np.broadcast_to(o, x1.shape) for o in out])
    return peer


def points_jax(reps: int) -> Peer:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    x1, x2, t, theta, v = _points_problem()

    def loss(x1, x2, t, th):
        w = th[:8].reshape(4, 2)
        h = jnp.tanh(w[:, 0] * x1 + w[:, 1] * x2 + th[8:12])
        return (jax.nn.sigmoid(jnp.dot(th[12:16], h) + th[16]) - t) ** 2

    def one(x1, x2, t, th, vv):
        return jax.jvp(lambda q: jax.grad(loss, argnums=3)(x1, x2, t, q), (th,), (vv,))[1]

    fn = jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None, None)))
    a = [jnp.asarray(z) for z in (x1, x2, t, theta, v)]
    times, out = repeat(lambda: jax.block_until_ready(fn(*a)), reps)
    peer = Peer("JAX jit(vmap(jvp(grad)))", times)
    peer.result = _point_rows(np.asarray(out).T)
    return peer


def points_torch(reps: int) -> Peer:
    import torch
    from torch.func import grad, jvp, vmap

    x1, x2, t, theta, v = (torch.tensor(z) for z in _points_problem())

    def loss(th, x1, x2, t):
        w = th[:8].reshape(4, 2)
        h = torch.tanh(w[:, 0] * x1 + w[:, 1] * x2 + th[8:12])
        return (torch.sigmoid(torch.dot(th[12:16], h) + th[16]) - t) ** 2

    def one(x1, x2, t):
        return jvp(lambda q: grad(loss)(q, x1, x2, t), (theta,), (v,))[1]

    fn = vmap(one)
    times, out = repeat(lambda: fn(x1, x2, t), reps)
    peer = Peer(f"PyTorch vmap(jvp(grad)) ({torch.get_num_threads()} threads)", times)
    peer.result = _point_rows(out.numpy().T)
    return peer


# ------------------------------------------------------------------ the full Hessian's memory
MEMORY_NET = dict(sizes=(64, 27, 10), batch=256)


def _memory_problem():
    from symnet.data import load_digits

    X, y = load_digits()
    m = MEMORY_NET["batch"]
    T = np.zeros((10, m))
    T[y[:m], np.arange(m)] = 1.0
    params = init_mlp(MEMORY_NET["sizes"], np.random.default_rng(42))
    return np.ascontiguousarray(X[:m].T), T, params


def _max_rss() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0


def memory_symnet() -> Peer:
    import time
    import tracemalloc

    import symnet
    from symnet.nn import MLP

    X, T, params = _memory_problem()
    net = MLP(list(MEMORY_NET["sizes"]), "logistic")
    values = {net.X: X, net.labels(): T, **dict(zip(net.params, params, strict=True))}
    op = symnet.curvature(net.risk(lam=1e-4), net.params, values, backend="llvm")
    op.matvec(np.zeros(op.shape[0]))                      # compile and warm up
    n = op.shape[0]
    rss0 = _max_rss()
    tracemalloc.start()
    t0 = time.perf_counter()
    D = op.dense()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peer = Peer("symnet curvature(...).dense() (llvm)", [seconds])
    peer.extra.update(n=n, hessian_mb=n * n * 8 / 1e6, peak_mb=peak / 1e6,
                      rss_growth_mb=max(_max_rss() - rss0, 0.0) / 1e6,
                      asym=float(np.abs(D - D.T).max()))
    peer.result = [D[:: 97, :: 97].copy()]
    return peer


def memory_peer(lib: str) -> Peer:
    """jax.hessian / torch.func.hessian of the same risk; growth of the peak RSS
    over the call (compilation included: that is what a user pays)."""
    import time

    X, T, params = _memory_problem()
    rss0 = _max_rss()
    t0 = time.perf_counter()
    if lib == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        from jax.flatten_util import ravel_pytree

        flat, unravel = ravel_pytree([jnp.asarray(p) for p in params])

        def risk(f):
            W1, b1, W2, b2 = unravel(f)
            z = W2 @ jax.nn.sigmoid(W1 @ X + b1) + b2
            ce = -jnp.sum(T * jax.nn.log_softmax(z, axis=0)) / X.shape[1]
            return ce + 0.5e-4 * (jnp.sum(W1 * W1) + jnp.sum(W2 * W2))

        D = np.asarray(jax.block_until_ready(jax.jit(jax.hessian(risk))(flat)))
        name = "JAX jit(hessian)"
    else:
        import torch
        from torch.func import hessian

        shapes = [p.shape for p in params]
        Xt, Tt = torch.tensor(X), torch.tensor(T)

        def risk(f):
            parts, k = [], 0
            for s in shapes:
                parts.append(f[k:k + s[0] * s[1]].reshape(s))
                k += s[0] * s[1]
            W1, b1, W2, b2 = parts
            z = W2 @ torch.sigmoid(W1 @ Xt + b1) + b2
            ce = -(Tt * torch.log_softmax(z, 0)).sum() / Xt.shape[1]
            return ce + 0.5e-4 * ((W1 * W1).sum() + (W2 * W2).sum())

        flat = torch.tensor(np.concatenate([p.reshape(-1) for p in params]))
        D = hessian(risk)(flat).numpy()
        name = "PyTorch torch.func.hessian"
    seconds = time.perf_counter() - t0
    n = D.shape[0]
    peer = Peer(name, [seconds])
    peer.extra.update(n=n, hessian_mb=n * n * 8 / 1e6, peak_mb=math.nan,
                      rss_growth_mb=max(_max_rss() - rss0, 0.0) / 1e6,
                      asym=float(np.abs(D - D.T).max()))
    peer.result = [D[:: 97, :: 97].copy()]
    return peer


def _agree(p: Peer, ref: Peer) -> None:
    if p.result is None or ref.result is None or p.name.endswith((" grad", "gnvp-only")):
        return
    worst = max(float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))
                for a, b in zip(p.result, ref.result, strict=True))
    p.agrees = worst < TOL
    p.agree = f"{'ok' if p.agrees else 'DIFFERS'} (rel. {worst:.1e})"


def _peer_verdicts(what: str, peers: list[Peer], sym: Peer | None) -> list[str]:
    """'symnet faster than the best peer' and 'every peer agrees' for one table."""
    sym = sym if sym is not None and sym.ok else None
    other = best(peers)
    out = []
    if sym and other:
        r = other.median / sym.median
        out.append(verdict(r > 1, f"{what} faster than the best peer `{other.name}`: "
                                  f"{fmt_time(other.median)} vs {fmt_time(sym.median)} = "
                                  f"{r:.2f}x ({fastest_ratio(other, sym)})"))
    elif sym:
        out.append(verdict(None, f"{what} vs JAX / PyTorch (not installed)"))
    bad = [p.name for p in peers if p.agrees is False]
    head = what.split(":")[0]
    out.append(verdict(not bad, f"{head}: every H v agrees with symnet's to {TOL:g}"
                                + (f" (not: {', '.join(bad)})" if bad else "")))
    return out


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
        lines += _peer_verdicts(f"{net}: symnet LLVM HVP", peers, ref)
    print("W5: W3's formula at 10^6 points", flush=True)
    peers = isolated_rounds(mod, [
        ("symnet llvm points", "points_symnet", ("llvm", reps), ()),
        ("symnet numpy points", "points_symnet", ("numpy", reps), ()),
        ("JAX jit(vmap(jvp(grad)))", "points_jax", (reps,), ("jax",)),
        ("PyTorch vmap(jvp(grad))", "points_torch", (reps,), ("torch",)),
    ], rounds)
    sym = find(peers, "symnet llvm points")
    for p in peers:
        if p.ok and sym is not None and sym.ok:
            _agree(p, sym)
    text += ["**W3's formula**: H v of L = (sigmoid(sum_j v_j tanh(w_j1 x1 + w_j2 x2 + c_j) + d) "
             "- t)^2 w.r.t. its 17 parameters at each of 10^6 points (W3's data; v from "
             "default_rng(7)): 17 x 10^6 outputs. Agreement at every 997th point and in the "
             "17 sums.", "", table(peers, sym, ["compile"]), ""]
    lines += _peer_verdicts("W3 formula: symnet LLVM H v at 10^6 points", peers, sym)

    print("W5: full Hessian memory", flush=True)
    mem = [isolated(mod, "memory_symnet", name="symnet curvature(...).dense() (llvm)")]
    mem += [isolated(mod, "memory_peer", lib, requires=(lib,), name=name)
            for lib, name in (("jax", "JAX jit(hessian)"), ("torch", "PyTorch torch.func.hessian"))]
    ref = mem[0] if mem[0].ok else None
    rows = ["| peer | parameters | Hessian MB | seconds | peak traced MB | peak RSS growth MB "
            "| max abs(H - H^T) | agreement with symnet |",
            "|---|---:|---:|---:|---:|---:|---:|---|"]
    for p in mem:
        if not p.ok:
            rows.append(f"| {p.name} | {p.status} | | | | | | |")
            continue
        if ref is not None and p is not ref:
            _agree(p, ref)
        e = p.extra
        peak = "-" if math.isnan(e["peak_mb"]) else f"{e['peak_mb']:.1f}"
        rows.append(f"| {p.name} | {e['n']} | {e['hessian_mb']:.1f} | {p.times[0]:.2f} | {peak} "
                    f"| {e['rss_growth_mb']:.1f} | {e['asym']:.1e} | {p.agree or '-'} |")
    text += [f"**The full Hessian of a {'-'.join(map(str, MEMORY_NET['sizes']))} logistic net** "
             f"(batch {MEMORY_NET['batch']} of the digits): symnet fills a preallocated n x n "
             "array by n compiled Hessian-vector products; peak traced = the largest amount of "
             "NumPy memory alive during the build (tracemalloc), peak RSS growth = how far the "
             "process's peak resident size rose during the call (for the peers, compilation "
             "included). One run each (fresh processes).", "", "\n".join(rows), ""]
    if ref is not None:
        e = ref.extra
        lines.append(verdict(e["peak_mb"] <= 1.1 * e["hessian_mb"],
                             f"full Hessian of {e['n']} parameters built in at most the "
                             f"Hessian's memory: peak {e['peak_mb']:.1f} MB traced for a "
                             f"{e['hessian_mb']:.1f} MB Hessian (peak RSS growth "
                             f"{e['rss_growth_mb']:.1f} MB)"))
    text += ["**Targets**", ""] + [f"- {line}" for line in lines] + [""]
    return Section("\n".join(text), lines)
