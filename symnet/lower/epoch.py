"""Epoch wiring: which buffers of a step program an SGD epoch feeds and updates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

__all__ = ["EpochData", "EpochSpec"]


@dataclass(frozen=True)
class EpochSpec:
    """What an epoch driver needs to know about the step program (both backends).

    >>> EpochSpec("X", "Y", sp.Symbol("m"), "loss", (("W", "W_new"),)).batch_size
    1
    """

    x: str                       # buffer of the step's input batch X (n_in x m)
    y: str                       # buffer of the step's labels Y (n_out x m)
    batch: sp.Symbol             # the batch dimension m
    loss: str | None             # buffer of the step's loss (1 x 1), if tracked
    updates: tuple[tuple[str, str], ...]  # (parameter buffer, its new value buffer)
    batch_size: int = 1          # the batch size the fast step is specialized for
    #: whether the driver may see batches of other sizes (the last partial batch, or a
    #: caller choosing the batch size at run time); False only for a caller that runs
    #: every batch at batch_size = 1, whose driver then needs no generic step
    any_batch: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "updates", tuple(tuple(u) for u in self.updates))

    @property
    def wanted(self) -> list[tuple[str, str]]:
        """(value, buffer) overwrites an epoch asks for: each new value in its parameter."""
        return [(new, param) for param, new in self.updates]


@dataclass
class EpochData:
    """A data set checked and laid out once for many epochs (columns are samples):
    feature-major ``X`` and ``Y`` for gathering batches, and sample-major
    aligned copies ``X_rows`` / ``Y_rows`` in which a sample is one
    contiguous row."""

    X: np.ndarray
    Y: np.ndarray
    X_rows: np.ndarray
    Y_rows: np.ndarray
    #: per epoch runner, the last arguments' kinds and shapes and the dims
    #: they bound (a later epoch with the same ones skips binding)
    bindings: dict = field(default_factory=dict, repr=False, compare=False)
