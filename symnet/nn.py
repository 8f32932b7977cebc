"""Network builders: dense layers, MLPs, losses and the structural risk, as SymPy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sympy as sp

from . import ops, registry

__all__ = [
    "DEFAULT_LOSS",
    "LOSSES",
    "OUTPUTS",
    "Layer",
    "MLP",
    "binary_cross_entropy",
    "cross_entropy",
    "dense",
    "l2_penalty",
    "squared_error",
]


def _columns(A) -> sp.Expr:
    return A.shape[1]


def dense(W: sp.MatrixSymbol, a, b: sp.MatrixSymbol) -> sp.MatrixExpr:
    """Pre-activation z = W a + b, the bias broadcast over the batch (eq. 4.26).

    >>> n, m = sp.symbols('n m', integer=True, positive=True)
    >>> W, X, b = sp.MatrixSymbol('W', 3, n), sp.MatrixSymbol('X', n, m), sp.MatrixSymbol('b', 3, 1)
    >>> dense(W, X, b)
    W*X + b*1
    """
    m = _columns(a)
    bias = b if m == 1 else sp.MatMul(b, ops.ones(1, m))
    # Constructors, not operators: ``W * a`` runs a deep ``doit`` over every
    # layer below, which made a deep network quadratic to build. Hashed as
    # built, so no later hash recurses through the layers (ops._hashed).
    Wa = sp.MatMul(W, a)
    hash(Wa)
    z = sp.MatAdd(Wa, bias)
    hash(z)
    return z


def cross_entropy(Yhat, Y) -> sp.Expr:
    """Mean cross-entropy -(1/m) sum Y o log(Y_hat) over the m columns.

    With Y_hat = softmax(z) it is stabilized to log-softmax, and with
    :class:`~symnet.ops.OneHot` labels its gradient w.r.t. z fuses to
    (Y_hat - Y)/m.
    """
    m = _columns(Yhat)
    return -ops.matsum(sp.HadamardProduct(Y, ops.Elementwise(sp.log, Yhat))) / m


def binary_cross_entropy(Yhat, Y) -> sp.Expr:
    """Mean binary cross-entropy -(1/m) sum [Y log Y_hat + (1 - Y) log(1 - Y_hat)]."""
    m = _columns(Yhat)
    one = ops.ones(*Yhat.shape)
    pos = sp.HadamardProduct(Y, ops.Elementwise(sp.log, Yhat))
    neg = sp.HadamardProduct(one - Y, ops.Elementwise(sp.log, one - Yhat))
    return -ops.matsum(pos + neg) / m


def squared_error(Yhat, Y) -> sp.Expr:
    """Mean squared error (1/m) sum_j 1/2 ||y_hat_j - y_j||^2."""
    m = _columns(Yhat)
    return ops.matsum(sp.HadamardPower(Yhat - Y, 2)) / (2 * m)


def l2_penalty(weights: Sequence[sp.MatrixSymbol], lam) -> sp.Expr:
    """(lambda/2) sum ||W||_F^2 over weight matrices (never biases), eq. 4.35."""
    return lam / 2 * sp.Add(*[ops.matsum(sp.HadamardPower(W, 2)) for W in weights])


LOSSES = {
    "cross_entropy": cross_entropy,
    "binary_cross_entropy": binary_cross_entropy,
    "squared_error": squared_error,
}

OUTPUTS = ("softmax", "logistic", "linear")

#: The loss each output layer trains with unless one is given: the loss
#: follows the output layer everywhere (``MLP.risk``, ``fit``, the CLI).
DEFAULT_LOSS = {"softmax": "cross_entropy", "logistic": "binary_cross_entropy",
                "linear": "squared_error"}


@dataclass
class Layer:
    """One layer's symbols and expressions: z = W a + b, a = f(z)."""

    activation: str
    weights: list[sp.MatrixSymbol]
    biases: list[sp.MatrixSymbol]
    z: list[sp.MatrixExpr]
    a: sp.MatrixExpr
    gamma: sp.MatrixSymbol | None = None

    @property
    def params(self) -> list[sp.MatrixSymbol]:
        out: list[sp.MatrixSymbol] = []
        for W, b in zip(self.weights, self.biases, strict=True):
            out += [W, b]
        if self.gamma is not None:
            out.append(self.gamma)
        return out


@dataclass
class MLP:
    """A multilayer perceptron declared in SymPy (samples are columns).

    ``sizes`` are n_0 .. n_L (integers or symbols); ``activations`` names
    the hidden layers' activation (one name, or one per hidden layer), from
    :data:`symnet.registry.ACTIVATIONS`, or gives a user-defined one as a SymPy
    ``Lambda`` (e.g. ``Lambda(x, x*tanh(softplus(x)))``); ``output`` is
    softmax, logistic or linear. Maxout layers have ``pieces`` linear pieces.

    >>> net = MLP([4, 3, 2], 'logistic', output='softmax')
    >>> [str(p) for p in net.params]
    ['W1', 'b1', 'W2', 'b2']
    >>> net.output_expr
    softmax(W2*logistic(W1*X + b1*1) + b2*1)
    """

    sizes: Sequence
    activations: str | Sequence[str] = "logistic"
    output: str = "softmax"
    batch: sp.Expr = field(default_factory=lambda: sp.Symbol("m", integer=True, positive=True))
    pieces: int = 2
    leaky_gamma: float = 0.01

    def __post_init__(self) -> None:
        sizes = [sp.sympify(s) for s in self.sizes]
        if len(sizes) < 2:
            raise ValueError(f"an MLP needs at least an input and an output size, got {sizes}")
        hidden = len(sizes) - 2
        single = isinstance(self.activations, str | sp.Lambda) or not isinstance(
            self.activations, list | tuple)
        acts = [self.activations] * hidden if single else list(self.activations)
        if len(acts) != hidden:
            raise ValueError(f"{hidden} hidden layers but {len(acts)} activations: {acts}")
        for a in acts:
            if not isinstance(a, str):
                continue  # a user-defined activation: a SymPy Lambda or function class
            if a not in registry.activations():
                raise ValueError(f"unknown activation {a!r}; choose from "
                                 f"{', '.join(registry.activations())}")
        if self.output not in OUTPUTS:
            raise ValueError(f"unknown output {self.output!r}; choose from {', '.join(OUTPUTS)}")
        self.acts = acts
        self.X = sp.MatrixSymbol("X", sizes[0], self.batch)
        self.layers: list[Layer] = []
        a = self.X
        for l in range(1, len(sizes)):
            act = acts[l - 1] if l <= hidden else self.output
            a = self._layer(l, act, sizes[l - 1], sizes[l], a)
        self.sizes = sizes

    def _layer(self, l: int, act: str, n_in, n_out, a) -> sp.MatrixExpr:
        k = self.pieces if act == "maxout" else 1
        if k == 1:
            Ws = [sp.MatrixSymbol(f"W{l}", n_out, n_in)]
            bs = [sp.MatrixSymbol(f"b{l}", n_out, 1)]
        else:
            Ws = [sp.MatrixSymbol(f"W{l}_{i}", n_out, n_in) for i in range(1, k + 1)]
            bs = [sp.MatrixSymbol(f"b{l}_{i}", n_out, 1) for i in range(1, k + 1)]
        zs = [dense(W, a, b) for W, b in zip(Ws, bs, strict=True)]
        gamma = None
        z = zs[0]
        if not isinstance(act, str):
            out = ops.Elementwise(act, z)
            act = str(act)
        elif act == "softmax":
            out = ops.softmax(z)
        elif act == "linear":
            out = z
        elif act == "maxout":
            out = ops.maxout(*zs)
        elif act == "prelu":
            gamma = sp.MatrixSymbol(f"g{l}", n_out, 1)
            out = ops.prelu(z, gamma)
        elif act == "leaky_relu":
            out = ops.leaky_relu(z, self.leaky_gamma)
        elif act == "tanh":
            out = ops.Elementwise(sp.tanh, z)
        else:
            out = registry.activations()[act](z)
        self.layers.append(Layer(act, Ws, bs, zs, out, gamma))
        return out

    @property
    def output_expr(self) -> sp.MatrixExpr:
        return self.layers[-1].a

    @property
    def params(self) -> list[sp.MatrixSymbol]:
        return [p for layer in self.layers for p in layer.params]

    @property
    def weights(self) -> list[sp.MatrixSymbol]:
        return [W for layer in self.layers for W in layer.weights]

    @property
    def default_loss(self) -> str:
        """The output layer's loss (:data:`DEFAULT_LOSS`): cross-entropy for
        softmax, binary cross-entropy for logistic, squared error for linear."""
        return DEFAULT_LOSS[self.output]

    @property
    def task(self) -> str:
        """``"regression"`` for a linear output layer, else ``"classification"``."""
        return "regression" if self.output == "linear" else "classification"

    def labels(self, loss: str | None = None) -> sp.MatrixSymbol:
        """The label matrix Y: one-hot columns for cross-entropy, entries in
        [0, 1] for binary cross-entropy, any numbers otherwise (see
        :mod:`symnet.targets`); ``loss`` defaults to the output layer's."""
        loss = loss or self.default_loss
        shape = (self.sizes[-1], self.batch)
        if loss == "cross_entropy":
            return ops.OneHot("Y", *shape)
        if loss == "binary_cross_entropy":
            return ops.BinaryLabels("Y", *shape)
        return sp.MatrixSymbol("Y", *shape)

    def loss(self, loss: str | None = None) -> sp.Expr:
        """Mean loss over the batch (default: the output layer's loss)."""
        loss = loss or self.default_loss
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
        return LOSSES[loss](self.output_expr, self.labels(loss))

    def risk(self, loss: str | None = None, lam=None) -> sp.Expr:
        """Structural risk: mean loss + (lambda/2) sum ||W||_F^2 (eq. 4.35).

        ``lam`` is a number or a symbol (default: the symbol lambda).
        """
        lam = sp.Symbol("lambda") if lam is None else lam
        return self.loss(loss) + l2_penalty(self.weights, lam)

