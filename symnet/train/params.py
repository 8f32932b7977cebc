"""Parameters: shapes, initialization, and arrays in the kernels' order."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import sympy as sp

from .. import aligned
from ..nn import MLP

Params = dict[str, np.ndarray]


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
    (or from the given Generator) in layer order. A :class:`symnet.Model`:
    its ``weights`` ~ N(0, 1/fan_in), the other parameters 0, then whatever
    its ``init(rng)`` returns.

    >>> p = init_params(MLP([4, 3, 2], 'prelu'), seed=0)
    >>> {k: v.shape for k, v in p.items()}
    {'W1': (3, 4), 'b1': (3, 1), 'g1': (3, 1), 'W2': (2, 3), 'b2': (2, 1)}
    >>> float(p['g1'][0, 0]), float(abs(p['b2']).max())
    (0.25, 0.0)
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    weights = set(net.weights)
    gammas = {layer.gamma for layer in getattr(net, "layers", ()) if layer.gamma is not None}
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
    custom = getattr(net, "init", None)
    if callable(custom):  # a symnet.Model's own initial values, by name
        for name, value in custom(rng).items():
            if name not in params:
                raise ValueError(f"init gives {name!r}, which is not a parameter of the model")
            value = np.asarray(value, dtype=dtype)
            if value.shape != params[name].shape:
                raise ValueError(f"init gives {name} the shape {value.shape}, the model needs "
                                 f"{params[name].shape}")
            params[name] = value
    return params


def _param_list(net: MLP, params: Mapping[str, np.ndarray], dtype) -> list[np.ndarray]:
    names = [str(p) for p in net.params]
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"missing parameter(s) {', '.join(missing)}; the model has "
                         f"{', '.join(names)}")
    out = []
    for p in net.params:
        arr = np.asarray(params[str(p)], dtype=dtype)
        shape = _concrete_shape(p)
        if arr.shape != shape:
            raise ValueError(f"parameter {p} has shape {arr.shape}, the model needs {shape}")
        # A fresh cache-line aligned copy: the native epoch updates it in place
        # without an aligned working copy per epoch.
        mine = aligned.empty(shape, dtype)
        mine[...] = arr
        out.append(mine)
    return out
