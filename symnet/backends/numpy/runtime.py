"""NumPy runtime forms: one stable function per head, named as the head."""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
from scipy.special import expit

__all__ = ["NAMESPACE"]

# ------------------------------------------------------------ stable runtime forms
# One function per head, named as the head: the printer emits ``logistic(x)``.
# A single ufunc where one does the job stably: on the small column vectors of
# per-sample SGD, NumPy's per-call overhead (about a microsecond) costs more
# than the arithmetic, so fewer calls is what counts.

#: Up to this many elements one scalar-loop ufunc (SciPy's expit, NumPy's
#: logaddexp) is fastest; beyond it their loops cost several times NumPy's
#: vectorized exp per element, and a few vectorized ufuncs win.
FEW = 256


def logistic(x):
    """1/(1 + exp(-x)), finite everywhere: exp(-x) overflowing to inf gives exactly 0.

    >>> logistic(np.array([-800.0, 0.0, 800.0], dtype=np.float32))
    array([0. , 0.5, 1. ], dtype=float32)
    """
    if getattr(x, "size", 1) <= FEW:
        return expit(x)
    e = np.exp(-x)
    e += 1.0
    return np.divide(1.0, e, out=e)


def softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): never overflows.

    >>> softplus(np.array([-800.0, 0.0, 800.0])).tolist()
    [0.0, 0.6931471805599453, 800.0]
    """
    if getattr(x, "size", 1) <= FEW:
        return np.logaddexp(0, x)  # the same sign-split form in one ufunc
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def relu(x):
    # One pass; NaN propagates and relu(-inf) = 0 (as in the LLVM backend).
    return np.maximum(x, 0.0)


def leaky_relu(x, gamma):
    return np.where(x > 0, x, gamma * x)


prelu = leaky_relu


def hard_logistic(x):
    # np.clip's Python wrapper costs more than these two ufuncs (same result, NaN included).
    return np.minimum(np.maximum(0.25 * x + 0.5, 0.0), 1.0)


def hard_tanh(x):
    return np.minimum(np.maximum(x, -1.0), 1.0)


def maxout(*xs):
    return reduce(np.maximum, xs)


def heaviside(x, h0):
    # Built from x's own dtype so float32 kernels stay float32.
    x = np.asarray(x)
    if h0 == 0:
        # ReLU's derivative: 1 where x > 0, else +0 (NaN too), in two passes.
        return (x > 0).astype(x.dtype)
    one = np.ones_like(x)
    return np.where(x > 0, one, np.where(x < 0, 0.0 * one, h0 * one))


def _column_max(z):
    """Max of each column, 0 where it is not finite: a column of -inf (or one
    holding +inf) would otherwise give inf - inf. The LLVM backend shifts alike."""
    if z.shape[1] == 1:
        # One column (per-sample SGD): a scalar max checked in Python costs
        # a third of the array-valued guard.
        m = np.maximum.reduce(z, axis=None)
        return m if math.isfinite(m) else 0.0
    m = np.maximum.reduce(z, axis=0, keepdims=True)
    return np.where(np.isfinite(m), m, 0.0)


def logsumexp(z):
    """log sum exp over each column (axis 0), max-shifted.

    >>> with np.errstate(divide="ignore"):  # log(0) in the all -inf column
    ...     logsumexp(np.array([[0.0, -np.inf], [np.log(3.0), -np.inf]])).tolist()
    [[1.3862943611198906, -inf]]
    """
    m = _column_max(z)
    return m + np.log(np.add.reduce(np.exp(z - m), axis=0, keepdims=True))


def softmax(z):
    """Softmax of each column (axis 0), max-shifted so exp never overflows.

    >>> softmax(np.array([[800.0], [800.0]], dtype=np.float32)).tolist()
    [[0.5], [0.5]]
    """
    e = np.exp(z - _column_max(z))
    return e / np.add.reduce(e, axis=0, keepdims=True)


def log_softmax(z):
    return z - logsumexp(z)


NAMESPACE: dict[str, object] = {
    "np": np,
    "logistic": logistic,
    "softplus": softplus,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "prelu": prelu,
    "hard_logistic": hard_logistic,
    "hard_tanh": hard_tanh,
    "maxout": maxout,
    "heaviside": heaviside,
    "logsumexp": logsumexp,
    "softmax": softmax,
    "log_softmax": log_softmax,
}
