"""The training data as shards on the workers, and the work each worker does on its shard."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import targets
from ..train import _as_rows, _classes, _targets
from .ship import KernelSpec, UpdateSpec

__all__ = ["Layout", "Shard", "evaluate_shard", "gradient_shard", "load_shard", "local_round",
           "make_shard", "place"]

#: Columns per evaluation call on a worker (bounds the transposed copy of a shard).
EVAL_COLUMNS = 4096


@dataclass(frozen=True)
class Layout:
    """How the targets are checked: sizes, target kind and dtype (sent to the workers)."""

    n_in: int
    n_out: int
    kind: str
    dtype: str


@dataclass
class Shard:
    """One worker's part of the data set: ``X`` (samples x features) and the
    checked targets ``T`` (samples x outputs), rows C-contiguous in the
    kernels' dtype, so a batch is a row gather."""

    X: np.ndarray
    T: np.ndarray

    def __len__(self) -> int:
        return self.X.shape[0]

    def batch(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The batch's columns (features x m, outputs x m), as every kernel takes them."""
        return (np.ascontiguousarray(self.X[rows].T), np.ascontiguousarray(self.T[rows].T))


def make_shard(X, y, layout: Layout, name: str = "X") -> Shard:
    """Check one block of samples (on the worker that holds it) and lay it out.

    >>> s = make_shard(np.ones((3, 2)), np.array([0, 1, 1]), Layout(2, 2, 'onehot', 'float64'))
    >>> s.X.shape, s.T.tolist()
    ((3, 2), [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    """
    X = np.asarray(X)
    Xr = np.ascontiguousarray(_as_rows(name, X, layout.n_in, layout.dtype))
    targets.check_finite(name, Xr)
    y = np.asarray(y)
    T = _targets(f"the targets of {name}", y, Xr.shape[0], layout.n_out, layout.kind,
                 layout.dtype)
    return Shard(Xr, np.ascontiguousarray(T.T))


def load_shard(path: str, layout: Layout) -> Shard:
    """A shard from an ``.npz`` file with arrays ``X`` and ``y`` (read by the worker,
    so the path must exist there)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"shard file {path} does not exist on worker (pid "
                                f"{os.getpid()})")
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in ("X", "y") if k not in f.files]
        if missing:
            raise ValueError(f"shard file {path} has no array {', '.join(missing)}; it needs "
                             "X (samples x features) and y")
        return make_shard(f["X"], f["y"], layout, name=path)


def gradient_shard(spec: KernelSpec, shard: Shard, params: Sequence[np.ndarray],
                   rows: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """The risk and its gradient over the shard's rows of one batch (means over those
    rows): the worker's part of a synchronous step."""
    X, T = shard.batch(rows)
    out = spec.build()(X, T, *params)
    return float(out[0]), out[1:]


def local_round(grad: KernelSpec, update: UpdateSpec, shard: Shard,
                params: Sequence[np.ndarray], state: dict[str, np.ndarray],
                batches: Sequence[np.ndarray], alpha: float
                ) -> tuple[list[np.ndarray], dict[str, np.ndarray], float]:
    """Local SGD: ``len(batches)`` steps on this shard alone from the given
    parameters and optimizer state; returns the new ones and the summed risk
    (weighted by batch size) of the steps."""
    kernel, step = grad.build(), update.build()
    step.set_state(state)
    params = [np.array(p) for p in params]
    total = 0.0
    for rows in batches:
        X, T = shard.batch(rows)
        out = kernel(X, T, *params)
        total += float(out[0]) * len(rows)
        step.apply(alpha, params, out[1:])
    return params, step.state, total


def evaluate_shard(spec: KernelSpec, shard: Shard, params: Sequence[np.ndarray],
                   regression: bool) -> tuple[float, float]:
    """(loss summed over the shard's samples, errors: misclassified samples or the
    sum of squared errors per output)."""
    loss = wrong = 0.0
    kernel = spec.build()
    for s in range(0, len(shard), EVAL_COLUMNS):
        rows = np.arange(s, min(s + EVAL_COLUMNS, len(shard)))
        X, T = shard.batch(rows)
        value, out = kernel(X, T, *params)
        loss += float(value) * len(rows)
        if regression:
            wrong += float(np.sum((np.asarray(out, np.float64) - T) ** 2)) / T.shape[0]
        else:
            wrong += float(np.sum(_classes(out) != _classes(T)))
    return loss, wrong


def place(client, X, y, layout: Layout) -> list:
    """Futures of the shards on the cluster, in sample order.

    ``X`` is a ``dask.array`` (chunked along samples; ``y`` a dask or NumPy
    array of labels or targets), a list of NumPy blocks (``y`` a list of the
    same length), a list of ``.npz`` paths (``y`` None), or one NumPy array
    (``y`` its targets), which is cut into one contiguous shard per worker.
    Every shard keeps its lineage (the dask graph, the block in the task, or
    the path), so Dask recomputes the shards of a lost worker elsewhere.
    """
    try:
        import dask.array as da
    except ImportError:  # pragma: no cover - distributed pulls in dask
        da = None
    if da is not None and isinstance(X, da.Array):
        return _place_dask(client, X, y, layout, da)
    if isinstance(X, list | tuple):
        if not X:
            raise ValueError("X is an empty list of shards")
        if all(isinstance(x, str | os.PathLike) for x in X):
            if y is not None:
                raise ValueError("shard files hold their own targets (arrays X and y); pass "
                                 "y=None")
            return [client.submit(load_shard, os.fspath(p), layout, pure=False) for p in X]
        if not isinstance(y, list | tuple) or len(y) != len(X):
            raise ValueError(f"X is a list of {len(X)} NumPy shards, so y must be a list of "
                             f"as many target arrays, got {type(y).__name__}")
        return [client.submit(make_shard, x, t, layout, f"X shard {k}", pure=False)
                for k, (x, t) in enumerate(zip(X, y, strict=True))]
    if y is None:
        raise ValueError("y is missing: give the labels or targets of X")
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples x features), got shape {X.shape}")
    if y.shape[:1] != X.shape[:1]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0] if y.ndim else 0}")
    workers = max(1, len(client.scheduler_info()["workers"]))
    cuts = np.array_split(np.arange(X.shape[0]), min(workers, X.shape[0]))
    return place(client, [X[c[0]:c[-1] + 1] for c in cuts],
                 [y[c[0]:c[-1] + 1] for c in cuts], layout)


def _place_dask(client, X, y, layout: Layout, da) -> list:
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples x features), got shape {X.shape}")
    if y is None:
        raise ValueError("y is missing: give the labels or targets of X")
    X = X.rechunk({1: -1})
    if not isinstance(y, da.Array):
        y = da.from_array(np.asarray(y), chunks=(X.chunks[0],) + ((-1,) if np.ndim(y) == 2
                                                                  else ()))
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}")
    y = y.rechunk({0: X.chunks[0], **({1: -1} if y.ndim == 2 else {})})
    import dask

    blocks = [dask.delayed(make_shard)(xb, yb, layout, f"X block {k}")
              for k, (xb, yb) in enumerate(zip(X.to_delayed().ravel(),
                                               y.to_delayed().ravel(), strict=True))]
    return client.compute(blocks)
