"""Learning-rate schedules: alpha as a function of the epoch."""

from __future__ import annotations

import math
from collections.abc import Callable

Schedule = Callable[[int], float]


def inverse_time_decay(alpha0: float, k: float) -> Schedule:
    """Learning rate alpha0 / (1 + k (epoch - 1)): alpha0 in epoch 1, then decaying.

    >>> lr = inverse_time_decay(0.1, 1.0)
    >>> [round(lr(e), 4) for e in (1, 2, 3)]
    [0.1, 0.05, 0.0333]
    """
    def schedule(epoch: int) -> float:
        return alpha0 / (1.0 + k * (epoch - 1))

    return schedule


def step_decay(alpha0: float, drop: float = 0.5, every: int = 10) -> Schedule:
    """Learning rate alpha0 * drop ** floor((epoch - 1) / every): a staircase.

    >>> lr = step_decay(0.1, drop=0.5, every=2)
    >>> [lr(e) for e in (1, 2, 3, 4, 5)]
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """
    if every < 1:
        raise ValueError(f"every must be a positive number of epochs, got {every}")

    def schedule(epoch: int) -> float:
        return alpha0 * drop ** ((epoch - 1) // every)

    return schedule


def _learning_rate(schedule: Schedule | None, alpha: float, epoch: int) -> float:
    lr = alpha if schedule is None else schedule(epoch)
    try:
        lr = float(lr)
    except (TypeError, ValueError):
        raise TypeError(f"the learning rate must be a number, got {lr!r}") from None
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate must be positive and finite, got {lr} "
                         f"(epoch {epoch})")
    return lr
