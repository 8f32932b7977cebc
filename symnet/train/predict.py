"""Prediction and accuracy of a trained network."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..nn import MLP
from .checks import _as_rows, _classes, _io_sizes
from .kernels import _predict_kernel
from .params import _param_list


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
