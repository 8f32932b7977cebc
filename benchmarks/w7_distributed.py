"""W7: data-parallel training on Dask: W2's network on 2^17 samples, 2 local workers vs one process.

W2's 784-256-256-10 ReLU / softmax network, mean cross-entropy, no penalty,
alpha = 0.01, float32, on 2^17 samples X ~ U(0, 1) with labels 0..9 from
default_rng(1), one epoch from the initial parameters and in the order that
``fit(seed=0)`` draws (both from default_rng(0)).
One process runs symnet's native whole epoch (the same minibatch SGD);
the cluster rows run ``symnet.distributed.fit`` on a ``LocalCluster`` of 2
worker processes of one thread each, the data as two ``.npz`` shard files
read by the workers. The synchronous rows do the same arithmetic as one
process; the local-SGD row averages the parameters every 16 steps per
worker. Step times come from timestamps of every step (or round) after
the first 8, so workers loading their kernels is not counted.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import numpy as np
from harness import Peer, Section, fmt_time, isolated, table

SIZES = (784, 256, 256, 10)
SAMPLES = 2 ** 17
ALPHA = 0.01
DTYPE = "float32"
#: Parameters of the network (weights and biases): what a step sends each way per worker.
PARAMS = sum(a * b + b for a, b in zip(SIZES[:-1], SIZES[1:], strict=True))
WARMUP_STEPS = 8


def _net():
    from symnet.nn import MLP

    return MLP(list(SIZES), "relu", output="softmax")


def _data():
    rng = np.random.default_rng(1)
    X = rng.uniform(0.0, 1.0, size=(SAMPLES, SIZES[0])).astype(DTYPE)
    y = rng.integers(0, 10, size=SAMPLES)
    return X, y


def _kernel_ms(kernel, X, y, params, m: int, reps: int = 30) -> float:
    """Median ms of one training-step kernel call on m columns (gradient only)."""
    Xb, yb = np.ascontiguousarray(X[:m].T), y[:m]
    kernel(Xb, yb, *params)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        kernel(Xb, yb, *params)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def one_process(batch: int) -> Peer:
    """symnet's native whole epoch in one process, plus the step kernel alone at the
    batch sizes a worker sees (the compute of one synchronous step)."""
    from symnet.train import _eval_kernel, init_params, training_kernel, training_sgd

    net = _net()
    X, y = _data()
    sgd = training_sgd(net, "cross_entropy", 0.0, "llvm", DTYPE, batch)
    rng = np.random.default_rng(0)  # as fit(seed=0): the parameters, then the order
    params = [np.ascontiguousarray(v) for v in init_params(net, rng, DTYPE).values()]
    order = rng.permutation(SAMPLES)
    data = sgd.prepare(X.T, y)
    sgd.reset_state()
    sgd.epoch(data, None, order[:batch * WARMUP_STEPS], batch, ALPHA,
              [p.copy() for p in params])  # warm-up on a copy
    t0 = time.perf_counter()
    sgd.epoch(data, None, order, batch, ALPHA, params)
    epoch = time.perf_counter() - t0
    steps = -(-SAMPLES // batch)
    kernel = training_kernel(net, "cross_entropy", 0.0, "llvm", DTYPE)
    start = [np.ascontiguousarray(v) for v in init_params(net, 0, DTYPE).values()]
    evaluate = _eval_kernel(net, "cross_entropy", "llvm", DTYPE)
    loss = sum(float(evaluate(np.ascontiguousarray(X[s:s + 4096].T), y[s:s + 4096],
                              *params)[0]) * len(y[s:s + 4096])
               for s in range(0, SAMPLES, 4096)) / SAMPLES
    peer = Peer(f"one process, native epoch, batch {batch}", times=[epoch / steps])
    peer.result = loss
    peer.extra = {"samples/s": f"{SAMPLES / epoch:,.0f}",
                  "half-batch kernel ms": _kernel_ms(kernel, X, y, start, batch // 2),
                  "full-batch kernel ms": _kernel_ms(kernel, X, y, start, batch)}
    return peer


def _shards(tmp: str) -> list[str]:
    X, y = _data()
    paths = []
    for k, (a, b) in enumerate([(0, SAMPLES // 2), (SAMPLES // 2, SAMPLES)]):
        paths.append(os.path.join(tmp, f"shard{k}.npz"))
        np.savez(paths[-1], X=X[a:b], y=y[a:b])
    return paths


def _round_trip_ms(client, shards, payload: list[np.ndarray], reps: int = 30) -> float:
    """Median ms of one client-driven step with no compute: one task per shard that takes
    ``payload`` and returns arrays of its size (what a synchronous step moves)."""
    times = []
    for _ in range(reps + 3):
        t0 = time.perf_counter()
        client.gather([client.submit(_echo, s, payload, pure=False) for s in shards])
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times[3:])


def _echo(shard, payload):
    return [np.zeros_like(p) for p in payload]


def cluster(mode: str, batch: int, sync_every: int) -> Peer:
    """One epoch of symnet.distributed.fit on a 2-worker LocalCluster."""
    import sys

    import cloudpickle

    from symnet import distributed

    # The no-compute probe task lives in this script, which the workers cannot import.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    from symnet.distributed.shards import Layout, place
    from symnet.train import init_params

    net = _net()
    with tempfile.TemporaryDirectory(prefix="symnet-w7-") as tmp:
        paths = _shards(tmp)
        client = distributed.local_client(2)
        try:
            client.wait_for_workers(2, timeout=60)
            stamps: list[float] = []
            t0 = time.perf_counter()
            res = distributed.fit(net, paths, None, client=client, epochs=1, batch_size=batch,
                                  alpha=ALPHA, lam=0.0, dtype=DTYPE, mode=mode,
                                  sync_every=sync_every, progress=False, seed=0,
                                  step_callback=lambda e, s: stamps.append(time.perf_counter()))
            total = time.perf_counter() - t0
            steps = np.diff(stamps[WARMUP_STEPS:])
            per = batch * (sync_every * 2 if mode == "local" else 1)  # samples per step/round
            peer = Peer(f"2 workers, {mode}" + (f" every {sync_every} steps" if mode == "local"
                                                else "") + f", batch {batch}",
                        times=list(steps))
            params = [np.ascontiguousarray(v) for v in init_params(net, 0, DTYPE).values()]
            shards = place(client, paths, None, Layout(SIZES[0], SIZES[-1], "onehot", DTYPE))
            client.gather(shards)
            peer.extra = {
                "samples/s": f"{per / float(np.median(steps)):,.0f}",
                "epoch wall s": f"{total:.1f}",
                "round trip, no compute, params ms": _round_trip_ms(client, shards, params),
                "round trip, no compute, 1 float ms": _round_trip_ms(
                    client, shards, [np.zeros(1, DTYPE)]),
            }
            peer.result = res.history.train_loss[-1]
        finally:
            client.close()
    return peer


def _projection(one: Peer, rows: list[Peer]) -> list[str]:
    """Step time of client-driven synchronous SGD for W workers from this run's
    measurements: t_fixed + 2 W P b / bw + compute(B / W)."""
    sync = next((p for p in rows if p.ok and "sync" in p.name), None)
    if sync is None or not one.ok:
        return ["(no projection: a row failed)"]
    fixed = sync.extra["round trip, no compute, 1 float ms"] / 1e3
    moved = 2 * 2 * PARAMS * 4  # params down and gradients up, 2 workers, float32
    bw = moved / max(sync.extra["round trip, no compute, params ms"] / 1e3 - fixed, 1e-6)
    # compute(m) = a + c m from the kernel at the half and full batch of the one-process row.
    m1, m2 = 32, 64
    t1, t2 = (one.extra["half-batch kernel ms"] / 1e3, one.extra["full-batch kernel ms"] / 1e3)
    c = max((t2 - t1) / (m2 - m1), 1e-12)
    a = max(t1 - c * m1, 0.0)
    lines = [
        f"Measured here: a step's fixed cost (Dask's client -> scheduler -> worker round "
        f"trip, 2 tasks) t_fixed = {1e3 * fixed:.1f} ms; moving the parameters to 2 workers "
        f"and their gradients back ({moved / 1e6:.2f} MB per step) adds "
        f"{1e3 * (moved / bw):.1f} ms, an effective {bw / 1e9:.2f} GB/s through the client; "
        f"the step kernel costs a + c m with a = {1e3 * a:.3f} ms, c = {1e6 * c:.2f} us per "
        "sample (from the kernel at 32 and 64 columns).",
        "",
        "Projection for W workers (client-driven synchronous SGD: every step sends the "
        "parameters to each worker and gathers each gradient, so the client's link carries "
        "2 W P b bytes per step): T(W, B) = t_fixed + 2 W P b / bw + a + c B / W; "
        "throughput B / T. The batch at which a worker's compute equals the step's "
        "communication is B* = W (t_fixed + 2 W P b / bw) / c. P b is the model's size in "
        "bytes (W2 float32: 1.08 MB; 'x10' scales P, and so c, tenfold).",
        "",
        "| model | workers | B* | samples/s at B = 64 | at B = 1024 | at B = 8192 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, scale in (("W2", 1), ("W2 x10", 10)):
        for w in (1, 2, 4, 8, 16):
            comm = fixed + (2 * w * PARAMS * 4 * scale / bw if w > 1 else 0.0)
            cc = c * scale
            b_star = w * comm / cc

            def rate(batch: int, w=w, comm=comm, cc=cc, scale=scale) -> str:
                return f"{batch / (comm + a * scale + cc * batch / w):,.0f}"

            lines.append(f"| {label} | {w} | {b_star:,.0f} | {rate(64)} | {rate(1024)} | "
                         f"{rate(8192)} |")
    lines += ["", "W = 1 is the same loop with one worker (no parameter traffic beyond one "
              "round trip). A real cluster's network (10 Gb/s: 1.25 GB/s) is slower than "
              "this loopback, and Dask's fixed round trip stays: synchronous data "
              "parallelism pays off only once B / W samples of compute outweigh it, so large "
              "batches (or local SGD, which pays the round trip once per sync_every steps) "
              "are the regime where more workers add throughput."]
    return lines


def run(quick: bool = False, probe: dict | None = None) -> Section:
    mod = __name__.rsplit(".", 1)[-1]
    text = ["## W7: data-parallel training on Dask (2 local workers)", "",
            __doc__.split("\n\n", 1)[1].replace("\n", " ").strip(), ""]
    print("W7: one process", flush=True)
    ones = [isolated(mod, "one_process", b, name=f"one process, batch {b}")
            for b in (64, 1024)]
    print("W7: cluster", flush=True)
    rows = [isolated(mod, "cluster", "sync", 64, 1, requires=("distributed",),
                     name="2 workers, sync, batch 64"),
            isolated(mod, "cluster", "sync", 1024, 1, requires=("distributed",),
                     name="2 workers, sync, batch 1024"),
            isolated(mod, "cluster", "local", 64, 16, requires=("distributed",),
                     name="2 workers, local every 16 steps, batch 64")]
    cols = ["samples/s", "epoch wall s", "round trip, no compute, params ms",
            "round trip, no compute, 1 float ms", "half-batch kernel ms", "full-batch kernel ms"]
    shown = []
    for p in ones + rows:  # the table shows rounded copies; the projection reads the numbers
        q = Peer(p.name, times=p.times, status=p.status, note=p.note)
        q.extra = {k: f"{v:.2f}" if isinstance(v, float) else v for k, v in p.extra.items()}
        shown.append(q)
    text += ["Time per step (per round for local SGD: 16 steps on each worker); ratio = row / "
             "the one-process row of batch 64.", "",
             table(shown, shown[0], cols, ratio_label="ratio to one process", agree=False), ""]
    summary = []
    for one, row in ((ones[0], rows[0]), (ones[1], rows[1])):
        if not (one.ok and row.ok):
            continue
        batch = one.name.rsplit(" ", 1)[1]
        rel = abs(one.result - row.result) / abs(one.result)
        summary.append(f"W7 agreement - sync, batch {batch}: training loss after the epoch "
                       f"{row.result:.6f} on 2 workers vs {one.result:.6f} in one process, "
                       f"rel. diff {rel:.1e} {'OK' if rel < 1e-4 else 'DIFFERS'} (float32)")
        compute = one.extra["half-batch kernel ms"] / 1e3
        summary.append(f"W7 measured - sync, batch {batch}: 2 workers "
                       f"{row.extra['samples/s']} samples/s vs one process "
                       f"{one.extra['samples/s']} ({one.median / row.median:.2f}x its "
                       f"throughput); step {fmt_time(row.median)}, of which a worker's "
                       f"compute {fmt_time(compute)}: communication and scheduling "
                       f"{100 * (1 - compute / row.median):.0f}%")
    if rows[2].ok and ones[0].ok:
        summary.append(f"W7 measured - local SGD every 16 steps, batch 64: "
                       f"{rows[2].extra['samples/s']} samples/s vs one process "
                       f"{ones[0].extra['samples/s']}")
    text += ["### Scaling", ""] + _projection(ones[0], rows)
    return Section("\n".join(text), summary)


if __name__ == "__main__":
    print(run(quick=True).markdown)
