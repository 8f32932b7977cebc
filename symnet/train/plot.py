"""Plotting a training history (matplotlib, an optional extra)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .history import History


def plot_history(history: History, path: str | Path) -> Path:
    """Write a PNG with the losses and the error rates per epoch (needs matplotlib).

    A dashed line marks the epoch with the lowest validation error.

    Raises ImportError naming ``pip install symnet[plot]`` if matplotlib is
    missing.
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install symnet[plot]") from None
    if not len(history):
        raise ValueError("the history is empty: nothing to plot")
    path = Path(path)
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax_loss, ax_err = fig.subplots(1, 2)
    ep = history.epoch
    ax_loss.plot(ep, history.train_loss, "o-", label="training")
    ax_err.plot(ep, history.train_error, "o-", label="training")
    if not all(math.isnan(v) for v in history.val_error):
        ax_loss.plot(ep, history.val_loss, "s-", label="validation")
        ax_err.plot(ep, history.val_error, "s-", label="validation")
        best = ep[int(np.nanargmin(history.val_error))]
        for ax in (ax_loss, ax_err):
            ax.axvline(best, color="gray", linestyle="--", linewidth=1,
                       label=f"best (epoch {best})")
    ax_loss.set(xlabel="epoch", ylabel="mean loss", title="loss")
    ax_err.set(xlabel="epoch", ylabel="error rate", title="classification error")
    for ax in (ax_loss, ax_err):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        ax.grid(alpha=0.3)
    fig.savefig(path, format="png", dpi=100)
    return path
