"""fit on a Dask cluster: synchronous gradient averaging (exact) or local SGD, client-driven."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import numpy as np

from .. import optim, targets
from ..errors import DivergedError
from ..train import (
    FitResult,
    History,
    _check_validation,
    _eval_kernel,
    _eval_set,
    _evaluate,
    _io_sizes,
    init_params,
    model_hash,
    training_kernel,
)
from ..train.params import _param_list
from ..train.schedules import Schedule, _learning_rate
from ..update import compile_update
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .shards import Layout, evaluate_shard, gradient_shard, local_round, place
from .ship import KernelSpec, UpdateSpec

__all__ = ["MODES", "fit", "local_client"]

#: ``sync``: every step averages the workers' gradients of one global batch
#: (the same arithmetic as one process, up to rounding); ``local``: every
#: worker runs ``sync_every`` steps on its own shard, then the parameters and
#: optimizer states are averaged (fewer messages, not the same trajectory).
MODES = ("sync", "local")


def local_client(n_workers: int = 2, **cluster_options):
    """A client of a new ``LocalCluster``: ``n_workers`` processes of one thread each
    (symnet's kernels release the GIL; the processes use the cores).

    >>> client = local_client(1)
    >>> len(client.scheduler_info()["workers"])
    1
    >>> client.close()
    """
    from distributed import Client

    # The client owns the cluster it starts here: closing it stops the workers.
    opts = {"threads_per_worker": 1, "processes": True, "dashboard_address": ":0"}
    return Client(n_workers=n_workers, **{**opts, **cluster_options})


def _keep(value):
    """A task that returns its argument: a value with lineage, recomputable on any worker."""
    return value


def _dashboard(client) -> str | None:
    try:
        if "dashboard" in client.scheduler_info().get("services", {}):
            return client.dashboard_link
    except (AttributeError, KeyError, TypeError):
        pass
    return None


def _average(parts: list[list[np.ndarray]], weights: list[float], dtype) -> list[np.ndarray]:
    """sum_k w_k parts[k], in shard order, accumulated in float64 (the order is fixed,
    so the result does not depend on which worker answered first)."""
    out = []
    for j in range(len(parts[0])):
        acc = np.zeros(np.shape(parts[0][j]), dtype=np.float64)
        for w, p in zip(weights, parts, strict=True):
            acc += w * np.asarray(p[j], dtype=np.float64)
        out.append(acc.astype(dtype))
    return out


def fit(model, X, y=None, *, client, loss: str | None = None, lam: float = 1e-4,
        alpha: float = 0.1, epochs: int = 10, batch_size: int = 64, seed: int = 0,
        optimizer=None, mode: str = "sync", sync_every: int = 8, backend: str = "llvm",
        dtype: str = "float64", X_val=None, y_val=None, patience: int | None = None,
        schedule: Schedule | None = None, init: Mapping[str, np.ndarray] | None = None,
        checkpoint=None, checkpoint_every: int = 1, resume=None, progress: bool = True,
        callback: Callable[[History], None] | None = None,
        step_callback: Callable[[int, int], None] | None = None) -> FitResult:
    """Data-parallel minibatch SGD of ``model`` (an MLP or a :class:`symnet.Model`)
    on the Dask cluster of ``client``.

    ``X`` is a ``dask.array`` chunked along samples, a list of NumPy blocks,
    a list of ``.npz`` shard files (arrays ``X`` and ``y``; ``y=None``) or
    one NumPy array (cut into one shard per worker); ``y`` the labels or
    targets as for :func:`symnet.train.fit`. The shards stay on the workers.
    Each worker compiles the training step once from its program, shipped as
    data (:mod:`.ship`), or loads it from its own cache.

    ``mode="sync"``: epoch e visits the samples in the permutation drawn from
    ``numpy.random.default_rng(seed)`` after the initial parameters, in
    batches of ``batch_size``, exactly as :func:`symnet.train.fit`; for every
    batch each worker holding some of its samples returns the gradient over
    them, the client averages them (weighted by samples, in shard order) and
    applies the optimizer (:func:`symnet.update.compile_update`) to the
    parameters and the state it keeps beside them. Same numbers as one
    process up to rounding. ``mode="local"``: every worker runs
    ``sync_every`` steps on its own shard's samples (in the same epoch
    order), then the client averages the parameters and optimizer states
    weighted by samples (the step count: the largest); fewer messages, a
    different trajectory.

    A lost worker is recovered by Dask: its shards are recomputed from their
    lineage and the step's tasks rerun, with the same numbers. ``checkpoint``
    (a path) is written every ``checkpoint_every`` epochs with the
    parameters, optimizer state, epoch, RNG state and history;
    ``resume=PATH`` continues from one bit for bit. Validation data (NumPy,
    evaluated on the client) enables early stopping after ``patience``
    epochs without a lower validation error. ``progress`` shows one tqdm bar
    (samples/s) and prints the Dask dashboard's address when it runs;
    ``callback(history)`` runs after every epoch and ``step_callback(epoch,
    step)`` after every synchronous step (or local round).

    >>> from symnet.nn import MLP
    >>> client = local_client(2)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(256, 4)); y = (X[:, 0] > 0).astype(int)
    >>> res = fit(MLP([4, 8, 2], 'tanh'), X, y, client=client, epochs=3,
    ...           batch_size=32, progress=False)
    >>> bool(res.history.train_error[-1] < 0.2)
    True
    >>> client.close()
    """
    loss = loss or model.default_loss
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size),
                        ("sync_every", sync_every), ("checkpoint_every", checkpoint_every)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    _check_validation(patience, X_val, y_val)
    dtype = np.dtype(dtype)
    opt = optim.get(optimizer)
    n_in, n_out = _io_sizes(model)
    kind = targets.kind_of(model.labels(loss))
    regression = model.task == "regression"
    step_kernel = training_kernel(model, loss, lam, backend, dtype)
    evaluate = _eval_kernel(model, loss, backend, dtype)
    update = compile_update(model.params, opt, backend, dtype)

    shards = place(client, X, y, Layout(n_in, n_out, kind, str(dtype)))
    sizes = np.array(client.gather([client.submit(len, s, pure=False) for s in shards]),
                     dtype=np.int64)
    if (sizes == 0).any():
        raise ValueError(f"shard {int(np.argmin(sizes))} has no samples")
    ends = np.cumsum(sizes)
    starts = ends - sizes
    n = int(ends[-1])
    grad_f = client.submit(_keep, KernelSpec.of(step_kernel, "train_step"), pure=False)
    eval_f = client.submit(_keep, KernelSpec.of(evaluate, "evaluate"), pure=False)
    update_f = client.submit(_keep, UpdateSpec.of(update), pure=False)

    validate = X_val is not None
    if validate:
        _, _, b_va, c_va = _eval_set("X_val", X_val, y_val, n_in, n_out, kind, dtype, backend,
                                     regression)

    names = [str(p) for p in model.params]
    config = {"model": model_hash(model), "loss": loss, "lam": float(lam),
              "batch_size": int(batch_size), "optimizer": f"{opt.name}: {opt}",
              "dtype": str(dtype), "samples": n, "mode": mode, "seed": int(seed),
              "sync_every": int(sync_every) if mode == "local" else None}
    rng = np.random.default_rng(seed)
    start_params = init_params(model, rng, dtype)
    if init is not None:
        start_params = {**start_params, **init}
    params = _param_list(model, start_params, dtype)
    history = History()
    best_epoch, best_error, since_best = 0, math.inf, 0
    best_params = [p.copy() for p in params]
    first = 1
    if resume is not None:
        ck = load_checkpoint(resume)
        wrong = sorted(k for k in config if ck.config.get(k) != config[k])
        if wrong:
            raise ValueError(f"checkpoint {resume} is of another run: "
                             + "; ".join(f"{k} {ck.config.get(k)!r} there, {config[k]!r} now"
                                         for k in wrong))
        params = _param_list(model, ck.params, dtype)
        update.set_state(ck.state)
        rng.bit_generator.state = ck.rng
        history = ck.restore_history()
        best_epoch, best_error, since_best = ck.best_epoch, ck.best_error, ck.since_best
        best_params = _param_list(model, ck.best, dtype) if ck.best else \
            [p.copy() for p in params]
        first = ck.epoch + 1

    def measure() -> tuple[float, float, float, float]:
        parts = client.gather([client.submit(evaluate_shard, eval_f, s, params, regression,
                                             pure=False) for s in shards])
        tl = sum(p[0] for p in parts) / n
        te = sum(p[1] for p in parts) / n
        vl = ve = math.nan
        if validate:
            vl, ve = _evaluate(evaluate, b_va, c_va, params, regression)
        return tl, te, vl, ve

    def sync_epoch(order: np.ndarray, lr: float, epoch: int, bar) -> None:
        for step, s in enumerate(range(0, n, batch_size), 1):
            batch = order[s:s + batch_size]
            owner = np.searchsorted(ends, batch, side="right")
            ks = np.unique(owner)
            futs = [client.submit(gradient_shard, grad_f, shards[k], params,
                                  batch[owner == k] - starts[k], pure=False) for k in ks]
            parts = client.gather(futs)
            weights = [float(np.count_nonzero(owner == k)) / len(batch) for k in ks]
            grads = _average([p[1] for p in parts], weights, dtype)
            update.apply(lr, params, grads)
            if bar is not None:
                bar.update(len(batch))
            if step_callback is not None:
                step_callback(epoch, step)

    def local_epoch(order: np.ndarray, lr: float, epoch: int, bar) -> None:
        nonlocal params
        owner = np.searchsorted(ends, order, side="right")
        batches = []
        for k in range(len(shards)):
            rows = order[owner == k] - starts[k]
            batches.append([rows[s:s + batch_size] for s in range(0, len(rows), batch_size)])
        rounds = -(-max(len(b) for b in batches) // sync_every)
        for r in range(rounds):
            work = [(k, b[r * sync_every:(r + 1) * sync_every]) for k, b in enumerate(batches)]
            work = [(k, b) for k, b in work if b]
            state = update.state
            futs = [client.submit(local_round, grad_f, update_f, shards[k], params, state, b,
                                  lr, pure=False) for k, b in work]
            parts = client.gather(futs)
            counts = [sum(len(rows) for rows in b) for _, b in work]
            weights = [c / sum(counts) for c in counts]
            params = _average([p[0] for p in parts], weights, dtype)
            keys = list(state)
            merged = dict(zip(keys, _average([[p[1][key] for key in keys] for p in parts],
                                             weights, dtype), strict=True))
            if optim.STEP_COUNTER in merged:  # every worker counted its own steps
                merged[optim.STEP_COUNTER] = np.max([p[1][optim.STEP_COUNTER] for p in parts],
                                                    axis=0)
            update.set_state(merged)
            if bar is not None:
                bar.update(sum(counts))
            if step_callback is not None:
                step_callback(epoch, r + 1)

    bar = None
    link = _dashboard(client) if progress else None
    if progress:
        from tqdm.auto import tqdm

        if link:
            print(f"Dask dashboard: {link}")
        bar = tqdm(total=max(0, epochs - first + 1) * n, unit="sample", unit_scale=True,
                   leave=callback is None)
    stopped_early = False
    try:
        for epoch in range(first, epochs + 1):
            start = time.perf_counter()
            lr = _learning_rate(schedule, alpha, epoch)
            order = rng.permutation(n)
            if bar is not None:
                bar.set_description(f"epoch {epoch}/{epochs}")
            (sync_epoch if mode == "sync" else local_epoch)(order, lr, epoch, bar)
            train_loss, train_error, val_loss, val_error = measure()
            history._append(epoch=epoch, train_loss=train_loss, train_error=train_error,
                            val_loss=val_loss, val_error=val_error, lr=lr,
                            seconds=time.perf_counter() - start)
            if not (math.isfinite(train_loss) and all(np.isfinite(p).all() for p in params)):
                raise DivergedError(
                    f"training diverged in epoch {epoch}: the training loss is {train_loss} "
                    f"(learning rate {lr:g}); try a smaller learning rate such as "
                    f"alpha={lr / 10:g}", epoch,
                    FitResult(dict(zip(names, best_params, strict=True)), history,
                              best_epoch, False))
            if bar is not None:
                bar.set_postfix(loss=f"{train_loss:.4f}",
                                val_error=f"{val_error:.4f}" if validate else "-")
            if not validate:
                best_epoch, best_params = epoch, params
            elif val_error < best_error:
                best_epoch, best_error, since_best = epoch, val_error, 0
                best_params = [p.copy() for p in params]
            else:
                since_best += 1
            if checkpoint is not None and (epoch % checkpoint_every == 0 or epoch == epochs):
                save_checkpoint(checkpoint, Checkpoint(
                    epoch, dict(zip(names, params, strict=True)), update.state,
                    rng.bit_generator.state, config,
                    [history.row(i) for i in range(len(history))],
                    dict(zip(names, best_params, strict=True)) if validate else {},
                    best_epoch, best_error, since_best))
            if callback is not None:
                callback(history)
            if validate and patience is not None and since_best >= patience:
                stopped_early = True
                break
    finally:
        if bar is not None:
            bar.close()
    final = best_params if validate else params
    return FitResult({k: np.array(v) for k, v in zip(names, final, strict=True)}, history,
                     best_epoch, stopped_early)
