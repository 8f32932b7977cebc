"""Vanishing gradients: gradient norms per layer of deep networks."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy as sp

from ..api import compile_grad
from ..nn import MLP
from ..train import init_params
from .tables import _table


def layer_gradient_norms(depth: int, width: int, activation: str | sp.Lambda = "logistic",
                         seed: int = 0, samples: int = 100, classes: int = 10) -> np.ndarray:
    """Frobenius norms ‖∂R/∂W⁽ˡ⁾‖ for l = 1 .. depth + 1 of a deep MLP at initialization.

    The network has ``depth`` hidden layers of ``width`` units with
    ``activation`` (a name or a SymPy Lambda), ``width`` inputs and a
    softmax output over ``classes``; R is the mean cross-entropy (no
    penalty). Its gradient is compiled with :func:`symnet.compile_grad` and
    evaluated at weights ~ N(0, 1/fan_in), zero biases
    (:func:`symnet.train.init_params`), on ``samples`` N(0, 1) inputs with
    random labels, all drawn from ``numpy.random.default_rng(seed)``.
    Entry l - 1 belongs to layer l; the last one is the output layer.

    >>> norms = layer_gradient_norms(3, 8, 'logistic')
    >>> norms.shape, bool(norms[0] < norms[-1])
    ((4,), True)
    """
    if not isinstance(depth, int | np.integer) or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    for name, v in (("width", width), ("samples", samples), ("classes", classes)):
        if not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    net = MLP([width] * (depth + 1) + [classes], [activation] * depth, output="softmax")
    loss = net.loss("cross_entropy")
    step = compile_grad(loss, net.weights, [net.X, net.labels(), *net.params],
                        name="layer_gradients")
    rng = np.random.default_rng(seed)
    params = init_params(net, rng)
    X = rng.standard_normal((width, samples))
    y = rng.integers(classes, size=samples)
    outs = step(X, y, *[params[str(p)] for p in net.params])
    return np.array([float(np.linalg.norm(g)) for g in outs[1:]])


@dataclass
class GradientNormReport:
    """Per-layer gradient norms of equally initialized deep MLPs, one entry
    per activation (section 4.6.2). Print it for the side-by-side table."""

    depth: int
    width: int
    norms: dict[str, np.ndarray]

    def ratio(self, activation: str) -> float:
        """‖∂R/∂W⁽¹⁾‖ / ‖∂R/∂W⁽ᴸ⁾‖: first layer relative to the output layer."""
        n = self.norms[activation]
        return float(n[0] / n[-1])

    def __str__(self) -> str:
        acts = list(self.norms)
        L = self.depth + 1
        head = (f"‖∂R/∂W⁽ˡ⁾‖_F at initialization: {self.depth} hidden layers of {self.width} "
                f"units, weights ~ N(0, 1/fan_in)")
        rows = []
        for l in range(L):
            tag = " (output)" if l == L - 1 else ""
            rows.append([f"{l + 1}{tag}", *[f"{self.norms[a][l]:.3e}" for a in acts]])
        rows.append(["first/last", *[f"{self.ratio(a):.1e}" for a in acts]])
        note = ("The logistic derivative is at most 1/4, so every layer multiplies the "
                "backpropagated δ by ≤ 1/4 · ‖W‖: early layers barely learn. "
                "ReLU passes δ unchanged where units are active.")
        return "\n".join([head, "", _table(["layer", *acts], rows), "",
                          textwrap.fill(note, 90)])


def vanishing_gradient_report(depth: int = 10, width: int = 32,
                              activations: Sequence[str | sp.Lambda] = ("logistic", "relu"),
                              seed: int = 0, samples: int = 100) -> GradientNormReport:
    """Per-layer gradient norms of the same deep MLP with each activation.

    Returns a :class:`GradientNormReport`; ``print`` it for logistic vs
    ReLU side by side. Both networks see the same inputs and labels, drawn
    from ``seed`` (see :func:`layer_gradient_norms`).

    >>> r = vanishing_gradient_report(depth=4, width=8)
    >>> r.ratio('logistic') < r.ratio('relu')
    True
    """
    norms = {str(a): layer_gradient_norms(depth, width, a, seed=seed, samples=samples)
             for a in activations}
    return GradientNormReport(depth, width, norms)


def plot_gradient_norms(report: GradientNormReport | Mapping[str, Sequence[float]],
                        path: str | Path) -> Path:
    """Write a PNG of gradient norm per layer (log scale), one line per activation.

    ``report`` is a :class:`GradientNormReport` or a mapping from a label to
    the norms of layers 1, 2, .... Needs matplotlib: raises ImportError
    naming ``pip install symnet[plot]`` if it is missing. Returns the path.
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install symnet[plot]") from None
    norms = report.norms if isinstance(report, GradientNormReport) else dict(report)
    if not norms:
        raise ValueError("no gradient norms to plot")
    path = Path(path)
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for label, values in norms.items():
        values = np.asarray(values, dtype=float)
        ax.semilogy(np.arange(1, len(values) + 1), values, "o-", label=label)
    ax.set(xlabel="layer $l$", ylabel=r"$\|\partial R / \partial W^{(l)}\|_F$",
           title="gradient norm per layer at initialization")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.savefig(path, format="png", dpi=100)
    return path
