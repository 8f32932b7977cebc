"""Front end: SymPy expressions (scalar or matrix) -> symnet Graph."""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

from . import ops, registry
from .errors import ShapeError, UnsupportedError
from .graph import VARS, Graph
from .ops import is_matrix
from .registry.linalg import KronAdjoint

__all__ = ["UnsupportedError", "Frontend", "SCALAR_HEADS", "to_graph"]


#: Scalar heads that may appear in elementwise bodies at import: the
#: registry's rows (the front end asks the registry itself, so a row
#: registered later is accepted too).
SCALAR_HEADS: tuple[type, ...] = registry.scalar_heads()


def _shape_symbols(exprs: Iterable[sp.Basic]) -> set[sp.Symbol]:
    dims: set[sp.Symbol] = set()
    # Each distinct sub-expression once: a tree walk visits a shared one at
    # every use, which grows quadratically with a deep network's layers.
    seen: set[sp.Basic] = set()
    stack = [sp.sympify(e) for e in exprs]
    while stack:
        a = stack.pop()
        if a in seen:
            continue
        seen.add(a)
        if isinstance(a, (sp.MatrixSymbol, sp.Identity, sp.OneMatrix, sp.ZeroMatrix)):
            for d in a.shape:
                dims |= sp.sympify(d).free_symbols
        else:
            stack.extend(a.args)
    return dims


#: Heads whose arguments are dimensions or names, not sub-expressions.
_ATOMIC = (sp.MatrixSymbol, sp.Identity, sp.OneMatrix, sp.ZeroMatrix, sp.Lambda)


def _inner_first(expr: sp.Basic) -> list[sp.Basic]:
    """The matrix sub-expressions (and whole-matrix reductions) of ``expr``,
    each after those it contains (an iterative post-order walk).

    Converting them in this order before ``expr`` itself means every rule
    finds its operands already converted, so converting a network of any
    depth never recurses more than one layer deep.
    """
    out: list[sp.Basic] = []
    seen: set[sp.Basic] = set()
    stack: list[tuple[sp.Basic, bool]] = [(expr, False)]
    while stack:
        e, done = stack.pop()
        if done:
            out.append(e)
            continue
        if e in seen or not isinstance(e, sp.Basic) or e.is_Atom:
            continue
        seen.add(e)
        if e is not expr and (is_matrix(e) or isinstance(e, ops.matsum)) and not isinstance(
                e, MatrixElement):
            stack.append((e, True))
        if isinstance(e, _ATOMIC):
            continue
        # A trace converts its own product's factors (tr(PQ) = sum(P^T o Q)).
        kids = e.args[0].args if isinstance(e, sp.Trace) and isinstance(
            e.args[0], sp.MatMul) else e.args
        stack.extend((a, False) for a in reversed(kids))
    return out


def _shown(e: sp.Basic, limit: int = 300) -> str:
    """The expression as text for an error message, shortened (SymPy's printer
    recurses, so a very deep one is named by its head only)."""
    try:
        text = str(e)
    except RecursionError:
        return f"a {type(e).__name__} nested too deep to print"
    return text if len(text) <= limit else text[:limit] + " ..."


def _inverted(f: sp.Basic) -> sp.Basic | None:
    """A if ``f`` is A^-1, else None."""
    return f.arg if isinstance(f, sp.Inverse) else None


def _is_logdet(e: sp.Basic) -> bool:
    # log det A is its own node: log of the determinant node would overflow
    # where det A does (det(1e200 I) in float64) while log det is finite.
    return isinstance(e, sp.log) and isinstance(e.args[0], sp.Determinant)


class Frontend:
    """Converts SymPy expressions into nodes of one shared Graph (memoized)."""

    def __init__(self, graph: Graph | None = None, dims: set[sp.Symbol] | None = None):
        self.g = graph if graph is not None else Graph()
        self.dims: set[sp.Symbol] = set(dims or ())
        self.memo: dict[sp.Basic, int] = {}

    def add(self, expr) -> int:
        expr = sp.sympify(expr)
        self.dims |= _shape_symbols([expr])
        for sub in _inner_first(expr):
            if sub not in self.memo:
                self.node(sub)
        return self.node(expr)

    # ------------------------------------------------------------ dispatch
    def node(self, e: sp.Basic) -> int:
        hit = self.memo.get(e)
        if hit is not None:
            return hit
        try:
            i = self._matrix(e) if is_matrix(e) else self._scalar(e)
        except ShapeError as ex:
            if "(in " in str(ex):
                raise
            raise ShapeError(f"{ex} (in {_shown(e)})") from None
        self.memo[e] = i
        return i

    def _matrix(self, e) -> int:
        for cls, method in _MATRIX_RULES:
            if isinstance(e, cls):
                return getattr(self, method)(e)
        if isinstance(e, sp.MatrixBase):
            raise UnsupportedError(
                f"explicit matrix {e} in an expression: declare it as a MatrixSymbol and pass "
                "its values as an input")
        raise UnsupportedError(f"unsupported matrix operation {type(e).__name__}: {e}")

    # ------------------------------------------------------------ matrix rules
    def _m_symbol(self, e):
        return self.g.leaf(e)

    def _m_identity(self, e):
        return self.g.leaf(e)

    def _m_ones(self, e):
        return self.g.const(1, e.shape)

    def _m_zeros(self, e):
        return self.g.const(0, e.shape)

    def _m_transpose(self, e):
        return self.g.transpose(self.node(e.arg))

    def _m_matmul(self, e):
        coeff, mats = e.as_coeff_matrices()
        mats = list(mats)
        g = self.g
        if not any(isinstance(f, sp.Inverse) for f in mats):
            out = self.node(mats[0])
            for f in mats[1:]:
                out = g.matmul(out, self.node(f))
            return self._scale(coeff, out)
        # X A^-1 with X not an inverse is solved transposed: (A^-T X^T)^T.
        tail = None
        if len(mats) > 1 and _inverted(mats[-1]) is not None and _inverted(mats[-2]) is None:
            tail = _inverted(mats.pop())
        # Right to left, so that an inverse applies to the product after it
        # as a solve, never as an explicit inverse times a matrix.
        out = self.node(mats[-1])
        for f in reversed(mats[:-1]):
            inv = _inverted(f)
            out = g.solve(self.node(inv), out) if inv is not None else g.matmul(self.node(f), out)
        if tail is not None:
            out = g.transpose(g.solve(g.transpose(self.node(tail)), g.transpose(out)))
        return self._scale(coeff, out)

    def _m_kron(self, e):
        out = self.node(e.args[0])
        for f in e.args[1:]:
            out = self.g.kron(out, self.node(f))
        return out

    def _m_kron_adjoint(self, e):
        G, other, side = e.args
        return self.g.kron_adj(self.node(G), self.node(other), "a" if side == 0 else "b")

    def _m_inverse(self, e):
        return self.g.inverse(self.node(e.arg))

    def _m_matpow(self, e):
        base, k = e.args
        if not (sp.sympify(k).is_Integer):
            raise UnsupportedError(f"matrix power {e}: the exponent {k} must be an integer")
        k = int(k)
        if k == 0:
            return self.g.leaf(sp.Identity(base.shape[0]))
        a = self.node(base) if k > 0 else self.g.inverse(self.node(base))
        # Repeated squaring: |k| products at most 2 log2 |k|.
        out, sq, k = None, a, abs(k)
        while k:
            if k & 1:
                out = sq if out is None else self.g.matmul(out, sq)
            k >>= 1
            if k:
                sq = self.g.matmul(sq, sq)
        return out

    def _scale(self, coeff, i: int) -> int:
        if coeff == 1:
            return i
        body, args = self.scalar_body(coeff, [i])
        return self.g.ew(body * VARS[0], args)

    def _m_matadd(self, e):
        args = [self.node(t) for t in e.args]
        return self.g.ew(sp.Add(*VARS[: len(args)]), args, e.shape)

    def _m_hadamard(self, e):
        args = [self.node(t) for t in e.args]
        return self.g.ew(sp.Mul(*VARS[: len(args)]), args, e.shape)

    def _m_hadamard_power(self, e):
        base, exp = e.args
        body, args = self.scalar_body(exp, [self.node(base)])
        return self.g.ew(VARS[0] ** body, args, e.shape)

    def _m_elementwise(self, e):
        lam = e.function
        bound = [self.node(a) for a in e.operands]
        body = lam.expr.xreplace(dict(zip(lam.variables, VARS, strict=False)))
        body, args = self.scalar_body(body, bound)
        return self.g.ew(body, args, e.shape)

    def _m_applyfunc(self, e):
        lam = e.function
        body = lam.expr.xreplace({lam.variables[0]: VARS[0]})
        body, args = self.scalar_body(body, [self.node(e.expr)])
        return self.g.ew(body, args, e.shape)

    def _m_column(self, e):
        return self.g.column_op(_COLUMN_OP[type(e)], self.node(e.arg))

    # ------------------------------------------------------------ scalars
    def _scalar(self, e) -> int:
        if isinstance(e, sp.Symbol) and e not in self.dims:
            return self.g.leaf(e)
        if isinstance(e, ops.matsum):
            return self.g.reduce(self.node(e.arg), None)
        if isinstance(e, sp.Trace):
            return self._trace(e.arg)
        if isinstance(e, sp.Determinant):
            return self.g.det(self.node(e.arg))
        if _is_logdet(e):
            return self.g.logdet(self.node(e.args[0].arg))
        if isinstance(e, MatrixElement):
            parent = e.parent
            if parent.shape == (1, 1):
                return self.node(parent)
            raise UnsupportedError(
                f"entry {e} of the {parent.shape[0]} x {parent.shape[1]} matrix {parent}: "
                "symnet works with whole matrices; write the entry as a product with unit vectors")
        body, args = self.scalar_body(e, [])
        return self.g.ew(body, args, (1, 1))

    def _trace(self, A) -> int:
        g = self.g
        r, c = A.shape
        if sp.sympify(r - c) != 0:
            raise ShapeError(f"trace of the non-square {r} x {c} matrix {A}")
        # tr(P Q) = sum(P^T o Q) avoids forming the product.
        if isinstance(A, sp.MatMul):
            coeff, mats = A.as_coeff_matrices()
            if len(mats) >= 2:
                P = self.node(mats[0])
                Q = self.node(sp.MatMul(*mats[1:]).doit(deep=False) if len(mats) > 2 else mats[1])
                prod = g.ew(VARS[0] * VARS[1], [g.transpose(P), Q])
                return self._scale(coeff, g.reduce(prod, None))
        if isinstance(A, sp.MatPow) and not isinstance(A, sp.Inverse) and A.args[1].is_Integer \
                and A.args[1] >= 2:
            base, k = A.args
            rest = base if k == 2 else sp.MatPow(base, k - 1)
            prod = g.ew(VARS[0] * VARS[1], [g.transpose(self.node(base)), self.node(rest)])
            return g.reduce(prod, None)
        eye = g.leaf(sp.Identity(r))
        return g.reduce(g.ew(VARS[0] * VARS[1], [self.node(A), eye]), None)

    def scalar_body(self, e: sp.Expr, bound: list[int]) -> tuple[sp.Expr, list[int]]:
        """Body over ``VARS`` for a scalar expression: VARS[:len(bound)] are
        bound to ``bound``; every other leaf (Symbol, 1 x 1 matrix, trace, ...)
        becomes a further argument."""
        args = list(bound)
        slot: dict[sp.Basic, sp.Symbol] = {}
        nbound = len(bound)

        def walk(x):
            if x in VARS[:nbound]:
                return x
            if x.is_Number or x in self.dims:
                return x
            if getattr(x, "is_number", False) and not is_matrix(x):
                # A constant (pi, E, sqrt(2), EulerGamma, ...): real only.
                if x.is_extended_real is False:
                    raise UnsupportedError(f"the constant {x} in {e} is not real")
                return x
            if isinstance(x, registry.STRUCTURAL):
                return x.func(*[walk(a) for a in x.args]) if x.args else x
            if isinstance(x, sp.Symbol) or is_matrix(x) or _is_logdet(x) or isinstance(
                    x, (ops.matsum, sp.Trace, MatrixElement, sp.Determinant)):
                if is_matrix(x) and x.shape != (1, 1):
                    raise ShapeError(
                        f"the {x.shape[0]} x {x.shape[1]} matrix {x} is used where a scalar is "
                        "expected")
                if x not in slot:
                    slot[x] = VARS[len(args)]
                    args.append(self.node(x))
                return slot[x]
            if registry.lookup(type(x)) is None:
                raise UnsupportedError(f"unsupported function {type(x).__name__} in {e}")
            return x.func(*[walk(a) for a in x.args])

        return walk(sp.sympify(e)), args


_MATRIX_RULES: tuple[tuple[type, str], ...] = (
    (sp.MatrixSymbol, "_m_symbol"),
    (sp.Identity, "_m_identity"),
    (sp.OneMatrix, "_m_ones"),
    (sp.ZeroMatrix, "_m_zeros"),
    (sp.Transpose, "_m_transpose"),
    (sp.Inverse, "_m_inverse"),
    (sp.MatPow, "_m_matpow"),
    (sp.MatMul, "_m_matmul"),
    (sp.KroneckerProduct, "_m_kron"),
    (KronAdjoint, "_m_kron_adjoint"),
    (sp.MatAdd, "_m_matadd"),
    (sp.HadamardProduct, "_m_hadamard"),
    (sp.HadamardPower, "_m_hadamard_power"),
    (ops.Elementwise, "_m_elementwise"),
    (ElementwiseApplyFunction, "_m_applyfunc"),
    *((r.head, "_m_column") for r in registry.COLUMN_ROWS),
)


_COLUMN_OP = {r.head: r.op for r in registry.COLUMN_ROWS}


def to_graph(exprs: Iterable[sp.Basic]) -> tuple[Graph, list[int]]:
    """Convert expressions into one Graph; return it and their node ids.

    >>> x, w = sp.symbols('x w')
    >>> g, (f,) = to_graph([ops.logistic(w * x)])
    >>> g.nodes[f].op, g.nodes[f].attr
    ('ew', logistic(_0*_1))
    """
    exprs = [sp.sympify(e) for e in exprs]
    fe = Frontend(dims=_shape_symbols(exprs))
    ids = [fe.add(e) for e in exprs]
    fe.g.outputs = list(ids)
    return fe.g, ids
