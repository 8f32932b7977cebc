"""Training results: the per-epoch history and what fit returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..sgd import SGD
from .params import Params


@dataclass
class History:
    """Per-epoch metrics; index i holds epoch i + 1.

    ``train_loss`` / ``val_loss`` are the mean loss (without the weight
    penalty) over the whole training / validation set after the epoch,
    ``train_error`` / ``val_error`` the fraction misclassified, ``lr`` the
    learning rate used in the epoch and ``seconds`` its wall time. Without
    validation data the ``val_*`` entries are NaN.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_error: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epoch)

    def row(self, i: int) -> dict[str, float]:
        """Metrics of the entry ``i`` (``-1`` for the latest epoch) as a dict."""
        return {name: getattr(self, name)[i] for name in _HISTORY_FIELDS}

    def _append(self, **values: float) -> None:
        for name in _HISTORY_FIELDS:
            getattr(self, name).append(values[name])


_HISTORY_FIELDS = ("epoch", "train_loss", "train_error", "val_loss", "val_error", "lr",
                   "seconds")


@dataclass
class FitResult:
    """What :func:`fit` returns.

    ``params`` maps parameter names (``W1``, ``b1``, ...) to arrays: the
    best-validation parameters when validation data was given, else the
    final ones. ``best_epoch`` is 1-based; ``stopped_early`` tells whether
    early stopping ended the run; ``sgd`` is the compiled SGD epoch.
    """

    params: Params
    history: History
    best_epoch: int
    stopped_early: bool
    sgd: SGD | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        """One line: parameter shapes and the run's outcome, never the arrays.

        >>> r = FitResult({"W1": np.zeros((3, 2)), "b1": np.zeros((3, 1))}, History(), 0, False)
        >>> r
        FitResult(params={W1: 3x2, b1: 3x1}, epochs=0, best_epoch=0, stopped_early=False)
        """
        shapes = ", ".join(f"{k}: {'x'.join(map(str, np.shape(v)))}"
                           for k, v in self.params.items())
        return (f"FitResult(params={{{shapes}}}, epochs={len(self.history)}, "
                f"best_epoch={self.best_epoch}, stopped_early={self.stopped_early})")

    @property
    def best_val_error(self) -> float:
        """Validation error at ``best_epoch`` (NaN without validation data)."""
        if not self.history.val_error:
            return math.nan
        return self.history.val_error[self.best_epoch - 1]
