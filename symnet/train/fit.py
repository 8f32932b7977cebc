"""fit: Algorithm 4.1 and minibatch SGD with validation, early stopping and history."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import numpy as np

from .. import targets
from ..errors import DivergedError
from ..nn import MLP
from ..runtime import Kernel
from .checks import _as_rows, _classes, _io_sizes, _targets
from .history import FitResult, History
from .kernels import _check_loss, _eval_kernel, training_sgd
from .newton import fit_full_batch
from .params import _param_list, init_params
from .schedules import Schedule, _learning_rate

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


def _check_validation(patience, X_val, y_val) -> None:
    """The early-stopping options: a positive patience or None, both validation arrays
    or neither."""
    if patience is not None and (not isinstance(patience, int | np.integer) or patience < 1):
        raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")


def _eval_set(name: str, X, y, n_in: int, n_out: int, kind: str, dtype, backend: str,
              regression: bool) -> tuple[np.ndarray, np.ndarray, list, np.ndarray]:
    """A data set checked once (``name`` is X or X_val; its targets are y or y_val):
    its columns, targets, evaluation blocks and the reference of its error."""
    Xc = np.ascontiguousarray(_as_rows(name, X, n_in, dtype).T)
    targets.check_finite(name, Xc)
    T = _targets("y" + name[1:], y, Xc.shape[1], n_out, kind, dtype)
    return Xc, T, _eval_blocks(Xc, T, backend), T if regression else _classes(T)


def _evaluate(kernel: Kernel, blocks: list[tuple[np.ndarray, ...]], reference: np.ndarray,
              params: list[np.ndarray], regression: bool = False) -> tuple[float, float]:
    """Mean loss and error over a data set's blocks: the error rate against the
    class indices ``reference`` (classification), or the mean squared error
    of the outputs against the targets ``reference`` (regression)."""
    total, wrong, start = 0.0, 0.0, 0
    for X, T in blocks:
        loss, out = kernel(X, T, *params)
        total += float(loss) * X.shape[1]
        if regression:
            wrong += float(np.sum((np.asarray(out, np.float64) - T) ** 2)) / T.shape[0]
        else:
            wrong += float(np.sum(_classes(out) != reference[start:start + X.shape[1]]))
        start += X.shape[1]
        if len(blocks) == 1:  # the kernel's own mean, not re-rounded by * n / n
            return float(loss), wrong / start
    return total / start, wrong / start


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


def fit(net: MLP, X, y, *, X_val=None, y_val=None, loss: str | None = None,
        lam: float = 1e-4, alpha: float = 0.1, epochs: int = 30, batch_size: int = 1,
        patience: int | None = 5, seed: int = 0, schedule: Schedule | None = None,
        backend: str = "llvm", dtype: str = "float64", progress: bool = True,
        callback: Callable[[History], None] | None = None,
        init: Mapping[str, np.ndarray] | None = None, method: str = "sgd",
        curvature: str = "hessian", damping: float = 0.0, optimizer=None) -> FitResult:
    """Train ``net`` by stochastic gradient descent (or a full-batch
    second-order method) on the structural risk.

    ``X`` is (n_samples, n_features) (rows are samples; the kernels see
    columns), ``y`` integer class labels (one-hot targets are built), float
    targets (n_samples,) for a single-output regression, or an
    (n_samples, n_outputs) target matrix. The risk is mean ``loss`` (default:
    the output layer's, ``net.default_loss``) + lam/2 sum ||W||_F^2 over
    weights (``lam`` a number); one kernel (risk and its gradient, batch size
    symbolic) is compiled for all batches, by the LLVM backend unless
    ``backend="numpy"``. The history's errors are error rates for a
    classifier and mean squared errors (per output) for a regression
    (``net.task``: a linear output layer).

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

    ``optimizer`` names the update rules (:mod:`symnet.optim`: ``"sgd"``
    (default), ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``,
    ``"adam"``, ``"adamw"``) or is an :class:`~symnet.optim.Optimizer` of a
    user's own; they are compiled into the epoch with their state, which
    starts at zero.

    ``method="newton-cg"`` or ``"l-bfgs"`` trains full batch through
    ``scipy.optimize.minimize`` for at most ``epochs`` iterations (one
    history row each; ``alpha``, ``schedule`` and ``batch_size`` do not
    apply): every risk-and-gradient evaluation is one fused kernel call, and
    Newton-CG's curvature products come from the compiled
    forward-over-reverse kernel (``curvature="hessian"``) or the Gauss-Newton
    one (``"gauss-newton"``: Hessian-free optimisation), plus ``damping``
    times the direction. Early stopping works as for SGD.

    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(40, 2)); y = (X[:, 0] > 0).astype(int)
    >>> res = fit(MLP([2, 4, 2], 'tanh'), X, y, X_val=X, y_val=y, epochs=3, progress=False)
    >>> len(res.history), res.history.val_error[-1] < 0.2
    (3, True)
    """
    loss = loss or net.default_loss
    _check_loss(loss)
    if not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    _check_validation(patience, X_val, y_val)
    dtype = np.dtype(dtype)
    n_in, n_out = _io_sizes(net)
    kind = targets.kind_of(net.labels(loss))
    regression = net.task == "regression"
    X_tr, T_tr, b_tr, c_tr = _eval_set("X", X, y, n_in, n_out, kind, dtype, backend, regression)
    validate = X_val is not None
    if validate:
        _, _, b_va, c_va = _eval_set("X_val", X_val, y_val, n_in, n_out, kind, dtype, backend,
                                     regression)

    evaluate = _eval_kernel(net, loss, backend, dtype)
    rng = np.random.default_rng(seed)
    start_params = init_params(net, rng, dtype)
    if init is not None:
        start_params = {**start_params, **init}
    params = _param_list(net, start_params, dtype)
    names = [str(p) for p in net.params]
    n = X_tr.shape[1]

    def measure(ps):
        """(train loss, train error, val loss, val error); NaN without validation data."""
        tl, te = _evaluate(evaluate, b_tr, c_tr, ps, regression)
        vl = ve = math.nan
        if validate:
            vl, ve = _evaluate(evaluate, b_va, c_va, ps, regression)
        return tl, te, vl, ve

    if method != "sgd":
        return fit_full_batch(net, X_tr, T_tr, params, method=method, curvature=curvature,
                              damping=damping, loss=loss, lam=lam, iterations=epochs,
                              backend=backend, dtype=dtype, evaluate=measure,
                              patience=patience, validate=validate, names=names,
                              progress=progress, callback=callback)
    sgd = training_sgd(net, loss, lam, backend, dtype, batch_size, optimizer)
    sgd.reset_state()
    data = sgd.prepare(X_tr, T_tr)

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
            train_loss, train_error, val_loss, val_error = measure(params)
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
