"""Matrix heads of symnet as SymPy classes (and the scalar heads, re-exported)."""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

from .errors import ShapeError
from .heads import (
    Activation,
    hard_logistic,
    hard_tanh,
    is_matrix,
    leaky_relu,
    logistic,
    maxout,
    prelu,
    relu,
    softplus,
    step,
    step0,
)

__all__ = [
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


def _explicit_below(args) -> bool:
    """Whether an explicit Matrix lies under ``args`` (an iterative walk).

    A symnet head caches its answer, so ``doit`` on a deep network costs
    one step per layer and never recurses through the layers below.
    """
    stack, seen = list(args), set()
    while stack:
        a = stack.pop()
        if isinstance(a, sp.MatrixBase):
            return True
        if not isinstance(a, sp.Basic) or id(a) in seen:
            continue
        seen.add(id(a))
        cached = getattr(a, "_symnet_explicit", None)
        if cached is not None:
            if cached:
                return True
            continue
        if isinstance(a, sp.MatrixSymbol):
            continue
        stack.extend(a.args)
    return False


def _hashed(node: sp.Basic) -> sp.Basic:
    """``node`` with its hash computed now.

    SymPy hashes lazily and recursively: the first hash of a deep tree walks
    all of it (a RecursionError from ~100 layers). Hashing each head as it
    is built keeps every later hash one layer deep.
    """
    hash(node)
    return node


def _shallow_doit(node, hints: dict) -> bool:
    """True when ``doit`` may return ``node`` itself: nothing below evaluates."""
    cached = node.__dict__.get("_symnet_explicit")
    if cached is None:
        cached = _explicit_below(node.args)
        node.__dict__["_symnet_explicit"] = cached
    return not cached


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
        obj = MatrixExpr.__new__(cls, function, *args)
        # Cached: an uncached shape walks every layer below on each query,
        # which made building a deep network cubic in its depth.
        obj.__dict__["_shape"] = _broadcast_shape(shapes, "Elementwise")
        return _hashed(obj)

    @property
    def function(self) -> sp.Lambda:
        return self.args[0]

    @property
    def operands(self) -> tuple:
        return self.args[1:]

    @property
    def shape(self):
        return self.__dict__["_shape"]

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
        if _shallow_doit(self, hints):
            return self
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
        return _hashed(MatrixExpr.__new__(cls, Z))

    @property
    def arg(self):
        return self.args[0]

    def doit(self, **hints):
        if _shallow_doit(self, hints):
            return self
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
        return _hashed(sp.Expr.__new__(cls, A))

    @property
    def arg(self):
        return self.args[0]

    def doit(self, **hints):
        if _shallow_doit(self, hints) and not (
                self.arg.shape[0].is_Integer and self.arg.shape[1].is_Integer):
            return self
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
