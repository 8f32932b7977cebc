"""W4: compile time, from a fresh process to a callable training step, cold and warm.

Every measurement is a new Python process. "Cold": every on-disk cache
points into a new empty folder (SYMNET_CACHE_DIR for symnet, and each
peer's own cache: JAX's persistent compilation cache, numba cache=True,
TorchInductor's cache dir). "Warm": a second process
with the same folder. Inside the child: ``import`` of the library, "build"
(from the model declaration to a callable), "first call" (one step on one
batch; JIT compilers compile here). Plus build, derivation and compile time
of an L-layer MLP, L = 1..256 (derive_depth.py).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from harness import (
    Peer,
    Section,
    available,
    bench_env,
    find,
    fmt_time,
    isolated,
    table,
    verdict,
)

NETS = {
    "W1": dict(sizes=(64, 32, 10), act="logistic", lam=1e-4, batch=1),
    "W2": dict(sizes=(784, 256, 256, 10), act="relu", lam=0.0, batch=64),
}


def _inputs(net: str, dtype="float64"):
    """Random data for one batch (columns are samples) and initial parameters."""
    import numpy as np
    from problems import init_mlp

    cfg = NETS[net]
    rng = np.random.default_rng(0)
    m = cfg["batch"]
    X = rng.random((cfg["sizes"][0], m)).astype(dtype)
    y = rng.integers(0, cfg["sizes"][-1], size=m)
    T = np.zeros((cfg["sizes"][-1], m), dtype=dtype)
    T[y, np.arange(m)] = 1.0
    return X, y, T, init_mlp(cfg["sizes"], np.random.default_rng(42), dtype)


def _report(name: str, t0: float, t1: float, t2: float, t3: float, steady: float | None = None):
    peer = Peer(name)
    peer.extra = {"import": t1 - t0, "build": t2 - t1, "first call": t3 - t2}
    if steady is not None:
        peer.extra["first call - steady call"] = max(t3 - t2 - steady, 0.0)
    peer.times = [t2 - t1 + t3 - t2]
    return peer


# ------------------------------------------------------------------ children


def symnet_child(net: str, kind: str) -> Peer:
    """kind: 'llvm' / 'numpy' (training_kernel), 'sgd' (whole-epoch compile_sgd, LLVM)."""
    X, y, T, params = _inputs(net)
    cfg = NETS[net]
    t0 = time.perf_counter()
    import symnet.train
    from symnet.nn import MLP

    t1 = time.perf_counter()
    mlp = MLP(list(cfg["sizes"]), cfg["act"], output="softmax")
    if kind == "sgd":
        from symnet.sgd import compile_sgd

        sgd = compile_sgd(mlp.risk(lam=cfg["lam"]), mlp.params, mlp.X, mlp.labels(),
                          backend="llvm", track_loss=False)
        t2 = time.perf_counter()
        sgd.epoch(X, y, list(range(cfg["batch"])), cfg["batch"], 0.1, params)
    else:
        k = symnet.train.training_kernel(mlp, lam=cfg["lam"], backend=kind)
        t2 = time.perf_counter()
        k(X, T, *params)
    t3 = time.perf_counter()
    return _report(kind, t0, t1, t2, t3)


def import_child(module: str) -> Peer:
    """Seconds of ``import module`` in a fresh process (numpy preloaded, as for every row)."""
    import importlib

    import numpy  # noqa: F401  (preloaded as the verdict says: every symnet caller has it)

    t0 = time.perf_counter()
    importlib.import_module(module)
    return Peer(f"import {module}", times=[time.perf_counter() - t0])


def jax_child(net: str) -> Peer:
    X, y, T, params = _inputs(net)
    t0 = time.perf_counter()
    import jax

    t1 = time.perf_counter()
    if net == "W1":
        from w1_sgd import _jax_step

        jax.config.update("jax_enable_x64", True)
        step = jax.jit(_jax_step())
        ps = tuple(p.reshape(-1) if p.shape[1] == 1 else p for p in params)
        args = (X[:, 0], int(y[0]))
    else:
        from w2_minibatch import _jax_step

        step = _jax_step()
        ps = tuple(p.reshape(-1) if p.shape[1] == 1 else p for p in params)
        args = (X.T.copy(), y)
    t2 = time.perf_counter()
    jax.block_until_ready(step(ps, *args))
    t3 = time.perf_counter()
    jax.block_until_ready(step(ps, *args))
    return _report("jax", t0, t1, t2, t3, time.perf_counter() - t3)


def numba_child(net: str) -> Peer:
    import numpy as np

    X, y, T, params = _inputs(net)
    ps = [p.reshape(-1) if p.shape[1] == 1 else p for p in params]
    t0 = time.perf_counter()
    import numba  # noqa: F401

    t1 = time.perf_counter()
    if net == "W1":
        from w1_sgd import _numba_epoch

        fn = _numba_epoch(cache=True)
        args = (*ps, np.ascontiguousarray(X.T), y.astype(np.int64), np.zeros(1, np.int64),
                0.1, 1e-4)
    else:
        from w2_minibatch import _numba_epoch

        fn = _numba_epoch(cache=True)
        args = (*ps, np.ascontiguousarray(X.T), np.ascontiguousarray(T.T), 64, 0.01)
    t2 = time.perf_counter()
    fn(*args)
    t3 = time.perf_counter()
    fn(*args)
    return _report("numba", t0, t1, t2, t3, time.perf_counter() - t3)


def torch_compile_child(net: str) -> Peer:
    X, y, T, params = _inputs(net)
    t0 = time.perf_counter()
    import torch

    t1 = time.perf_counter()
    from w2_minibatch import _torch_loss

    loss_fn = torch.compile(_torch_loss)
    ps = [torch.tensor(p.reshape(-1) if p.shape[1] == 1 else p, requires_grad=True)
          for p in params]
    x, t = torch.tensor(X.T.copy()), torch.tensor(y)
    t2 = time.perf_counter()
    loss_fn(x, t, *ps).backward()
    t3 = time.perf_counter()
    loss_fn(x, t, *ps).backward()
    return _report("torch.compile", t0, t1, t2, t3, time.perf_counter() - t3)


def derive_child(repeats: int) -> Peer:
    import derive_depth

    peer = Peer("derive")
    rows = derive_depth.measure(repeats=repeats)
    peer.result = {"rows": rows, "table": derive_depth.table(rows)}
    peer.times = [0.0]
    return peer


# ------------------------------------------------------------------ driver


def _cache_env(folder: Path) -> dict[str, str]:
    return bench_env(
        SYMNET_CACHE_DIR=str(folder / "symnet"),
        JAX_COMPILATION_CACHE_DIR=str(folder / "jax"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        NUMBA_CACHE_DIR=str(folder / "numba"),
        TORCHINDUCTOR_CACHE_DIR=str(folder / "inductor"),
        TRITON_CACHE_DIR=str(folder / "triton"),
        XDG_CACHE_HOME=str(folder / "xdg"),
    )


#: (row name, child function, extra args, required module, nets)
ROWS = [
    ("symnet llvm training_kernel", "symnet_child", ("llvm",), None, ("W1", "W2")),
    ("symnet llvm compile_sgd (whole epoch)", "symnet_child", ("sgd",), None, ("W1", "W2")),
    ("symnet numpy training_kernel", "symnet_child", ("numpy",), None, ("W1", "W2")),
    ("JAX jit step", "jax_child", (), "jax", ("W1", "W2")),
    ("numba @njit epoch", "numba_child", (), "numba", ("W1", "W2")),
    ("PyTorch torch.compile", "torch_compile_child", (), "torch", ("W2",)),
    # PyTensor's compile time (C code, cached in its compiledir) is in W2's "compile" column.
]


def _merge(name: str, runs: list[Peer]) -> Peer:
    ok = [r for r in runs if r.ok]
    if not ok:
        return Peer(name, status=runs[0].status if runs else "failed: no run")
    peer = Peer(name, times=[r.times[0] for r in ok])
    for key in ok[0].extra:
        peer.extra[key] = fmt_time(statistics.median(r.extra[key] for r in ok))
    peer.extra["_import_s"] = statistics.median(r.extra["import"] for r in ok)
    if len(ok) < len(runs):
        peer.note = f"{len(runs) - len(ok)} of {len(runs)} runs failed"
    return peer


def _has_sgd() -> bool:
    return (Path(__file__).resolve().parent.parent / "symnet" / "sgd.py").exists()


def run(quick: bool = False, probe: dict | None = None) -> Section:
    sym_reps = 3 if quick else 5
    peer_reps = 1 if quick else 3
    mod = __name__.rsplit(".", 1)[-1]
    results: dict[tuple[str, str, str], list[Peer]] = {}
    print("W4: compile times in fresh processes (cold and warm caches)", flush=True)
    for rep in range(sym_reps):
        for name, func, args, needs, nets in ROWS:
            is_symnet = name.startswith("symnet")
            if not is_symnet and rep >= peer_reps:
                continue
            if needs and not available(needs):
                continue
            if "compile_sgd" in name and not _has_sgd():
                continue
            for net in nets:
                folder = Path(tempfile.mkdtemp(prefix="symnet-bench-cache-"))
                try:
                    for state in ("cold", "warm"):
                        if name.startswith("symnet numpy") and state == "warm":
                            continue  # the NumPy backend has no on-disk cache
                        print(f"  [{rep + 1}] {net} {state}: ", end="", flush=True)
                        r = isolated(mod, func, net, *args, name=name, env=_cache_env(folder),
                                     timeout=900)
                        results.setdefault((net, name, state), []).append(r)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
    text = [
        "## W4: compile time",
        "",
        "Each number comes from a new Python process (numpy preloaded, like every caller "
        "of a training step). *import*: importing the library; *build*: from the model "
        "declaration to a callable (symbolic derivation, code generation, LLVM, lazy imports "
        "such as SciPy's BLAS; for JAX and numba only the function definition); *first call*: "
        "one training step on one batch (JAX, numba, torch.compile compile here); the timed "
        "value (median, min-max) is build + first call = time to the first step result after "
        "the import. *cold*: all on-disk caches in a new empty folder; *warm*: a second "
        "process with the same folder (symnet's SYMNET_CACHE_DIR object cache, JAX's "
        "persistent compilation cache with its size/time thresholds set to 0, numba "
        "`cache=True`, TorchInductor's cache). "
        f"Repetitions: {sym_reps} for symnet rows, {peer_reps} for the peers (each is a fresh "
        "process; torch.compile alone takes several seconds cold). Ratio = peer / `symnet "
        "llvm training_kernel` in the same cache state.",
        "",
    ]
    lines = []
    for net in NETS:
        for state in ("cold", "warm"):
            peers = []
            for name, *_ in ROWS:
                runs = results.get((net, name, state)) or results.get((net, name, "cold"))
                if runs is None:
                    continue
                p = _merge(name, runs)
                if name.startswith("symnet numpy"):
                    p.note = "no disk cache: same as cold"
                peers.append(p)
            for name, _, _, needs, nets in ROWS:
                if needs and not available(needs) and net in nets:
                    peers.append(Peer(name, status=f"skipped (not installed): {needs}"))
            ref = find(peers, "symnet llvm training_kernel")
            desc = NETS[net]
            text += [f"### {net}'s network ({'-'.join(map(str, desc['sizes']))}, "
                     f"{desc['act']}), {state} cache", "",
                     table(peers, ref, ["import", "build", "first call",
                                        "first call - steady call"], agree=False), ""]
            if net == "W1" and ref is not None and ref.ok:
                limit = 0.25 if state == "cold" else 0.03
                imp = ref.extra.get("_import_s", float("nan"))
                lines.append(verdict(ref.median <= limit,
                                     f"W1 step {state} compile <= {limit:g} s: symnet llvm "
                                     f"training_kernel build + first call "
                                     f"{fmt_time(ref.median)} ({ref.median / limit:.1f}x the "
                                     f"limit; fastest run {fmt_time(min(ref.times))}); with "
                                     f"`import symnet` {fmt_time(ref.median + imp)}"))
    print("W4: import times", flush=True)
    imports = {m: Peer(f"import {m}") for m in ("sympy", "symnet")}
    for _ in range(sym_reps):
        for m, peer in imports.items():
            r = isolated(mod, "import_child", m, name=f"import {m}")
            peer.times += r.times if r.ok else []
    sy, sn = imports["sympy"], imports["symnet"]
    if sy.ok and sn.ok:
        r = sn.median / sy.median
        lines.append(verdict(r <= 1.3, f"`import symnet` <= 1.3x `import sympy` (fresh "
                                       f"processes, numpy preloaded, medians of {sym_reps}): "
                                       f"{fmt_time(sn.median)} vs {fmt_time(sy.median)} = "
                                       f"{r:.2f}x"))
    print("W4: build, derivation and compile time vs depth", flush=True)
    d = isolated(mod, "derive_child", 3 if quick else 5, name="derive", timeout=1800)
    text += [
        "### Build, derivation and compile time of an L-layer MLP",
        "",
        "Fresh networks of widths 3, 8, ..., 8, 2 (tanh hidden layers, softmax output, "
        "cross-entropy risk with L2 penalty, batch size symbolic), L = 1..256, in one "
        "process at the default recursion limit, disk cache off (`benchmarks/derive_depth.py`). "
        "`build` is `MLP(...)` + `risk()`, `grad` is `symnet.grad`, and each compile column "
        "is a cold `compile_grad` (derivation, passes, schedule and code generation; the "
        "in-memory program cache is emptied first). Medians of the runs shown (fewer for "
        "the deep rows, which take tens of seconds each). Cost is linear in depth when the "
        "last column stays flat.",
        "",
        d.result["table"] if d.ok else d.status,
        "",
    ]
    if d.ok:
        per = {r["layers"]: r["total"] / r["layers"] for r in d.result["rows"]}
        ratio = per[256] / per[64]
        lines.append(verdict(ratio <= 1.2, f"derivation and compilation linear in depth up to "
                                           f"256 layers (total / L at 256 layers <= 1.2x its "
                                           f"value at 64, from where the fixed cost of a "
                                           f"compile is small): {per[256]:.4f} vs "
                                           f"{per[64]:.4f} s per layer = {ratio:.2f}x"))
    text += ["**Targets**", ""] + [f"- {line}" for line in lines] + [""]
    return Section("\n".join(text), [f"W4 {line}" for line in lines])


if __name__ == "__main__":
    print(run(quick=True).markdown)
