"""Rows of the column ops: softmax, log_softmax and logsumexp over each column."""

from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..graph import VARS
from . import ColumnOp, register_column


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
    """z - logsumexp(z) over each column, formed as (z - max) - log sum: the
    shifted values are exact near the max, where z - (max + log sum) would
    round log sum to the spacing of max (0.008 at 1e5 in float32).

    >>> round(float(log_softmax(np.array([[1e5], [1e5 - 0.5]], np.float32))[0, 0]), 6)
    -0.474077
    """
    m = _column_max(z)
    shifted = z - m
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis=0, keepdims=True))


# ---------------------------------------------------------------- derivative rules
# Reverse mode: (graph, node id, node, upstream gradient G) -> [(arg position, contribution)].


def _rule_logsumexp(g, i, n, G):
    (z,) = n.args
    s = g.column_op("softmax", z)
    return [(0, g.ew(VARS[0] * VARS[1], [s, G], g.shape(z)))]


def _rule_softmax(g, i, n, G):
    (z,) = n.args
    dot = g.reduce(g.ew(VARS[0] * VARS[1], [i, G]), 0)
    return [(0, g.ew(VARS[0] * (VARS[1] - VARS[2]), [i, G, dot], g.shape(z)))]


def _rule_log_softmax(g, i, n, G):
    (z,) = n.args
    s = g.column_op("softmax", z)
    total = g.reduce(G, 0)
    return [(0, g.ew(VARS[0] - VARS[1] * VARS[2], [G, s, total], g.shape(z)))]


# Forward mode: (graph, node id, node, tangent t of z) -> the node's tangent.
# With s = softmax(z) and <s, t> the column dot product:
# R{softmax} = s (t - <s, t>), R{log_softmax} = t - <s, t>, R{logsumexp} = <s, t>.


def _dot_s(g, z, t, s=None):
    s = g.column_op("softmax", z) if s is None else s
    return s, g.reduce(g.ew(VARS[0] * VARS[1], [s, t], g.shape(z)), 0)


def _fwd_softmax(g, i, n, t):
    s, dot = _dot_s(g, n.args[0], t, i)
    return g.ew(VARS[0] * (VARS[1] - VARS[2]), [s, t, dot], n.shape)


def _fwd_log_softmax(g, i, n, t):
    _, dot = _dot_s(g, n.args[0], t)
    return g.ew(VARS[0] - VARS[1], [t, dot], n.shape)


def _fwd_logsumexp(g, i, n, t):
    return _dot_s(g, n.args[0], t)[1]


# The compiled form: one pass finds each column's max (the shift), one sums
# exp(z - shift); ``finish`` then gives each output value from thunks of
# the entry's z, the stored exp, the shift and the sum.
register_column(ColumnOp(ops.softmax, "softmax", softmax, _rule_softmax, keeps_exp=True,
                         finish=lambda b, z, e, m, s: b.div(e(), s()), forward=_fwd_softmax))
def _finish_log_softmax(b, z, e, m, s):
    # (z - max) - log sum, as the NumPy form: exact near the max at any scale.
    return b.sub(b.sub(z(), m()), b.routine("log", s()))


register_column(ColumnOp(ops.log_softmax, "log_softmax", log_softmax, _rule_log_softmax,
                         finish=_finish_log_softmax, forward=_fwd_log_softmax))
register_column(ColumnOp(ops.logsumexp, "logsumexp", logsumexp, _rule_logsumexp,
                         reduces=True, forward=_fwd_logsumexp,
                         finish=lambda b, z, e, m, s: b.add(m(), b.routine("log", s()))))
