"""The NumPy forms of the built-in rows (rows name them; the NumPy backend loads
this module, so ``import symnet`` does not pay for SciPy)."""

from __future__ import annotations

from functools import reduce

import numpy as np
import scipy.special as sc
from scipy.special import erf as _erf
from scipy.special import expit

#: Up to this many elements one scalar-loop ufunc (SciPy's expit, NumPy's
#: logaddexp) is fastest; beyond it their loops cost several times NumPy's
#: vectorized exp per element, and a few vectorized ufuncs win. On the small
#: column vectors of per-sample SGD, NumPy's per-call overhead (about a
#: microsecond) costs more than the arithmetic, so fewer calls is what counts.
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


def erf(x):
    # SciPy's ufunc keeps float32 as float32 and works on arrays (math.erf does not).
    return _erf(x)




erfc = sc.erfc
erfinv = sc.erfinv
gamma = sc.gamma
loggamma = sc.gammaln


def polygamma(n, x):
    x = np.asarray(x)
    out = sc.polygamma(int(n), x)
    return out.astype(x.dtype) if x.dtype.kind == "f" else out
