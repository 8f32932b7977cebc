"""Training targets, checked once per data set: labels, one-hot columns, binary targets.

A label symbol says what its values may be (see :mod:`symnet.ops`):

=============== ========================================================
symbol          accepted values (samples are columns)
=============== ========================================================
``OneHot``      one-hot columns, or soft targets: non-negative columns
                that each sum to 1 (tolerance 1e-6, 1e-4 in float32);
                or a 1-D vector of integer class labels 0..rows-1
``BinaryLabels`` entries in [0, 1] (0/1 labels, or soft targets such as
                0.9); a 1-D vector for one output row
other           any finite numbers
=============== ========================================================

Every kind must be finite. Integer labels must be whole numbers (``2.0``
is the label 2; ``2.5`` is an error, never truncated) and in range (``-1``
is an error, never the last class).

>>> import numpy as np
>>> onehot_from_labels("y", np.array([2, 0]), 3).tolist()
[[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]]
>>> onehot_from_labels("y", np.array([0, -1]), 3)
Traceback (most recent call last):
...
ValueError: y: class labels must lie in 0..2, got -1 at sample 1
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from . import ops

__all__ = ["KINDS", "check_targets", "kind_of", "labels_to_targets", "onehot_from_labels"]

#: Target kinds, from the label symbol's class.
KINDS = ("onehot", "binary", "real")


def kind_of(symbol: sp.Basic) -> str:
    """The kind of targets a label symbol takes.

    >>> kind_of(ops.OneHot('Y', 3, 5)), kind_of(ops.BinaryLabels('Y', 1, 5))
    ('onehot', 'binary')
    >>> kind_of(sp.MatrixSymbol('Y', 2, 5))
    'real'
    """
    if isinstance(symbol, ops.OneHot):
        return "onehot"
    if isinstance(symbol, ops.BinaryLabels):
        return "binary"
    return "real"


def _first_bad(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _where(index: tuple[int, ...]) -> str:
    return f"sample {index[0]}" if len(index) == 1 else f"row {index[0]}, sample {index[1]}"


def check_finite(name: str, values: np.ndarray) -> None:
    """ValueError naming the first NaN or infinite entry of ``values``."""
    bad = ~np.isfinite(values)
    if bad.any():
        at = _first_bad(bad)
        raise ValueError(f"{name}: NaN and infinite values are not allowed, got "
                         f"{values[at]} at {_where(at)}")


def _integer_labels(name: str, labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name}: class labels must be a 1-D array, got shape {labels.shape}")
    if labels.dtype.kind == "b":
        return labels.astype(np.int64)
    if labels.dtype.kind in "iu":
        return labels.astype(np.int64, copy=False)
    if labels.dtype.kind != "f":
        raise TypeError(f"{name}: class labels must be integers, got dtype {labels.dtype}")
    check_finite(name, labels)
    frac = (labels != np.round(labels)) | (np.abs(labels) > 2 ** 53)
    if frac.any():
        at = _first_bad(frac)
        raise ValueError(f"{name}: class labels must be whole numbers, got {labels[at]} at "
                         f"{_where(at)}")
    return labels.astype(np.int64)


def onehot_from_labels(name: str, labels: np.ndarray, classes: int,
                       dtype=np.float64) -> np.ndarray:
    """The classes x n one-hot matrix of integer labels 0..classes-1 (checked)."""
    labels = _integer_labels(name, labels)
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        at = _first_bad(bad)
        raise ValueError(f"{name}: class labels must lie in 0..{classes - 1}, got "
                         f"{labels[at]} at {_where(at)}")
    out = np.zeros((classes, labels.shape[0]), dtype=dtype)
    out[labels, np.arange(labels.shape[0])] = 1.0
    return out


def _plainly_valid(kind: str, Y: np.ndarray) -> bool:
    """Whether ``Y`` passes :func:`check_targets`, decided with two reductions
    (a kernel called in a loop checks its targets on every call): NaN and
    infinities fail the bounds or the column sums, so a True here is exactly
    an acceptance there; a False only sends ``Y`` through the full checks,
    which say what is wrong."""
    if Y.ndim != 2 or Y.size == 0 or kind == "real":
        return False
    lo = Y.min()
    if kind == "binary":
        return bool(lo >= 0) and bool(Y.max() <= 1)
    if kind != "onehot" or not lo >= 0:
        return False
    tol = _sum_tolerance(Y)
    sums = Y.sum(axis=0)
    if sums.size <= 16:
        return all(abs(v - 1) <= tol for v in sums.tolist())
    return bool((np.abs(sums - 1) <= tol).all())


def _sum_tolerance(Y: np.ndarray) -> float:
    """How far from 1 a one-hot column's sum may be: its dtype's rounding."""
    return 1e-6 if Y.dtype == np.float64 else 1e-4


def check_targets(name: str, kind: str, Y: np.ndarray) -> None:
    """Check a whole target matrix (rows x samples) against its kind.

    >>> check_targets("Y", "onehot", np.eye(3))
    >>> check_targets("Y", "onehot", np.array([[0.5], [0.25]]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: Y: one-hot targets need columns that each sum to 1 ... column 0 sums to 0.75...
    """
    if kind not in KINDS:
        raise ValueError(f"unknown target kind {kind!r}")
    if not _plainly_valid(kind, Y):
        _check_each(name, kind, Y)


def _check_each(name: str, kind: str, Y: np.ndarray) -> None:
    """The checks of :func:`check_targets` one by one, each with its message."""
    check_finite(name, Y)
    if kind == "binary":
        bad = (Y < 0) | (Y > 1)
        if bad.any():
            at = _first_bad(bad)
            raise ValueError(f"{name}: binary targets must lie in [0, 1] (0/1 labels or "
                             f"probabilities), got {Y[at]:g} at {_where(at)}")
    elif kind == "onehot":
        neg = Y < 0
        if neg.any():
            at = _first_bad(neg)
            raise ValueError(f"{name}: one-hot targets must be non-negative, got {Y[at]:g} at "
                             f"{_where(at)}")
        sums = Y.sum(axis=0)
        off = np.abs(sums - 1) > _sum_tolerance(Y)
        if off.any():
            j = int(np.argmax(off))
            raise ValueError(f"{name}: one-hot targets need columns that each sum to 1 (a "
                             f"one-hot column or a distribution); column {j} sums to "
                             f"{sums[j]:g}; pass integer labels or one-hot columns")


def labels_to_targets(name: str, kind: str, Y, rows: int | None, dtype=np.float64
                      ) -> np.ndarray:
    """``Y`` as a checked rows x samples float matrix of this kind.

    A 1-D ``Y`` is class labels 0..rows-1 (one-hot columns) when there are
    several rows, and the targets themselves for one output row (binary
    ones must be 0 or 1, or probabilities in [0, 1]).

    >>> labels_to_targets("y", "binary", np.array([0, 1, 1]), 1).tolist()
    [[0.0, 1.0, 1.0]]
    >>> labels_to_targets("y", "binary", np.array([0, 2]), 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: y: binary targets must lie in [0, 1] ..., got 2 at row 0, sample 1
    """
    Y = np.asarray(Y)
    if Y.dtype == object or Y.dtype.kind not in "biuf":
        raise TypeError(f"{name}: targets must be numbers, got dtype {Y.dtype}")
    if Y.ndim == 1:
        if rows is None and kind == "onehot":
            raise ValueError(f"{name}: integer labels need a known number of classes")
        if rows is not None and rows > 1:
            return onehot_from_labels(name, Y, rows, dtype)
        Y = Y.reshape(1, -1)
    if Y.ndim != 2:
        raise ValueError(f"{name}: targets must be 1-D labels or a 2-D matrix, got shape "
                         f"{Y.shape}")
    out = np.ascontiguousarray(Y, dtype=dtype)
    check_targets(name, kind, out)
    return out
