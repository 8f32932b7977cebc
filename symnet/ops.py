"""Activation functions and matrix heads of symnet as SymPy classes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy as sp
from sympy.core.function import ArgumentIndexError
from sympy.matrices.expressions.matexpr import MatrixExpr

from .errors import ShapeError

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "BinaryLabels",
    "Elementwise",
    "log_softmax",
    "logsumexp",
    "matsum",
    "ones",
    "OneHot",
    "softmax",
    "logistic",
    "hard_logistic",
    "hard_tanh",
    "relu",
    "leaky_relu",
    "prelu",
    "softplus",
    "maxout",
    "step",
    "step0",
]


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


#: Activation heads by name, as used by builders and the command line.
ACTIVATIONS: dict[str, Callable[..., sp.Expr]] = {
    "logistic": logistic,
    "tanh": sp.tanh,
    "hard_logistic": hard_logistic,
    "hard_tanh": hard_tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "prelu": prelu,
    "softplus": softplus,
    "maxout": maxout,
    "linear": lambda x: x,
}


# ---------------------------------------------------------------- matrix heads


def _broadcast_shape(shapes: Sequence[tuple], what: str) -> tuple:
    rows, cols = sp.S.One, sp.S.One
    for r, c in shapes:
        rows = _broadcast_dim(rows, r, what)
        cols = _broadcast_dim(cols, c, what)
    return rows, cols


def _broadcast_dim(a, b, what: str):
    a, b = sp.sympify(a), sp.sympify(b)
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    raise ShapeError(f"{what}: dimensions {a} and {b} do not broadcast")


def ones(rows, cols) -> sp.OneMatrix:
    """The all-ones matrix (used to broadcast a bias over a batch).

    >>> ones(1, 3).shape
    (1, 3)
    """
    return sp.OneMatrix(rows, cols)


class OneHot(sp.MatrixSymbol):
    """A label matrix whose columns each sum to one (one-hot or distributions).

    Declaring labels this way lets softmax + cross-entropy fuse to y_hat - y.

    >>> Y = OneHot('Y', 10, sp.Symbol('m'))
    >>> Y.shape
    (10, m)
    """


class BinaryLabels(sp.MatrixSymbol):
    """A target matrix whose entries lie in [0, 1]: 0/1 labels or probabilities
    (the targets of a logistic output with binary cross-entropy).

    >>> BinaryLabels('Y', 1, sp.Symbol('m')).shape
    (1, m)
    """


class Elementwise(MatrixExpr):
    """A scalar function applied entry by entry to matrices (with broadcasting).

    ``Elementwise(f, A, B, ...)`` has entries ``f(A[i,j], B[i,j], ...)``; an
    argument with one row or one column (or a scalar) is broadcast.

    >>> n, m = sp.symbols('n m', integer=True, positive=True)
    >>> Z = sp.MatrixSymbol('Z', n, m)
    >>> logistic(Z)
    logistic(Z)
    >>> logistic(Z).shape
    (n, m)
    """

    def __new__(cls, function, *args):
        args = tuple(sp.sympify(a) for a in args)
        if not args:
            raise ValueError("Elementwise needs at least one argument")
        if not isinstance(function, sp.Lambda):
            # Plain (not Dummy) bound variables: the same call gives the same
            # expression in every process, so it can key a cache.
            xs = sp.symbols(f"_x0:{len(args)}")
            function = sp.Lambda(xs, function(*xs))
        if len(function.variables) != len(args):
            raise ValueError(f"{function} takes {len(function.variables)} arguments, "
                             f"got {len(args)}")
        shapes = [a.shape if is_matrix(a) else (1, 1) for a in args]
        try:
            _broadcast_shape(shapes, "")
        except ShapeError:
            head = function.expr.func.__name__ if function.expr.args else str(function.expr)
            raise ShapeError(f"{head}({', '.join(map(str, args))}) with shapes "
                             f"{', '.join(f'{r} x {c}' for r, c in shapes)} do not broadcast"
                             ) from None
        return MatrixExpr.__new__(cls, function, *args)

    @property
    def function(self) -> sp.Lambda:
        return self.args[0]

    @property
    def operands(self) -> tuple:
        return self.args[1:]

    @property
    def shape(self):
        shapes = [a.shape if is_matrix(a) else (1, 1) for a in self.operands]
        return _broadcast_shape(shapes, "Elementwise")

    def head(self):
        """The function head when the body is ``f(x0, x1, ...)`` verbatim, else None."""
        body, xs = self.function.expr, self.function.variables
        if isinstance(body, sp.Function) and body.args == tuple(xs):
            return type(body)
        return None

    def _entry(self, i, j, **kwargs):
        vals = []
        for a in self.operands:
            if is_matrix(a):
                r, c = a.shape
                vals.append(a[0 if r == 1 else i, 0 if c == 1 else j])
            else:
                vals.append(a)
        return self.function(*vals)

    def doit(self, **hints):
        deep = hints.get("deep", True)
        ops = [a.doit(**hints) if deep and isinstance(a, sp.Basic) else a for a in self.operands]
        out = Elementwise(self.function, *ops)
        if all(isinstance(a, sp.MatrixBase) or not is_matrix(a) for a in ops) and any(
            isinstance(a, sp.MatrixBase) for a in ops
        ):
            return out.as_explicit()
        return out

    def _as_body(self, printer, parens: str) -> sp.Expr:
        # Print the scalar body with each operand standing in for its
        # variable; bracket compound operands unless a call brackets them.
        bare = self.head() is not None
        reps = {}
        for x, a in zip(self.function.variables, self.operands, strict=True):
            name = printer._print(a)
            if not (bare or isinstance(a, sp.MatrixSymbol) or a.is_Atom):
                name = parens % name
            reps[x] = sp.Symbol(str(name))
        return self.function.expr.xreplace(reps)

    def _sympystr(self, printer):
        return printer._print(self._as_body(printer, "(%s)"))

    def _latex(self, printer):
        return printer._print(self._as_body(printer, r"\left(%s\right)"))

    def _pretty(self, printer):
        from sympy.printing.pretty.stringpict import prettyForm

        head = self.head()
        if head is not None:
            name = getattr(head, "pretty_name", "") or head.__name__
            args = prettyForm(*printer._print_seq(self.operands, delimiter=", ").parens())
            return prettyForm(*args.left(name))
        return printer._print(self._as_body(sp.printing.str.StrPrinter(), "(%s)"))


class _ColumnOp(MatrixExpr):
    """Shared parts of the column-wise heads (softmax over each column)."""

    latex_name = ""

    def __new__(cls, Z):
        Z = sp.sympify(Z)
        if not is_matrix(Z):
            raise ShapeError(f"{cls.__name__} needs a matrix (one column per sample), got {Z}")
        return MatrixExpr.__new__(cls, Z)

    @property
    def arg(self):
        return self.args[0]

    def doit(self, **hints):
        Z = self.arg.doit(**hints) if hints.get("deep", True) else self.arg
        out = type(self)(Z)
        return out.as_explicit() if isinstance(Z, sp.MatrixBase) else out

    def _column_lse(self, j):
        Z = self.arg
        return sp.log(sp.Add(*[sp.exp(Z[k, j]) for k in range(Z.shape[0])]))

    def _latex(self, printer):
        return r"%s\left(%s\right)" % (self.latex_name, printer._print(self.arg))

    def _pretty(self, printer):
        from sympy.printing.pretty.stringpict import prettyForm

        arg = prettyForm(*printer._print(self.arg).parens())
        return prettyForm(*arg.left(type(self).__name__))


class softmax(_ColumnOp):
    """Softmax of each column: exp(z_k) / sum_j exp(z_j).

    >>> Z = sp.MatrixSymbol('Z', 3, 2)
    >>> softmax(Z).shape
    (3, 2)
    """

    latex_name = r"\operatorname{softmax}"

    @property
    def shape(self):
        return self.arg.shape

    def _entry(self, i, j, **kwargs):
        return sp.exp(self.arg[i, j] - self._column_lse(j))


class log_softmax(_ColumnOp):
    """Log-softmax of each column: z - logsumexp(z), computed without overflow.

    >>> Z = sp.MatrixSymbol('Z', 3, 2)
    >>> log_softmax(Z).shape
    (3, 2)
    """

    latex_name = r"\log\operatorname{softmax}"

    @property
    def shape(self):
        return self.arg.shape

    def _entry(self, i, j, **kwargs):
        return self.arg[i, j] - self._column_lse(j)


class logsumexp(_ColumnOp):
    """log sum_k exp(z_k) of each column; a row with one entry per sample.

    >>> Z = sp.MatrixSymbol('Z', 3, 2)
    >>> logsumexp(Z).shape
    (1, 2)
    """

    latex_name = r"\operatorname{logsumexp}"

    @property
    def shape(self):
        return (sp.S.One, self.arg.shape[1])

    def _entry(self, i, j, **kwargs):
        return self._column_lse(j)


class matsum(sp.Expr):
    """Sum of all entries of a matrix expression (a scalar).

    >>> A = sp.MatrixSymbol('A', 2, 2)
    >>> matsum(A)
    matsum(A)
    >>> matsum(sp.Matrix([[1, 2], [3, 4]])).doit()
    10
    """

    is_commutative = True

    def __new__(cls, A):
        A = sp.sympify(A)
        if not is_matrix(A):
            raise ShapeError(f"matsum needs a matrix expression, got {A}")
        return sp.Expr.__new__(cls, A)

    @property
    def arg(self):
        return self.args[0]

    def doit(self, **hints):
        A = self.arg.doit(**hints) if hints.get("deep", True) else self.arg
        if isinstance(A, sp.MatrixBase):
            return sp.Add(*A)
        if A.shape[0].is_Integer and A.shape[1].is_Integer:
            return sp.Add(*A.as_explicit())
        return matsum(A)

    def _latex(self, printer):
        return r"\Sigma\left(%s\right)" % printer._print(self.arg)

    def _pretty(self, printer):
        from sympy.printing.pretty.stringpict import prettyForm

        return prettyForm(*printer._print(self.arg).parens()).left("Σ")
