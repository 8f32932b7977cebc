"""Model: any declared network (inputs, targets, parameters, prediction, loss) that fit trains.

``fit``, early stopping, the history, ``predict``, ``save_params`` /
``load_params`` (with the formula hash), the CLI's ``--model
module:function`` and the native whole-epoch path read a model through the
same few members as :class:`symnet.nn.MLP`, which is one instance of the
idea: ``X``, ``params``, ``weights``, ``output_expr``, ``labels()``,
``loss()``, ``risk()``, ``default_loss`` and ``task``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import ops

__all__ = ["MODEL_LOSS", "Model"]

#: The loss name a Model answers to: its own ``loss`` expression.
MODEL_LOSS = "model"


@dataclass
class Model:
    """A model declared in SymPy (samples are columns, as in every kernel).

    ``X`` (features x batch) and ``Y`` (targets x batch: a ``OneHot`` for a
    classifier, a plain MatrixSymbol for a regression) are the batch
    inputs; ``output`` is the prediction, ``loss`` the mean loss over the
    batch, ``params`` the trained MatrixSymbols. ``weights`` are the
    parameters ``risk(lam=...)`` penalizes with lam/2 ||W||^2 and that start
    N(0, 1/fan_in) (default: every parameter with more than one column);
    the others start at 0 unless ``init(rng)`` returns values for them by
    name.

    >>> m = sp.Symbol("m", integer=True, positive=True)
    >>> X, Y = sp.MatrixSymbol("X", 3, m), sp.MatrixSymbol("Y", 3, m)
    >>> W, c = sp.MatrixSymbol("W", 2, 3), sp.MatrixSymbol("c", 3, 1)
    >>> out = W.T * ops.Elementwise(sp.tanh, W * X) + c * ops.ones(1, m)
    >>> ae = Model(X, Y, [W, c], out, ops.matsum(sp.HadamardPower(out - Y, 2)) / (2 * m))
    >>> ae.task, [str(p) for p in ae.weights]
    ('regression', ['W'])
    """

    X: sp.MatrixSymbol
    Y: sp.MatrixSymbol
    params: Sequence[sp.MatrixSymbol]
    output: sp.MatrixExpr
    loss_expr: sp.Expr
    weights: Sequence[sp.MatrixSymbol] | None = None
    init: Callable[[np.random.Generator], dict] | None = None
    name: str = "model"

    def __post_init__(self) -> None:
        self.params = list(self.params)
        if not self.params:
            raise ValueError("a Model needs at least one parameter")
        for p in self.params:
            if not isinstance(p, sp.MatrixSymbol):
                raise TypeError(f"model parameters are MatrixSymbols, got {p!r}")
        if self.X.shape[1] != self.Y.shape[1]:
            raise ValueError(f"X ({self.X.shape[0]} x {self.X.shape[1]}) and Y "
                             f"({self.Y.shape[0]} x {self.Y.shape[1]}) must share the batch "
                             "dimension")
        if self.weights is None:
            self.weights = [p for p in self.params if sp.sympify(p.shape[1]) != 1]
        self.weights = list(self.weights)
        unknown = [str(w) for w in self.weights if w not in self.params]
        if unknown:
            raise ValueError(f"weights {unknown} are not parameters of the model")

    @property
    def batch(self) -> sp.Expr:
        return self.X.shape[1]

    @property
    def output_expr(self) -> sp.MatrixExpr:
        return self.output

    @property
    def default_loss(self) -> str:
        return MODEL_LOSS

    @property
    def task(self) -> str:
        """``"classification"`` for OneHot or BinaryLabels targets, else ``"regression"``."""
        return "classification" if isinstance(self.Y, ops.OneHot | ops.BinaryLabels) \
            else "regression"

    def _check(self, loss: str | None) -> None:
        if loss not in (None, MODEL_LOSS):
            raise ValueError(f"{self.name} has its own loss; pass loss=None, not {loss!r}")

    def labels(self, loss: str | None = None) -> sp.MatrixSymbol:
        """The target matrix Y."""
        self._check(loss)
        return self.Y

    def loss(self, loss: str | None = None) -> sp.Expr:
        """The model's mean loss over the batch."""
        self._check(loss)
        return self.loss_expr

    def risk(self, loss: str | None = None, lam=None) -> sp.Expr:
        """The loss + lam/2 sum ||W||_F^2 over ``weights`` (lam: number or symbol,
        default the symbol lambda)."""
        lam = sp.Symbol("lambda") if lam is None else lam
        penalty = sp.Add(*[ops.matsum(sp.HadamardPower(W, 2)) for W in self.weights])
        return self.loss(loss) + lam / 2 * penalty
