"""Full-batch training by Newton-CG (Hessian or Gauss-Newton) and L-BFGS, through SciPy.

``scipy.optimize.minimize`` drives the iterations; every evaluation of the
risk and its gradient is one call of the fused compiled kernel over the
whole training set, and Newton-CG's Hessian-vector products are calls of
the compiled forward-over-reverse (or Gauss-Newton) product kernel. Nothing
n x n is formed. With ``curvature="gauss-newton"`` Newton-CG is
Hessian-free optimisation in Martens' (2010) sense: CG on the positive
semi-definite G + damping * I.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from ..curvature import FlatParams
from ..errors import DivergedError
from ..nn import MLP
from .history import FitResult, History
from .kernels import training_curvature, training_kernel

#: The full-batch methods and SciPy's name for each.
METHODS = {"newton-cg": "Newton-CG", "l-bfgs": "L-BFGS-B"}

#: The curvature products Newton-CG can use.
CURVATURES = ("hessian", "gauss-newton")


def fit_full_batch(net: MLP, X: np.ndarray, T: np.ndarray, params: list[np.ndarray], *,
                   method: str, curvature: str, damping: float, loss: str, lam: float,
                   iterations: int, backend: str, dtype,
                   evaluate: Callable[[list[np.ndarray]], tuple[float, float, float, float]],
                   patience: int | None, validate: bool, names: list[str],
                   progress: bool, callback) -> FitResult:
    """Run ``method`` from ``params`` (columns of ``X`` and ``T`` are samples).

    ``evaluate(params)`` gives (train loss, train error, val loss, val error)
    after each iteration; the history holds one row per iteration (``lr`` is
    NaN: these methods choose their own steps).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from sgd, {', '.join(METHODS)}")
    if curvature not in CURVATURES:
        raise ValueError(f"unknown curvature {curvature!r}; choose from "
                         f"{', '.join(CURVATURES)}")
    if not (isinstance(damping, int | float) and math.isfinite(damping) and damping >= 0):
        raise ValueError(f"damping must be a finite number >= 0, got {damping!r}")
    step = training_kernel(net, loss, lam, backend, dtype)
    flat = FlatParams([p.shape for p in params], dtype)
    memo: dict[bytes, tuple[float, np.ndarray]] = {}

    def fun(x):
        key = x.tobytes()
        if key not in memo:
            memo.clear()
            out = step(X, T, *flat.split(x))
            memo[key] = float(out[0]), flat.join(out[1:])
        return memo[key]

    hessp = None
    if method == "newton-cg":
        product = training_curvature(net, loss, lam, curvature, backend, dtype)

        def hessp(x, p):
            return flat.join(product(X, T, *flat.split(x), *flat.split(p))) + damping * p

    history = History()
    best = {"epoch": 0, "error": math.inf, "params": [p.copy() for p in params]}
    state = {"since": 0, "stopped": False, "start": time.perf_counter(), "diverged": None}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=iterations, unit="it", leave=callback is None)

    def after(intermediate_result):
        x = intermediate_result.x
        k = len(history) + 1
        current = flat.split(x)
        tl, te, vl, ve = evaluate(current)
        now = time.perf_counter()
        history._append(epoch=k, train_loss=tl, train_error=te, val_loss=vl, val_error=ve,
                        lr=math.nan, seconds=now - state["start"])
        state["start"] = now
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{tl:.4f}", val_error=f"{ve:.4f}" if validate else "-")
        if not (math.isfinite(tl) and all(np.isfinite(p).all() for p in current)):
            state["diverged"] = k
            raise StopIteration
        if callback is not None:
            callback(history)
        if not validate or ve < best["error"]:
            best.update(epoch=k, error=ve if validate else math.inf,
                        params=[p.copy() for p in current])
            state["since"] = 0
        else:
            state["since"] += 1
            if patience is not None and state["since"] >= patience:
                state["stopped"] = True
                raise StopIteration

    # Imported here: scipy.optimize costs ~0.3 s, which SGD training never needs.
    from scipy.optimize import minimize

    try:
        minimize(fun, flat.join(params), jac=True, hessp=hessp, method=METHODS[method],
                 callback=after, options={"maxiter": iterations})
    finally:
        if bar is not None:
            bar.close()
    if state["diverged"] is not None:
        raise DivergedError(f"{method} diverged in iteration {state['diverged']}: the loss or "
                            "a parameter is not finite; try a larger damping", state["diverged"],
                            FitResult(dict(zip(names, best["params"], strict=True)), history,
                                      best["epoch"], False, None))
    return FitResult(dict(zip(names, best["params"], strict=True)), history, best["epoch"],
                     state["stopped"], None)
