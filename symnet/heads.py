"""Scalar activation heads (table 4.1) as SymPy functions: values, derivatives, printing.

Everything else about each head -- its stable forms, partial-derivative
overrides and its form in every backend -- is its row in
:mod:`symnet.registry`.
"""

from __future__ import annotations

import sympy as sp
from sympy.core.function import ArgumentIndexError
from sympy.matrices.expressions.matexpr import MatrixExpr

__all__ = ["Activation", "hard_logistic", "hard_tanh", "is_matrix", "leaky_relu", "logistic",
           "maxout", "prelu", "relu", "softplus", "step", "step0"]


def step(x: sp.Expr) -> sp.Expr:
    """Indicator I(x > 0); the derivative of ReLU (ReLU'(0) = 0).

    >>> step(sp.Integer(0)), step(sp.Integer(3))
    (0, 1)
    """
    return sp.Heaviside(x, 0)


def step0(x: sp.Expr) -> sp.Expr:
    """Indicator I(x >= 0).

    >>> step0(sp.Integer(0))
    1
    """
    return sp.Heaviside(x, 1)


def is_matrix(a: object) -> bool:
    """Whether ``a`` is a matrix expression (or an explicit SymPy matrix)."""
    return isinstance(a, MatrixExpr) or getattr(a, "is_Matrix", False)


class Activation(sp.Function):
    """Base of symnet's scalar activation heads.

    Called on a matrix expression, an activation applies elementwise and
    returns an :class:`Elementwise` matrix expression.
    """

    #: name used by the LaTeX printer
    latex_name: str = ""
    #: name used by the pretty printer
    pretty_name: str = ""

    def __new__(cls, *args, **kwargs):
        if any(is_matrix(a) for a in args):
            from .ops import Elementwise  # the matrix heads build on these scalar ones

            return Elementwise(cls, *args)
        return super().__new__(cls, *args, **kwargs)

    def _eval_evalf(self, prec):
        # Numeric arguments make ``eval`` return an elementary form.
        args = [a.evalf(prec) for a in self.args]
        if all(a.is_Number for a in args):
            value = type(self).eval(*args)
            if value is not None:
                return value.evalf(prec)
        return None

    def _latex(self, printer, exp=None):
        name = self.latex_name or r"\operatorname{%s}" % type(self).__name__.replace("_", r"\_")
        inner = ", ".join(printer._print(a) for a in self.args)
        out = r"%s\left(%s\right)" % (name, inner)
        if exp is not None:
            out = r"%s^{%s}" % (out, exp)
        return out

    def _pretty(self, printer):
        return printer._print_Function(self, func_name=self.pretty_name or type(self).__name__)


class logistic(Activation):
    """Logistic sigma(x) = 1/(1 + exp(-x)); sigma' = sigma (1 - sigma) (table 4.1).

    >>> x = sp.Symbol('x')
    >>> logistic(x).diff(x)
    (1 - logistic(x))*logistic(x)
    >>> logistic(0)
    1/2
    """

    nargs = 1
    latex_name = r"\sigma"
    pretty_name = "σ"

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Half
        if x.is_Number:
            return 1 / (1 + sp.exp(-x))
        if x is sp.S.Infinity:
            return sp.S.One
        if x is sp.S.NegativeInfinity:
            return sp.S.Zero
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _eval_rewrite_as_tanh(self, x, **kwargs):
        return (1 + sp.tanh(x / 2)) / 2

    def _eval_is_real(self):
        return self.args[0].is_real


class softplus(Activation):
    """Softplus log(1 + exp(x)); softplus' = logistic (table 4.1).

    >>> x = sp.Symbol('x')
    >>> softplus(x).diff(x)
    logistic(x)
    """

    nargs = 1
    latex_name = r"\operatorname{softplus}"

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sp.log(1 + sp.exp(x))
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return logistic(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))

    def _eval_rewrite_as_log(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))


class relu(Activation):
    """Rectified linear unit max(x, 0); relu' = I(x > 0), so relu'(0) = 0.

    >>> x = sp.Symbol('x')
    >>> relu(x).diff(x)
    Heaviside(x, 0)
    >>> relu(-2), relu(3)
    (0, 3)
    """

    nargs = 1
    latex_name = r"\operatorname{ReLU}"

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sp.Max(x, 0)
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return step(self.args[0])

    def _eval_rewrite_as_Max(self, x, **kwargs):
        return sp.Max(x, 0)

    def _eval_rewrite_as_Piecewise(self, x, **kwargs):
        return sp.Piecewise((x, x > 0), (0, True))


class leaky_relu(Activation):
    """Leaky ReLU: x if x > 0 else gamma*x, constant gamma (default 0.01).

    Derivative: 1 if x > 0 else gamma (so gamma at 0); d/dgamma = min(x, 0).

    >>> x = sp.Symbol('x')
    >>> leaky_relu(x).diff(x)
    0.01*Heaviside(-x, 1) + Heaviside(x, 0)
    >>> leaky_relu(-2, sp.Rational(1, 10))
    -1/5
    """

    nargs = (1, 2)
    latex_name = r"\operatorname{LeakyReLU}"
    default_gamma = sp.Float(0.01)

    def __new__(cls, x, gamma=None, **kwargs):
        if gamma is None:
            gamma = cls.default_gamma
        return super().__new__(cls, x, gamma, **kwargs)

    @classmethod
    def eval(cls, x, gamma):
        if x.is_Number and gamma.is_Number:
            return x if x > 0 else gamma * x
        return None

    def fdiff(self, argindex=1):
        x, gamma = self.args
        if argindex == 1:
            return step(x) + gamma * step0(-x)
        if argindex == 2:
            return x * step0(-x)
        raise ArgumentIndexError(self, argindex)

    def _eval_rewrite_as_Piecewise(self, x, gamma, **kwargs):
        return sp.Piecewise((x, x > 0), (gamma * x, True))


class prelu(leaky_relu):
    """Parametric ReLU: leaky ReLU whose slope gamma is learned (one per neuron).

    >>> x, g = sp.symbols('x gamma')
    >>> prelu(x, g).diff(g)
    x*Heaviside(-x, 1)
    """

    nargs = 2
    latex_name = r"\operatorname{PReLU}"

    def __new__(cls, x, gamma, **kwargs):
        return Activation.__new__(cls, x, gamma, **kwargs)


class hard_logistic(Activation):
    """Hard logistic clip(x/4 + 1/2, 0, 1); derivative 1/4 on (-2, 2), else 0.

    >>> x = sp.Symbol('x')
    >>> hard_logistic(x).diff(x)
    Heaviside(2 - x, 0)*Heaviside(x + 2, 0)/4
    >>> hard_logistic(1)
    3/4
    """

    nargs = 1
    latex_name = r"\operatorname{hard-logistic}"

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sp.Min(sp.Max(x / 4 + sp.S.Half, 0), 1)
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        x = self.args[0]
        return step(x + 2) * step(2 - x) / 4

    def _eval_rewrite_as_Piecewise(self, x, **kwargs):
        return sp.Piecewise((0, x <= -2), (1, x >= 2), (x / 4 + sp.S.Half, True))


class hard_tanh(Activation):
    """Hard tanh clip(x, -1, 1); derivative 1 on (-1, 1), else 0.

    >>> x = sp.Symbol('x')
    >>> hard_tanh(x).diff(x)
    Heaviside(1 - x, 0)*Heaviside(x + 1, 0)
    """

    nargs = 1
    latex_name = r"\operatorname{hard-tanh}"

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sp.Min(sp.Max(x, -1), 1)
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        x = self.args[0]
        return step(x + 1) * step(1 - x)

    def _eval_rewrite_as_Piecewise(self, x, **kwargs):
        return sp.Piecewise((-1, x <= -1), (1, x >= 1), (x, True))


class maxout(Activation):
    """Maxout over k linear pieces: max(z_1, ..., z_k); ties go to the first piece.

    >>> z1, z2 = sp.symbols('z1 z2')
    >>> maxout(z1, z2).diff(z2)
    Heaviside(-z1 + z2, 0)
    >>> maxout(1, 3, 2)
    3
    """

    nargs = None
    latex_name = r"\operatorname{maxout}"

    @classmethod
    def eval(cls, *xs):
        if len(xs) == 0:
            raise ValueError("maxout needs at least one piece")
        if len(xs) == 1:
            return xs[0]
        if all(x.is_Number for x in xs):
            return sp.Max(*xs)
        return None

    def fdiff(self, argindex=1):
        xs = self.args
        i = argindex - 1
        if not 0 <= i < len(xs):
            raise ArgumentIndexError(self, argindex)
        # Piece i wins if it beats every earlier piece strictly and every
        # later piece weakly: the first maximal piece takes the gradient.
        out = sp.S.One
        for j, xj in enumerate(xs):
            if j < i:
                out *= step(xs[i] - xj)
            elif j > i:
                out *= step0(xs[i] - xj)
        return out

    def _eval_rewrite_as_Max(self, *xs, **kwargs):
        return sp.Max(*xs)
