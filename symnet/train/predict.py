"""Prediction and accuracy of a trained network."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..nn import MLP
from .checks import _as_rows, _classes, _io_sizes
from .kernels import _predict_kernel
from .params import _param_list


def _outputs(net: MLP, params: Mapping[str, np.ndarray], X, backend: str, dtype: str
             ) -> np.ndarray:
    n_in, _ = _io_sizes(net)
    X = _as_rows("X", X, n_in, np.dtype(dtype))
    (out,) = _predict_kernel(net, backend, dtype)(np.ascontiguousarray(X.T),
                                                  *_param_list(net, params, dtype))
    return np.asarray(out)


def predict(net: MLP, params: Mapping[str, np.ndarray], X, *, backend: str = "llvm",
            dtype: str = "float64") -> np.ndarray:
    """Per row of ``X``: for a classifier, the class index (argmax of the
    output, or output > 0.5 for a single output unit); for a regression
    (``net.task``, a linear output layer), the outputs themselves -- shape
    (n_samples,) for one output, else (n_samples, n_outputs).

    >>> net = MLP([2, 2], output='softmax')
    >>> p = {'W1': np.array([[1.0, 0.0], [0.0, 1.0]]), 'b1': np.zeros((2, 1))}
    >>> predict(net, p, [[3.0, 1.0], [0.0, 2.0]]).tolist()
    [0, 1]
    >>> reg = MLP([2, 1], output='linear')
    >>> predict(reg, {'W1': np.array([[1.0, -1.0]]), 'b1': np.ones((1, 1))}, [[3.0, 1.0]])
    array([3.])
    """
    out = _outputs(net, params, X, backend, dtype)
    if net.task == "regression":
        return out[0].copy() if out.shape[0] == 1 else np.ascontiguousarray(out.T)
    return _classes(out)


def predict_proba(net: MLP, params: Mapping[str, np.ndarray], X, *, backend: str = "llvm",
                  dtype: str = "float64") -> np.ndarray:
    """Class probabilities per row of ``X``, (n_samples, n_classes): the softmax
    outputs, or [1 - p, p] for a single logistic unit (several logistic units:
    each unit's own probability).

    >>> net = MLP([2, 1], output='logistic')
    >>> p = {'W1': np.array([[1.0, 0.0]]), 'b1': np.zeros((1, 1))}
    >>> predict_proba(net, p, [[0.0, 5.0]]).tolist()
    [[0.5, 0.5]]
    """
    if net.task != "classification":
        raise ValueError(f"predict_proba needs a classifier; this network's {net.output} "
                         "output is a regression (use predict)")
    out = _outputs(net, params, X, backend, dtype)
    if out.shape[0] == 1:
        return np.ascontiguousarray(np.vstack([1.0 - out[0], out[0]]).T)
    return np.ascontiguousarray(out.T)


def accuracy(net: MLP, params: Mapping[str, np.ndarray], X, y, *, backend: str = "llvm",
             dtype: str = "float64") -> float:
    """Fraction of rows of ``X`` whose predicted class equals the label in ``y``.

    >>> net = MLP([2, 2], output='softmax')
    >>> p = {'W1': np.array([[1.0, 0.0], [0.0, 1.0]]), 'b1': np.zeros((2, 1))}
    >>> accuracy(net, p, [[3.0, 1.0], [0.0, 2.0]], [0, 0])
    0.5
    """
    if net.task != "classification":
        raise ValueError("accuracy is for classifiers; for a regression use r2_score or "
                         "mean_squared_error")
    pred = predict(net, params, X, backend=backend, dtype=dtype)
    y = np.asarray(y)
    if y.shape != pred.shape:
        raise ValueError(f"y has shape {y.shape}, expected one label per sample {pred.shape}")
    return float(np.mean(pred == y))


def mean_squared_error(net: MLP, params: Mapping[str, np.ndarray], X, y, *,
                       backend: str = "llvm", dtype: str = "float64") -> float:
    """Mean over samples and outputs of (prediction - y)^2 for a regression.

    >>> reg = MLP([1, 1], output='linear')
    >>> p = {'W1': np.array([[2.0]]), 'b1': np.zeros((1, 1))}
    >>> mean_squared_error(reg, p, [[1.0], [2.0]], [2.0, 5.0])
    0.5
    """
    pred = predict(net, params, X, backend=backend, dtype=dtype)
    y = np.asarray(y, dtype=np.float64).reshape(pred.shape)
    return float(np.mean((pred - y) ** 2))


def r2_score(net: MLP, params: Mapping[str, np.ndarray], X, y, *, backend: str = "llvm",
             dtype: str = "float64") -> float:
    """The coefficient of determination 1 - SS_res / SS_tot of a regression
    (averaged over outputs).

    >>> reg = MLP([1, 1], output='linear')
    >>> p = {'W1': np.array([[2.0]]), 'b1': np.zeros((1, 1))}
    >>> r2_score(reg, p, [[1.0], [2.0], [3.0]], [2.0, 4.0, 6.0])
    1.0
    """
    pred = predict(net, params, X, backend=backend, dtype=dtype)
    y = np.asarray(y, dtype=np.float64).reshape(pred.shape)
    y2, p2 = y.reshape(len(y), -1), pred.reshape(len(y), -1)
    ss_res = np.sum((y2 - p2) ** 2, axis=0)
    ss_tot = np.sum((y2 - y2.mean(axis=0)) ** 2, axis=0)
    return float(np.mean(1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0)))
