"""Training: Algorithm 4.1 (per-sample SGD), minibatch SGD, early stopping, saving."""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sympy as sp

from . import targets
from .api import compile as compile_kernel
from .api import compile_grad
from .errors import DivergedError
from .nn import LOSSES, MLP
from .runtime import Kernel
from .sgd import SGD, compile_sgd

__all__ = [
    "DivergedError",
    "FitResult",
    "History",
    "accuracy",
    "fit",
    "init_params",
    "inverse_time_decay",
    "load_params",
    "model_hash",
    "plot_history",
    "predict",
    "save_params",
    "step_decay",
    "training_kernel",
    "training_sgd",
]

Params = dict[str, np.ndarray]
Schedule = Callable[[int], float]

_CACHE_ATTR = "_symnet_train_kernels"
_HASH_KEY = "__symnet_model_hash__"
_FORMULA_KEY = "__symnet_model__"


# ------------------------------------------------------------------ schedules


def inverse_time_decay(alpha0: float, k: float) -> Schedule:
    """Learning rate alpha0 / (1 + k (epoch - 1)): alpha0 in epoch 1, then decaying.

    >>> lr = inverse_time_decay(0.1, 1.0)
    >>> [round(lr(e), 4) for e in (1, 2, 3)]
    [0.1, 0.05, 0.0333]
    """
    def schedule(epoch: int) -> float:
        return alpha0 / (1.0 + k * (epoch - 1))

    return schedule


def step_decay(alpha0: float, drop: float = 0.5, every: int = 10) -> Schedule:
    """Learning rate alpha0 * drop ** floor((epoch - 1) / every): a staircase.

    >>> lr = step_decay(0.1, drop=0.5, every=2)
    >>> [lr(e) for e in (1, 2, 3, 4, 5)]
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """
    if every < 1:
        raise ValueError(f"every must be a positive number of epochs, got {every}")

    def schedule(epoch: int) -> float:
        return alpha0 * drop ** ((epoch - 1) // every)

    return schedule


# ------------------------------------------------------------------ results


@dataclass
class History:
    """Per-epoch metrics; index i holds epoch i + 1.

    ``train_loss`` / ``val_loss`` are the mean loss (without the weight
    penalty) over the whole training / validation set after the epoch,
    ``train_error`` / ``val_error`` the fraction misclassified, ``lr`` the
    learning rate used in the epoch and ``seconds`` its wall time. Without
    validation data the ``val_*`` entries are NaN.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_error: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epoch)

    def row(self, i: int) -> dict[str, float]:
        """Metrics of the entry ``i`` (``-1`` for the latest epoch) as a dict."""
        return {name: getattr(self, name)[i] for name in _HISTORY_FIELDS}

    def _append(self, **values: float) -> None:
        for name in _HISTORY_FIELDS:
            getattr(self, name).append(values[name])


_HISTORY_FIELDS = ("epoch", "train_loss", "train_error", "val_loss", "val_error", "lr",
                   "seconds")


@dataclass
class FitResult:
    """What :func:`fit` returns.

    ``params`` maps parameter names (``W1``, ``b1``, ...) to arrays: the
    best-validation parameters when validation data was given, else the
    final ones. ``best_epoch`` is 1-based; ``stopped_early`` tells whether
    early stopping ended the run; ``sgd`` is the compiled SGD epoch.
    """

    params: Params
    history: History
    best_epoch: int
    stopped_early: bool
    sgd: SGD | None = field(default=None, repr=False)

    @property
    def best_val_error(self) -> float:
        """Validation error at ``best_epoch`` (NaN without validation data)."""
        if not self.history.val_error:
            return math.nan
        return self.history.val_error[self.best_epoch - 1]


# ------------------------------------------------------------------ kernels


def _cache(net: MLP) -> dict:
    # MLP is an unhashable dataclass, so compiled kernels live on the instance itself.
    return net.__dict__.setdefault(_CACHE_ATTR, {})


def _check_loss(loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")


def training_kernel(net: MLP, loss: str = "cross_entropy", lam: float = 1e-4,
                    backend: str = "numpy", dtype: str = "float64") -> Kernel:
    """The compiled training step: ``k(X, Y, *params) -> [risk, dR/dparam, ...]``.

    The risk is ``net.risk(loss, lam)``; the batch size m stays symbolic, so
    one kernel serves every batch size (columns of X). Kernels are cached
    on ``net``.

    >>> net = MLP([2, 3, 2], 'tanh', output='softmax')
    >>> k = training_kernel(net)
    >>> [str(s) for s in k.inputs]
    ['X', 'Y', 'W1', 'b1', 'W2', 'b2']
    """
    _check_loss(loss)
    key = ("step", loss, float(lam), backend, str(np.dtype(dtype)))
    cache = _cache(net)
    if key not in cache:
        cache[key] = compile_grad(net.risk(loss, lam), net.params,
                                  [net.X, net.labels(loss), *net.params],
                                  backend=backend, dtype=dtype, name="train_step")
    return cache[key]


def training_sgd(net: MLP, loss: str = "cross_entropy", lam: float = 1e-4,
                 backend: str = "numpy", dtype: str = "float64",
                 batch_size: int | None = None) -> SGD:
    """The compiled SGD epoch for ``net.risk(loss, lam)`` (cached on ``net``).

    With the LLVM backend a whole epoch, batches gathered in the shuffled
    order and parameters updated in place, is one native call; given
    ``batch_size``, its native code is generated now (otherwise on the
    first epoch).

    >>> sgd = training_sgd(MLP([2, 3, 2], 'tanh'))
    >>> [str(p) for p in sgd.params]
    ['W1', 'b1', 'W2', 'b2']
    """
    _check_loss(loss)
    key = ("sgd", loss, float(lam), backend, str(np.dtype(dtype)))
    cache = _cache(net)
    if key not in cache:
        cache[key] = compile_sgd(net.risk(loss, lam), net.params, net.X, net.labels(loss),
                                 backend=backend, dtype=dtype, track_loss=False)
    if batch_size is not None:
        cache[key].compile_for(batch_size)
    return cache[key]


def _eval_kernel(net: MLP, loss: str, backend: str, dtype) -> Kernel:
    key = ("eval", loss, backend, str(np.dtype(dtype)))
    cache = _cache(net)
    if key not in cache:
        cache[key] = compile_kernel([net.loss(loss), net.output_expr],
                                    [net.X, net.labels(loss), *net.params],
                                    backend=backend, dtype=dtype, name="evaluate")
    return cache[key]


def _predict_kernel(net: MLP, backend: str, dtype) -> Kernel:
    key = ("predict", backend, str(np.dtype(dtype)))
    cache = _cache(net)
    if key not in cache:
        cache[key] = compile_kernel([net.output_expr], [net.X, *net.params],
                                    backend=backend, dtype=dtype, name="predict")
    return cache[key]


# ------------------------------------------------------------------ parameters


def _concrete_shape(p: sp.MatrixSymbol) -> tuple[int, int]:
    dims = [sp.sympify(d) for d in p.shape]
    if not all(d.is_Integer for d in dims):
        raise ValueError(f"parameter {p} has symbolic shape {p.shape[0]} x {p.shape[1]}; "
                         "training needs integer layer sizes")
    return int(dims[0]), int(dims[1])


def init_params(net: MLP, seed: int | np.random.Generator = 0,
                dtype: str = "float64") -> Params:
    """Random initial parameters in ``net.params`` order.

    Weights (every maxout piece too) ~ N(0, 1/fan_in), biases 0, PReLU
    slopes 0.25; the draws come from ``numpy.random.default_rng(seed)``
    (or from the given Generator) in layer order.

    >>> p = init_params(MLP([4, 3, 2], 'prelu'), seed=0)
    >>> {k: v.shape for k, v in p.items()}
    {'W1': (3, 4), 'b1': (3, 1), 'g1': (3, 1), 'W2': (2, 3), 'b2': (2, 1)}
    >>> float(p['g1'][0, 0]), float(abs(p['b2']).max())
    (0.25, 0.0)
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    weights = set(net.weights)
    gammas = {layer.gamma for layer in net.layers if layer.gamma is not None}
    params: Params = {}
    for p in net.params:
        rows, cols = _concrete_shape(p)
        if p in weights:
            value = rng.normal(0.0, math.sqrt(1.0 / cols), size=(rows, cols))
        elif p in gammas:
            value = np.full((rows, cols), 0.25)
        else:
            value = np.zeros((rows, cols))
        params[str(p)] = value.astype(dtype)
    return params


def _param_list(net: MLP, params: Mapping[str, np.ndarray], dtype) -> list[np.ndarray]:
    names = [str(p) for p in net.params]
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"missing parameter(s) {', '.join(missing)}; the model has "
                         f"{', '.join(names)}")
    out = []
    for p in net.params:
        arr = np.array(params[str(p)], dtype=dtype)
        shape = _concrete_shape(p)
        if arr.shape != shape:
            raise ValueError(f"parameter {p} has shape {arr.shape}, the model needs {shape}")
        out.append(arr)
    return out


# ------------------------------------------------------------------ data checks


def _io_sizes(net: MLP) -> tuple[int, int]:
    """Number of inputs n_0 and of outputs n_L (integers)."""
    first, last = net.layers[0].weights[0], net.layers[-1].weights[0]
    return _concrete_shape(first)[1], _concrete_shape(last)[0]


def _as_rows(name: str, X, n_in: int, dtype) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples x features), got shape {X.shape}")
    if X.shape[1] != n_in:
        raise ValueError(f"{name} has {X.shape[1]} features per sample but the network takes "
                         f"{n_in} inputs")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no samples")
    return X.astype(dtype)


def _targets(name: str, y, n_samples: int, n_out: int, kind: str, dtype) -> np.ndarray:
    """Targets as a checked n_out x n matrix (:mod:`symnet.targets`): one-hot
    columns for integer labels, or the rows of an (n, n_out) target matrix."""
    y = np.asarray(y)
    if y.shape[:1] != (n_samples,):
        raise ValueError(f"{name} has {y.shape[0] if y.ndim else 0} entries but there are "
                         f"{n_samples} samples")
    if y.ndim == 2:
        if y.shape[1] != n_out:
            raise ValueError(f"{name} has {y.shape[1]} targets per sample but the network has "
                             f"{n_out} outputs")
        y = y.T
    elif y.ndim != 1:
        raise ValueError(f"{name} must be 1-D labels or 2-D (samples x outputs) targets, got "
                         f"shape {y.shape}")
    return targets.labels_to_targets(name, kind, y, n_out, dtype)


def _classes(outputs: np.ndarray) -> np.ndarray:
    """Class index per column: argmax, or threshold 0.5 for a single output."""
    if outputs.shape[0] == 1:
        return (outputs[0] > 0.5).astype(np.int64)
    return np.argmax(outputs, axis=0)


# ------------------------------------------------------------------ fit


#: Samples per evaluation call with the NumPy backend. NumPy hands every
#: matmul to BLAS, and OpenBLAS runs products above about 2**20 multiply-adds
#: on all cores: for a small network (W1: 32 x 64 weights on 1437 samples) the
#: threads cost more than they save -- on a busy machine a thread waiting for a
#: core stalls the product (1 ms instead of 0.03 ms), and the spinning pool then
#: slows the next epoch's per-sample steps about twofold. Blocks this wide keep a
#: small network's products on one thread; a large one still uses all cores.
EVAL_BLOCK = 256


def _eval_blocks(X: np.ndarray, T: np.ndarray, backend: str) -> list[tuple[np.ndarray, ...]]:
    """The data set as contiguous column blocks for :func:`_evaluate`, cut once per fit."""
    if backend != "numpy" or X.shape[1] <= EVAL_BLOCK:
        return [(X, T)]
    return [(np.ascontiguousarray(X[:, s:s + EVAL_BLOCK]),
             np.ascontiguousarray(T[:, s:s + EVAL_BLOCK]))
            for s in range(0, X.shape[1], EVAL_BLOCK)]


def _evaluate(kernel: Kernel, blocks: list[tuple[np.ndarray, ...]], classes: np.ndarray,
              params: list[np.ndarray]) -> tuple[float, float]:
    """Mean loss and error rate over a data set's blocks; ``classes`` are its targets'."""
    if len(blocks) == 1:
        loss, out = kernel(*blocks[0], *params)
        return float(loss), float(np.mean(_classes(out) != classes))
    total, predicted = 0.0, []
    for X, T in blocks:
        loss, out = kernel(X, T, *params)
        total += float(loss) * X.shape[1]
        predicted.append(_classes(out))
    return total / classes.shape[0], float(np.mean(np.concatenate(predicted) != classes))


def _non_finite(train_loss: float, val_loss: float, params: list[np.ndarray],
                names: list[str]) -> str | None:
    """What went non-finite after an epoch, or None."""
    if not math.isfinite(train_loss):
        return f"the training loss is {train_loss}"
    if not math.isfinite(val_loss):
        return f"the validation loss is {val_loss}"
    for name, p in zip(names, params, strict=True):
        if not np.isfinite(p).all():
            return f"parameter {name} has non-finite entries"
    return None


def _learning_rate(schedule: Schedule | None, alpha: float, epoch: int) -> float:
    lr = alpha if schedule is None else schedule(epoch)
    try:
        lr = float(lr)
    except (TypeError, ValueError):
        raise TypeError(f"the learning rate must be a number, got {lr!r}") from None
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate must be positive and finite, got {lr} "
                         f"(epoch {epoch})")
    return lr


def fit(net: MLP, X, y, *, X_val=None, y_val=None, loss: str = "cross_entropy",
        lam: float = 1e-4, alpha: float = 0.1, epochs: int = 30, batch_size: int = 1,
        patience: int | None = 5, seed: int = 0, schedule: Schedule | None = None,
        backend: str = "numpy", dtype: str = "float64", progress: bool = True,
        callback: Callable[[History], None] | None = None,
        init: Mapping[str, np.ndarray] | None = None) -> FitResult:
    """Train ``net`` by stochastic gradient descent on the structural risk.

    ``X`` is (n_samples, n_features) (rows are samples; the kernels see
    columns), ``y`` integer class labels (one-hot targets are built) or an
    (n_samples, n_outputs) target matrix. The risk is mean ``loss`` +
    lam/2 sum ||W||_F^2 over weights (``lam`` a number); one kernel (risk and
    its gradient, batch size symbolic) is compiled for all batches.

    ``batch_size=1`` is Algorithm 4.1: weights ~ N(0, 1/fan_in) and zero
    biases from ``numpy.random.default_rng(seed)``, the training order
    reshuffled by that generator every epoch, and theta <- theta - lr * dR/dtheta
    after every sample. ``batch_size > 1`` is minibatch SGD (the last partial
    batch included). The learning rate is ``alpha``, or ``schedule(epoch)``
    for epochs 1, 2, ... when a schedule is given (see
    :func:`inverse_time_decay`, :func:`step_decay`).

    With validation data, the epoch with the lowest validation error is the
    best; training stops when it has not decreased for ``patience`` epochs
    (``patience=None``: never), and the best parameters are returned. Same
    seed, same trajectory. A non-finite loss or parameter ends training with
    :class:`DivergedError` (naming the epoch; its ``result`` holds the best
    finite parameters). ``callback(history)`` runs after every epoch;
    ``progress`` shows a tqdm bar. ``init`` gives starting values for some or
    all parameters (by name) instead of the random initialization.

    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(40, 2)); y = (X[:, 0] > 0).astype(int)
    >>> res = fit(MLP([2, 4, 2], 'tanh'), X, y, X_val=X, y_val=y, epochs=3, progress=False)
    >>> len(res.history), res.history.val_error[-1] < 0.2
    (3, True)
    """
    _check_loss(loss)
    if not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if patience is not None and (not isinstance(patience, int | np.integer) or patience < 1):
        raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    dtype = np.dtype(dtype)
    n_in, n_out = _io_sizes(net)
    X_tr = np.ascontiguousarray(_as_rows("X", X, n_in, dtype).T)
    targets.check_finite("X", X_tr)
    kind = targets.kind_of(net.labels(loss))
    T_tr = _targets("y", y, X_tr.shape[1], n_out, kind, dtype)
    b_tr, c_tr = _eval_blocks(X_tr, T_tr, backend), _classes(T_tr)
    validate = X_val is not None
    if validate:
        X_va = np.ascontiguousarray(_as_rows("X_val", X_val, n_in, dtype).T)
        targets.check_finite("X_val", X_va)
        T_va = _targets("y_val", y_val, X_va.shape[1], n_out, kind, dtype)
        b_va, c_va = _eval_blocks(X_va, T_va, backend), _classes(T_va)

    sgd = training_sgd(net, loss, lam, backend, dtype, batch_size)
    data = sgd.prepare(X_tr, T_tr)
    evaluate = _eval_kernel(net, loss, backend, dtype)
    rng = np.random.default_rng(seed)
    start_params = init_params(net, rng, dtype)
    if init is not None:
        start_params = {**start_params, **init}
    params = _param_list(net, start_params, dtype)
    names = [str(p) for p in net.params]
    n = X_tr.shape[1]

    history = History()
    best_epoch, best_error, best_params = 0, math.inf, [p.copy() for p in params]
    last_params = best_params  # without validation: the last finite epoch's
    stopped_early, since_best = False, 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * n, unit="sample", unit_scale=True, leave=callback is None)
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            lr = _learning_rate(schedule, alpha, epoch)
            order = rng.permutation(n)
            if bar is not None:
                bar.set_description(f"epoch {epoch}/{epochs}")
            sgd.epoch(data, None, order, batch_size, lr, params)
            if bar is not None:
                bar.update(n)
            train_loss, train_error = _evaluate(evaluate, b_tr, c_tr, params)
            val_loss = val_error = math.nan
            if validate:
                val_loss, val_error = _evaluate(evaluate, b_va, c_va, params)
            history._append(epoch=epoch, train_loss=train_loss, train_error=train_error,
                            val_loss=val_loss, val_error=val_error, lr=lr,
                            seconds=time.perf_counter() - start)
            bad = _non_finite(train_loss, val_loss if validate else 0.0, params, names)
            if bad is not None:
                if not validate:
                    best_params = last_params
                raise DivergedError(
                    f"training diverged in epoch {epoch}: {bad} (learning rate {lr:g}); "
                    f"try a smaller learning rate such as alpha={lr / 10:g}", epoch,
                    FitResult(dict(zip(names, best_params, strict=True)), history,
                              best_epoch, False, sgd))
            if not validate:
                last_params = [p.copy() for p in params]
            if bar is not None:
                bar.set_postfix(loss=f"{train_loss:.4f}",
                                val_error=f"{val_error:.4f}" if validate else "-")
            if callback is not None:
                callback(history)
            if not validate:
                best_epoch = epoch
                continue
            if val_error < best_error:
                best_epoch, best_error, since_best = epoch, val_error, 0
                best_params = [p.copy() for p in params]
            else:
                since_best += 1
                if patience is not None and since_best >= patience:
                    stopped_early = True
                    break
    finally:
        if bar is not None:
            bar.close()
    if validate:
        params = best_params
    return FitResult(dict(zip(names, params, strict=True)), history, best_epoch,
                     stopped_early, sgd)


# ------------------------------------------------------------------ prediction


def predict(net: MLP, params: Mapping[str, np.ndarray], X, *, backend: str = "numpy",
            dtype: str = "float64") -> np.ndarray:
    """Class index per row of ``X``: argmax of the output (softmax or several
    logistic units), or output > 0.5 for a single output unit.

    >>> net = MLP([2, 2], output='softmax')
    >>> p = {'W1': np.array([[1.0, 0.0], [0.0, 1.0]]), 'b1': np.zeros((2, 1))}
    >>> predict(net, p, [[3.0, 1.0], [0.0, 2.0]]).tolist()
    [0, 1]
    """
    n_in, _ = _io_sizes(net)
    X = _as_rows("X", X, n_in, np.dtype(dtype))
    (out,) = _predict_kernel(net, backend, dtype)(np.ascontiguousarray(X.T),
                                                  *_param_list(net, params, dtype))
    return _classes(out)


def accuracy(net: MLP, params: Mapping[str, np.ndarray], X, y, *, backend: str = "numpy",
             dtype: str = "float64") -> float:
    """Fraction of rows of ``X`` whose predicted class equals the label in ``y``.

    >>> net = MLP([2, 2], output='softmax')
    >>> p = {'W1': np.array([[1.0, 0.0], [0.0, 1.0]]), 'b1': np.zeros((2, 1))}
    >>> accuracy(net, p, [[3.0, 1.0], [0.0, 2.0]], [0, 0])
    0.5
    """
    pred = predict(net, params, X, backend=backend, dtype=dtype)
    y = np.asarray(y)
    if y.shape != pred.shape:
        raise ValueError(f"y has shape {y.shape}, expected one label per sample {pred.shape}")
    return float(np.mean(pred == y))


# ------------------------------------------------------------------ save / load


def _formula(net: MLP) -> str:
    # Dummy symbols (inside Elementwise lambdas) carry a process-global counter:
    # renumber them in order of appearance so the text is reproducible.
    text = sp.srepr(net.output_expr)
    seen: dict[str, int] = {}

    def renumber(m: re.Match) -> str:
        return f"dummy_index={seen.setdefault(m.group(1), len(seen))}"

    return re.sub(r"dummy_index=(\d+)", renumber, text)


def model_hash(net: MLP) -> str:
    """sha256 of the model's output formula (``srepr``) and its parameter names and shapes.

    >>> model_hash(MLP([4, 3, 2])) == model_hash(MLP([4, 3, 2]))
    True
    >>> model_hash(MLP([4, 3, 2])) == model_hash(MLP([4, 5, 2]))
    False
    """
    shapes = ";".join(f"{p}:{p.shape[0]}x{p.shape[1]}" for p in net.params)
    return hashlib.sha256(f"{_formula(net)}\n{shapes}".encode()).hexdigest()


def save_params(path: str | Path, net: MLP, params: Mapping[str, np.ndarray]) -> Path:
    """Write ``params`` to an .npz file with the model's hash; returns the path written.

    >>> import tempfile, os
    >>> net = MLP([2, 2], output='softmax')
    >>> p = init_params(net)
    >>> f = save_params(os.path.join(tempfile.mkdtemp(), 'net.npz'), net, p)
    >>> bool(np.array_equal(load_params(f, net)['W1'], p['W1']))
    True
    """
    arrays = _param_list(net, params, None)
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    np.savez(path, **{str(p): a for p, a in zip(net.params, arrays, strict=True)},
             **{_HASH_KEY: np.array(model_hash(net)), _FORMULA_KEY: np.array(_describe(net))})
    return path


def _describe(net: MLP) -> str:
    shapes = ", ".join(f"{p} {p.shape[0]}x{p.shape[1]}" for p in net.params)
    return f"{net.output_expr} [{shapes}]"


def load_params(path: str | Path, net: MLP) -> Params:
    """Read parameters written by :func:`save_params` for this model.

    Raises ValueError if the file was saved for a different model (another
    formula, or other parameter names or shapes).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a symnet parameter file ({exc})") from None
    if _HASH_KEY not in data:
        raise ValueError(f"{path}: not a symnet parameter file (no model hash)")
    if str(data[_HASH_KEY]) != model_hash(net):
        saved = str(data.get(_FORMULA_KEY, "an unknown model"))
        raise ValueError(f"{path} holds parameters of a different model: saved for {saved}, "
                         f"but this model is {_describe(net)}")
    return dict(zip([str(p) for p in net.params],
                    _param_list(net, data, None), strict=True))


# ------------------------------------------------------------------ plotting


def plot_history(history: History, path: str | Path) -> Path:
    """Write a PNG with the losses and the error rates per epoch (needs matplotlib).

    A dashed line marks the epoch with the lowest validation error.

    Raises ImportError naming ``pip install symnet[plot]`` if matplotlib is
    missing.
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install symnet[plot]") from None
    if not len(history):
        raise ValueError("the history is empty: nothing to plot")
    path = Path(path)
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax_loss, ax_err = fig.subplots(1, 2)
    ep = history.epoch
    ax_loss.plot(ep, history.train_loss, "o-", label="training")
    ax_err.plot(ep, history.train_error, "o-", label="training")
    if not all(math.isnan(v) for v in history.val_error):
        ax_loss.plot(ep, history.val_loss, "s-", label="validation")
        ax_err.plot(ep, history.val_error, "s-", label="validation")
        best = ep[int(np.nanargmin(history.val_error))]
        for ax in (ax_loss, ax_err):
            ax.axvline(best, color="gray", linestyle="--", linewidth=1,
                       label=f"best (epoch {best})")
    ax_loss.set(xlabel="epoch", ylabel="mean loss", title="loss")
    ax_err.set(xlabel="epoch", ylabel="error rate", title="classification error")
    for ax in (ax_loss, ax_err):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        ax.grid(alpha=0.3)
    fig.savefig(path, format="png", dpi=100)
    return path
