"""Full Hessians of small parameter sets, as SymPy matrices per parameter pair, printed after CSE.

Column j of the Hessian is the Hessian-vector product along the j-th unit
vector, so every entry comes from the same forward-over-reverse derivation
as :func:`symnet.second_order.hvp`, with the direction substituted. Meant
for a handful of scalars or small matrices with concrete shapes; for a
network's parameters use :func:`symnet.curvature.curvature` at values.
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp

from .api import _as_list
from .errors import ShapeError
from .second_order import directions, hvp

__all__ = ["Hessian", "hessian"]


def _entries(w: sp.Basic) -> list[sp.Basic]:
    """The scalar entries of a variable, row-major."""
    if isinstance(w, sp.MatrixSymbol):
        return [w[i, j] for i in range(int(w.shape[0])) for j in range(int(w.shape[1]))]
    return [w]


def _explicit(e: sp.Basic) -> list[sp.Basic]:
    if isinstance(e, sp.MatrixBase) or getattr(e, "is_Matrix", False):
        return list(sp.ImmutableMatrix(e.as_explicit()))
    return [e]


class Hessian:
    """The Hessian of a scalar w.r.t. ``wrt``: ``.matrix`` (an n x n SymPy
    matrix over the flattened variables, each row-major) and ``.block(p, q)``
    (the |p| x |q| block d^2 f / dp dq). ``str()``, ``pretty()`` and
    ``latex()`` print the upper triangle entry by entry after common
    subexpression elimination.
    """

    def __init__(self, matrix: sp.ImmutableMatrix, wrt: list, name: str = "f"):
        self.matrix = matrix
        self.wrt = wrt
        self.name = name
        self.variables = [e for w in wrt for e in _entries(w)]
        sizes = [len(_entries(w)) for w in wrt]
        self._offsets = [sum(sizes[:k]) for k in range(len(sizes) + 1)]

    def block(self, p: sp.Basic, q: sp.Basic) -> sp.ImmutableMatrix:
        i, j = self.wrt.index(p), self.wrt.index(q)
        o = self._offsets
        return self.matrix[o[i]:o[i + 1], o[j]:o[j + 1]]

    def subs(self, *args, **kwargs) -> sp.ImmutableMatrix:
        """The matrix at a point (``subs`` on every entry, then ``doit``)."""
        return sp.ImmutableMatrix(self.matrix.subs(*args, **kwargs).doit())

    def _cse(self):
        n = len(self.variables)
        pairs = [(i, j) for i in range(n) for j in range(i, n)]
        reps, reduced = sp.cse([self.matrix[i, j] for i, j in pairs],
                               symbols=sp.numbered_symbols("t"), optimizations=None)
        return reps, list(zip(pairs, reduced, strict=True))

    def _label(self, i: int, j: int, latex: bool) -> str:
        a, b = self.variables[i], self.variables[j]
        if latex:
            den = (r"\partial %s^{2}" % sp.latex(a) if i == j
                   else r"\partial %s \partial %s" % (sp.latex(a), sp.latex(b)))
            return r"\frac{\partial^{2} %s}{%s}" % (self.name, den)
        den = f"d{a}^2" if i == j else f"d{a} d{b}"
        return f"d^2{self.name}/{den}"

    def __str__(self) -> str:
        reps, entries = self._cse()
        lines = [f"{s} = {e}" for s, e in reps]
        lines += [f"{self._label(i, j, False)} = {e}" for (i, j), e in entries]
        return "\n".join(lines)

    def pretty(self) -> str:
        reps, entries = self._cse()
        eqs = [(s, e) for s, e in reps]
        eqs += [(sp.Symbol(self._label(i, j, False)), e) for (i, j), e in entries]
        return "\n".join(sp.pretty(sp.Eq(a, b, evaluate=False)) for a, b in eqs)

    def latex(self) -> str:
        reps, entries = self._cse()
        rows = [f"{sp.latex(s)} &= {sp.latex(e)}" for s, e in reps]
        rows += [f"{self._label(i, j, True)} &= {sp.latex(e)}" for (i, j), e in entries]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return "$" + self.latex() + "$"

    def __repr__(self) -> str:
        return f"Hessian({self.matrix!r})"


def hessian(expr: sp.Basic, wrt: sp.Basic | Iterable[sp.Basic], name: str = "f") -> Hessian:
    """The full Hessian of a scalar ``expr`` w.r.t. ``wrt`` (Symbols, or
    MatrixSymbols of concrete shape in an expression whose sizes are all
    concrete), column by column from Hessian-vector products.

    >>> from symnet import logistic
    >>> x, w, b = sp.symbols('x w b')
    >>> H = hessian(logistic(w * x + b), [w, b])
    >>> H.subs({x: 1, w: 0, b: 0})       # sigma''(0) = 0 at the textbook's point
    Matrix([
    [0, 0],
    [0, 0]])
    >>> H.subs({x: 2, w: 0, b: sp.log(3)}).rewrite(sp.exp)   # sigma''(log 3) = -3/32
    Matrix([
    [ -3/8, -3/16],
    [-3/16, -3/32]])
    """
    expr = sp.sympify(expr)
    wrt = _as_list(wrt)
    symbolic = sorted({str(s) for s in [*expr.atoms(sp.MatrixSymbol), *wrt]
                       if isinstance(s, sp.MatrixSymbol)
                       and not all(isinstance(d, (int, sp.Integer)) for d in s.shape)})
    if symbolic:
        raise ShapeError(f"the full Hessian needs concrete sizes, but {', '.join(symbolic)} "
                         "have symbolic ones; for symbolic sizes compile the products "
                         "(symnet.curvature(...).dense() at values, or hvp(...))")
    vs = directions(wrt, prefix="_hess_v")
    prods = hvp(expr, wrt, vs)
    # Each product is linear in the directions: make it explicit once, then
    # read column k off it by setting the k-th direction entry to 1, the rest 0.
    flat = [x for p in prods for x in _explicit(p)]
    units = [e for v in vs for e in _entries(v)]
    zero = dict.fromkeys(units, sp.S.Zero)
    columns = [[x.xreplace({**zero, u: sp.S.One}) for x in flat] for u in units]
    n = len(columns)
    # Symmetric by construction of the math; keep the upper triangle's form on both sides.
    M = sp.Matrix(n, n, lambda i, j: columns[j][i] if i <= j else columns[i][j])
    return Hessian(sp.ImmutableMatrix(M), wrt, name)
