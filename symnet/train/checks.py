"""Data checks: samples-as-rows arrays and targets, checked once per data set."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .. import targets
from ..nn import MLP


def _io_sizes(net: MLP) -> tuple[int, int]:
    """Number of inputs n_0 and of outputs n_L (integers): the rows of X and Y."""
    dims = [sp.sympify(net.X.shape[0]), sp.sympify(net.labels(net.default_loss).shape[0])]
    if not all(d.is_Integer for d in dims):
        raise ValueError(f"training needs integer input and output sizes, got {dims[0]} and "
                         f"{dims[1]}")
    return int(dims[0]), int(dims[1])


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
