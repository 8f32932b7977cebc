"""W3: the 17 partial derivatives of a small scalar formula at 1,000,000 points.

h_j = tanh(w_j1 x1 + w_j2 x2 + c_j), j = 1..4;  f = sigmoid(sum_j v_j h_j + d);
L = (f - t)^2. Every peer compiles dL/d(w11, w12, ..., w42, c1..c4, v1..v4, d)
and evaluates it at N points (x1, x2, t arrays; the 17 parameters scalars),
giving 17 x N values. Reported: compile time (to a callable, plus the extra
cost of the first call, where JIT compilers compile) and evaluation time
(median of repeated calls after a warm-up call).
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
from harness import (
    C_FLAGS,
    Peer,
    Section,
    agreement_summary,
    best,
    compile_c,
    fastest_ratio,
    find,
    fmt_ratio,
    fmt_time,
    isolated,
    isolated_rounds,
    repeat,
    run_peer,
    table,
    verdict,
)

N = 1_000_000
HIDDEN = 4
NPARAMS = 3 * HIDDEN + HIDDEN + 1
TOL = 1e-9
#: Points kept for the agreement check (every STRIDE-th), plus per-output sums.
STRIDE = 997


@functools.cache
def _data():
    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=N), rng.normal(size=N)
    t = rng.uniform(size=N)
    theta = rng.normal(scale=0.7, size=NPARAMS)
    return x1, x2, t, theta


def _finish(peer: Peer, build_s: float, first_s: float, evaluate, to_rows, jit: bool) -> None:
    """Time evaluate(); compile = build + (first call - median call) for JIT peers."""
    times, out = repeat(evaluate, peer.extra.pop("reps"), warmup=0)
    peer.times = times
    compile_s = build_s + (max(first_s - peer.median, 0.0) if jit else 0.0)
    peer.extra["compile"] = fmt_time(compile_s) if compile_s else "-"
    rows = to_rows(out)
    peer.result = [np.ascontiguousarray(rows[:, ::STRIDE]), rows.sum(axis=1)]


def _peer(name, requires, note, reps, build, to_rows=np.asarray, jit=False):
    """build() -> (evaluate, build seconds); the first call is timed separately.

    ``jit``: the first call compiles (its extra time counts as compile time).
    """

    def body(peer: Peer) -> None:
        peer.extra["reps"] = reps
        evaluate, build_s = build()
        first_s, _ = _timed(evaluate)
        _finish(peer, build_s, first_s, evaluate, to_rows, jit)

    return run_peer(name, requires, body, note)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# ------------------------------------------------------------------ peers


def numpy_peer(reps: int) -> Peer:
    x1, x2, t, theta = _data()

    def build():
        def evaluate():
            w = theta[:2 * HIDDEN].reshape(HIDDEN, 2)
            c, v, d = theta[2 * HIDDEN:3 * HIDDEN], theta[3 * HIDDEN:4 * HIDDEN], theta[-1]
            out = np.empty((NPARAMS, N))
            h = np.empty((HIDDEN, N))
            u = np.full(N, d)
            for j in range(HIDDEN):
                np.tanh(w[j, 0] * x1 + w[j, 1] * x2 + c[j], out=h[j])
                u += v[j] * h[j]
            f = 1.0 / (1.0 + np.exp(-u))
            g = 2.0 * (f - t) * f * (1.0 - f)  # dL/du
            for j in range(HIDDEN):
                dc = out[2 * HIDDEN + j]
                np.multiply(g * v[j], 1.0 - h[j] * h[j], out=dc)
                np.multiply(dc, x1, out=out[2 * j])
                np.multiply(dc, x2, out=out[2 * j + 1])
                np.multiply(g, h[j], out=out[3 * HIDDEN + j])
            out[-1] = g
            return out

        return evaluate, 0.0

    return _peer("NumPy, hand-written", (), "vectorized, derivatives by hand", reps, build)


def _sympy_problem(sp=None):
    """Inputs, parameters and u = sum_j v_j h_j + d, built with ``sp``
    (SymPy by default; SymEngine's module has the same names)."""
    if sp is None:
        import sympy as sp

    x1, x2, t = sp.symbols("x1 x2 t")
    w = [[sp.Symbol(f"w{j}{i}") for i in (1, 2)] for j in range(1, HIDDEN + 1)]
    c = [sp.Symbol(f"c{j}") for j in range(1, HIDDEN + 1)]
    v = [sp.Symbol(f"v{j}") for j in range(1, HIDDEN + 1)]
    d = sp.Symbol("d")
    params = [s for row in w for s in row] + c + v + [d]
    u = sum(v[j] * sp.tanh(w[j][0] * x1 + w[j][1] * x2 + c[j]) for j in range(HIDDEN)) + d
    return (x1, x2, t), params, u


def _args(theta):
    x1, x2, t, _ = _data()
    return [x1, x2, t, *[float(p) for p in theta]]


def sympy_peer(reps: int) -> Peer:
    def build():
        import sympy as sp

        t0 = time.perf_counter()
        (x1, x2, t), params, u = _sympy_problem()
        L = (1 / (1 + sp.exp(-u)) - t) ** 2
        grads = [sp.diff(L, p) for p in params]
        fn = sp.lambdify([x1, x2, t, *params], grads, modules="numpy", cse=True)
        build_s = time.perf_counter() - t0
        args = _args(_data()[3])
        return (lambda: fn(*args)), build_s

    return _peer("SymPy lambdify", (), "sympy.diff + lambdify(cse=True), NumPy", reps, build,
                 lambda out: np.array([np.broadcast_to(o, (N,)) for o in out]))


def symengine_peer(reps: int) -> Peer:
    def build():
        import symengine as se

        t0 = time.perf_counter()
        (x1, x2, t), params, u = _sympy_problem(se)
        L = (1 / (1 + se.exp(-u)) - t) ** 2
        grads = [L.diff(p) for p in params]
        fn = se.Lambdify([x1, x2, t, *params], grads, backend="llvm", cse=True, order="F")
        build_s = time.perf_counter() - t0
        # Lambdify takes one array of all arguments (one column per point); packing it is
        # not timed (it would cost one more pass over 20 x N values).
        xa, xb, tt, theta = _data()
        packed = np.empty((3 + NPARAMS, N), order="F")
        packed[0], packed[1], packed[2] = xa, xb, tt
        packed[3:] = theta[:, None]
        return (lambda: fn(packed)), build_s

    return _peer("SymEngine Lambdify", ("symengine",),
                 "backend='llvm', cse=True; argument packing not timed", reps, build)


def jax_peer(reps: int) -> Peer:
    def build():
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        t0 = time.perf_counter()

        def loss(x1, x2, t, theta):
            w = theta[:2 * HIDDEN].reshape(HIDDEN, 2)
            c, v, d = theta[2 * HIDDEN:3 * HIDDEN], theta[3 * HIDDEN:4 * HIDDEN], theta[-1]
            h = jnp.tanh(w[:, 0] * x1 + w[:, 1] * x2 + c)
            f = jax.nn.sigmoid(jnp.dot(v, h) + d)
            return (f - t) ** 2

        fn = jax.jit(jax.vmap(jax.grad(loss, argnums=3), in_axes=(0, 0, 0, None)))
        build_s = time.perf_counter() - t0
        xa, xb, tt, theta = (jnp.asarray(a) for a in _data())
        return (lambda: jax.block_until_ready(fn(xa, xb, tt, theta))), build_s

    return _peer("JAX jit(vmap(grad))", ("jax",), "inputs already on the device", reps, build,
                 lambda out: np.asarray(out).T, jit=True)


def numba_peer(reps: int) -> Peer:
    def build():
        import numba

        t0 = time.perf_counter()

        @numba.njit(cache=False)
        def grads(x1, x2, t, theta):
            n = x1.shape[0]
            out = np.empty((17, n))
            h = np.empty(4)
            for k in range(n):
                u = theta[16]
                for j in range(4):
                    h[j] = math.tanh(theta[2 * j] * x1[k] + theta[2 * j + 1] * x2[k]
                                     + theta[8 + j])
                    u += theta[12 + j] * h[j]
                f = 1.0 / (1.0 + math.exp(-u))
                g = 2.0 * (f - t[k]) * f * (1.0 - f)
                for j in range(4):
                    dc = g * theta[12 + j] * (1.0 - h[j] * h[j])
                    out[2 * j, k] = dc * x1[k]
                    out[2 * j + 1, k] = dc * x2[k]
                    out[8 + j, k] = dc
                    out[12 + j, k] = g * h[j]
                out[16, k] = g
            return out

        build_s = time.perf_counter() - t0
        x1, x2, t, theta = _data()
        return (lambda: grads(x1, x2, t, theta)), build_s

    return _peer("numba @njit", ("numba",), "hand-written loop, one thread", reps, build,
                 jit=True)


#: The 17 partials in C as a C programmer writes them: reverse mode by hand, one pass
#: over the points, libm tanh/exp. Output row r of the 17 x n result is out[r * n ...].
C_GRADS = r"""
#include <math.h>
#include <stdint.h>
void grads(const double *restrict x1, const double *restrict x2, const double *restrict t,
           const double *restrict theta, int64_t n, double *restrict out) {
    enum { H = 4 };
    double w1[H], w2[H], c[H], v[H];
    for (int j = 0; j < H; ++j) {
        w1[j] = theta[2 * j];
        w2[j] = theta[2 * j + 1];
        c[j] = theta[2 * H + j];
        v[j] = theta[3 * H + j];
    }
    const double d = theta[4 * H];
    for (int64_t k = 0; k < n; ++k) {
        const double a = x1[k], b = x2[k];
        double h[H], u = d;
        for (int j = 0; j < H; ++j) {
            h[j] = tanh(w1[j] * a + w2[j] * b + c[j]);
            u += v[j] * h[j];
        }
        const double f = 1.0 / (1.0 + exp(-u));
        const double g = 2.0 * (f - t[k]) * f * (1.0 - f);  /* dL/du */
        for (int j = 0; j < H; ++j) {
            const double dc = g * v[j] * (1.0 - h[j] * h[j]);  /* dL/dc_j */
            out[(2 * j) * n + k] = dc * a;
            out[(2 * j + 1) * n + k] = dc * b;
            out[(2 * H + j) * n + k] = dc;
            out[(3 * H + j) * n + k] = g * h[j];
        }
        out[(4 * H) * n + k] = g;
    }
}
"""


def c_peer(reps: int) -> Peer:
    x1, x2, t, theta = _data()
    info = {}

    def build():
        import ctypes

        t0 = time.perf_counter()
        fn, info["version"] = compile_c(C_GRADS, "grads", "symnet-w3-c-")
        build_s = time.perf_counter() - t0
        ptr = ctypes.c_void_p
        fn.argtypes = [ptr, ptr, ptr, ptr, ctypes.c_int64, ptr]
        args = (x1.ctypes.data, x2.ctypes.data, t.ctypes.data, theta.ctypes.data, N)

        def evaluate():
            out = np.empty((NPARAMS, N))
            fn(*args, out.ctypes.data)
            return out

        return evaluate, build_s

    peer = _peer("C, hand-written loop (cc -O3 -march=native)", (), "", reps, build)
    if peer.ok:
        peer.extra["threads"] = "1"
        peer.extra["flags"] = f"{info['version']}: {' '.join(C_FLAGS[:2])}"
        peer.note = (f"{info['version']}, 1 thread; reverse mode by hand, one loop over "
                     "the points writing a fresh np.empty((17, N)) each call; compile = the "
                     "cc run; the loop is not vectorized: -O3 without -ffast-math keeps the "
                     "libm tanh/exp calls scalar")
    return peer


def torch_func_peer(reps: int) -> Peer:
    info = {}

    def build():
        import torch
        from torch.func import grad, vmap

        info["version"], info["threads"] = torch.__version__, torch.get_num_threads()

        def loss(theta, x1, x2, t):
            w = theta[:2 * HIDDEN].reshape(HIDDEN, 2)
            c, v, d = theta[2 * HIDDEN:3 * HIDDEN], theta[3 * HIDDEN:4 * HIDDEN], theta[-1]
            h = torch.tanh(w[:, 0] * x1 + w[:, 1] * x2 + c)
            f = torch.sigmoid(torch.dot(v, h) + d)
            return (f - t) ** 2

        fn = vmap(grad(loss), in_dims=(None, 0, 0, 0))  # eager: nothing to compile
        xa, xb, tt, theta = (torch.from_numpy(a) for a in _data())  # float64, no copy
        return (lambda: fn(theta, xa, xb, tt)), 0.0

    peer = _peer("PyTorch torch.func vmap(grad)", ("torch",), "", reps, build,
                 lambda out: out.numpy().T)
    if peer.ok:
        peer.extra["threads"] = str(info["threads"])
        peer.extra["flags"] = f"torch {info['version']}, eager"
        peer.note = (f"torch {info['version']}, eager, float64, {info['threads']} threads "
                     "(torch default); inputs already tensors")
    return peer


def symnet_peer(reps: int, backend: str) -> Peer:
    def build():
        import symnet

        t0 = time.perf_counter()
        (x1, x2, t), params, u = _sympy_problem()
        L = (symnet.logistic(u) - t) ** 2
        k = symnet.compile(list(symnet.grad(L, params)), [x1, x2, t, *params], backend=backend)
        build_s = time.perf_counter() - t0
        args = _args(_data()[3])
        return (lambda: k(*args)), build_s

    return _peer(f"symnet {backend}", (), "symnet.compile(symnet.grad(L, params))", reps, build,
                 lambda out: np.array(out), jit=backend == "llvm")


def probe_bandwidth() -> Peer:
    """Seconds to write 17 x N fresh doubles and read 3 x N (the output's memory floor)."""
    x1, x2, t, _ = _data()

    def touch():
        out = np.empty((NPARAMS, N))
        for r in range(NPARAMS):
            np.multiply(x1, 1.0, out=out[r])
        return out

    times, _ = repeat(touch, 5)
    return Peer("memory floor", times)


# ------------------------------------------------------------------ driver


def _agree(p: Peer, ref: Peer) -> None:
    a, b = p.result, ref.result
    err = float(np.max(np.abs(a[0] - b[0]) / (np.max(np.abs(b[0]), axis=1, keepdims=True)
                                                 + 1e-300)))
    err_sum = float(np.max(np.abs(a[1] - b[1]) / (np.abs(b[1]) + 1e-300)))
    worst = max(err, err_sum)
    p.agrees = worst <= TOL
    p.agree = (f"max rel. diff {err:.1e} at {a[0].shape[1]} sampled points, "
               f"{err_sum:.1e} in the per-output sums {'OK' if p.agrees else 'DIFFERS'}")


def run(quick: bool = False, probe: dict | None = None) -> Section:
    reps = 5 if quick else 6
    rounds = 1 if quick else 2
    mod = __name__.rsplit(".", 1)[-1]
    print(f"W3: 17 partials at {N} points", flush=True)
    peers = isolated_rounds(mod, [
        ("NumPy, hand-written", "numpy_peer", (reps,), ()),
        ("SymPy lambdify", "sympy_peer", (reps,), ()),
        ("SymEngine Lambdify", "symengine_peer", (reps,), ("symengine",)),
        ("JAX jit(vmap(grad))", "jax_peer", (reps,), ("jax",)),
        ("numba @njit", "numba_peer", (reps,), ("numba",)),
        ("C, hand-written loop (cc -O3 -march=native)", "c_peer", (reps,), ()),
        ("PyTorch torch.func vmap(grad)", "torch_func_peer", (reps,), ("torch",)),
        ("symnet numpy", "symnet_peer", (reps, "numpy"), ()),
        ("symnet llvm", "symnet_peer", (reps, "llvm"), ()),
    ], rounds)
    ref = next((p for p in (find(peers, "symnet llvm"), find(peers, "symnet numpy"))
                if p and p.ok), None)
    for p in peers:
        if p.ok and ref is not None:
            _agree(p, ref)
    sym = find(peers, "symnet llvm")
    sym = sym if sym and sym.ok else None
    text = [
        "## W3: 17 partial derivatives of a scalar formula at 1,000,000 points",
        "",
        "h_j = tanh(w_j1 x1 + w_j2 x2 + c_j) (j = 1..4), f = sigmoid(sum_j v_j h_j + d), "
        "L = (f - t)^2. Each peer builds a function of (x1, x2, t, 17 parameters) returning the "
        f"17 partials of L w.r.t. (w, c, v, d) and evaluates it at N = {N:,} points "
        "(x1, x2 ~ N(0, 1), t ~ U(0, 1), parameters N(0, 0.7^2), default_rng(3)), "
        "giving 17 x N float64 values (a fresh output each call). Evaluation: median of "
        f"{reps} calls after the first, in each of {rounds} run(s) per peer (fresh processes, "
        "peers interleaved; compile time from the first run). Compile: symbolic "
        "derivation + code generation up to a callable (for the hand-written C row, the "
        "cc run; none for the eager rows), plus the extra time of the first "
        "call (where JAX, numba and symnet's LLVM point-wise specialization compile). "
        "Agreement: relative difference (per output, "
        f"scaled by its largest value) vs `{ref.name if ref else '-'}` at every {STRIDE}-th "
        f"point and in the 17 sums over all points (tolerance {TOL:g}). "
        "Ratio = peer time / symnet llvm time (> 1: symnet is faster).",
        "",
        table(peers, sym, ["compile"]),
        "",
    ]
    lines = []
    se_peer = find(peers, "SymEngine Lambdify")
    if sym and se_peer and se_peer.ok:
        r = se_peer.median / sym.median
        lines.append(verdict(r >= 5, f"symnet LLVM >= 5x faster than SymEngine-LLVM: "
                                     f"{fmt_time(sym.median)} vs {fmt_time(se_peer.median)} = "
                                     f"{r:.2f}x faster ({fastest_ratio(se_peer, sym)})"))
    else:
        lines.append(verdict(None, "symnet LLVM vs SymEngine-LLVM (a row is missing)"))
    other = best(peers)
    if sym and other:
        r = other.median / sym.median
        lines.append(verdict(r > 1, f"symnet LLVM faster than every other peer: best other is "
                                    f"`{other.name}` {fmt_time(other.median)} vs symnet "
                                    f"{fmt_time(sym.median)} = {r:.2f}x "
                                    f"({fastest_ratio(other, sym)})"))
    hand, sym_np = find(peers, "NumPy, hand-written"), find(peers, "symnet numpy")
    if hand and hand.ok and sym_np and sym_np.ok:
        r = sym_np.median / hand.median
        lines.append(verdict(r <= 1.2, f"symnet NumPy backend within 1.2x of hand-written NumPy: "
                                       f"{fmt_time(sym_np.median)} vs {fmt_time(hand.median)} = "
                                       f"{fmt_ratio(r)} ({fastest_ratio(sym_np, hand)})"))
    gbs = (probe or {}).get("copy_gbs")
    if sym and gbs:
        write_floor = NPARAMS * N * 8 / (gbs * 1e9)
        r = sym.median / write_floor
        lines.append(verdict(r <= 2, f"symnet LLVM within 2x of the output-write floor "
                                     f"({NPARAMS * N * 8 / 1e6:.0f} MB of outputs at the measured "
                                     f"{gbs:.1f} GB/s copy bandwidth = {fmt_time(write_floor)}):"
                                     f" {fmt_time(sym.median)} = {r:.2f}x "
                                     f"({min(sym.times) / write_floor:.2f}x on the fastest "
                                     "repetition)"))
    lines.append(agreement_summary(peers, "the 17 x N partials"))
    text += ["**Targets**", ""] + [f"- {line}" for line in lines] + [""]
    floor = isolated(mod, "probe_bandwidth", name="memory floor")
    bound = [f"Output alone: 17 x {N:,} doubles = {17 * N * 8 / 1e6:.0f} MB written (plus "
             f"{3 * N * 8 / 1e6:.0f} MB read). "]
    if floor.ok:
        bound.append(f"Writing a fresh 17 x N array from one input with NumPy (page faults of "
                     f"the new allocation included) takes {fmt_time(floor.median)} here: the "
                     "memory floor of any peer that returns output in newly mapped memory. "
                     "symnet LLVM returns new arrays too, but takes their memory from a pool "
                     "that recycles the outputs the caller has dropped (as here, between "
                     "repetitions), so it pays no page faults: its floor is writing 136 MB "
                     "(about 5-10 ms at this machine's bandwidth). ")
    bound.append("Arithmetic per point: 4 tanh, 1 exp and about 60 multiply-adds; "
                 f"at {fmt_time(sym.median) if sym else '-'} symnet LLVM spends "
                 f"{(sym.median / N * 1e9) if sym else math.nan:.0f} ns per point.")
    text += ["**Bound**", "", "".join(bound), ""]
    return Section("\n".join(text), [f"W3 {line}" for line in lines])


if __name__ == "__main__":
    print(run(quick=True).markdown)
