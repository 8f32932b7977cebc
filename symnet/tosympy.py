"""Print Graph nodes back to SymPy matrix expressions (readable formulas)."""

from __future__ import annotations

import sympy as sp

from . import ops
from .graph import VARS, Graph
from .ops import is_matrix
from .registry.linalg import linalg_row

__all__ = ["ToSympy"]


class ToSympy:
    """Convert nodes to SymPy; nodes in ``symbols`` print as that symbol.

    Elementwise bodies become Hadamard products, matrix sums and
    :class:`symnet.ops.Elementwise` applications, so a derivative reads as
    ``a1 o (1 - a1) o (W2^T delta2)`` rather than as a lambda.
    """

    def __init__(self, g: Graph, symbols: dict[int, sp.Basic] | None = None):
        self.g = g
        self.symbols = dict(symbols or {})
        self.memo: dict[int, sp.Basic] = {}

    def __call__(self, i: int) -> sp.Basic:
        if i in self.symbols:
            return self.symbols[i]
        return self.expr(i)

    def expr(self, i: int) -> sp.Basic:
        """The node's own expression (not its name)."""
        hit = self.memo.get(i)
        if hit is not None:
            return hit
        # Node ids are topological: converting the needed ancestors in id
        # order means each conversion finds its arguments done, so no
        # recursion grows with the network's depth.
        for j in self._pending(i):
            n = self.g.nodes[j]
            out = self.memo[j] = getattr(self, "_" + n.op)(n)
            hash(out)  # now, one layer deep; SymPy's lazy hash would recurse
        return self.memo[i]

    def _pending(self, i: int) -> list[int]:
        need, stack = {i}, [i]
        while stack:
            for a in self.g.nodes[stack.pop()].args:
                if a not in need and a not in self.memo and a not in self.symbols:
                    need.add(a)
                    stack.append(a)
        return sorted(need)

    # ------------------------------------------------------------ one method per op
    def _leaf(self, n):
        return n.attr

    def _const(self, n):
        if n.shape == (1, 1):
            return n.attr
        if n.attr == 0:
            return sp.ZeroMatrix(*n.shape)
        return _times_ones(n.attr, n.shape)

    def _matmul(self, n):
        a, b = (self(x) for x in n.args)
        ta, tb = n.attr
        a = _t(a) if ta else a
        b = _t(b) if tb else b
        if not is_matrix(a) and not is_matrix(b):
            return a * b
        return _product(a, b)

    def _transpose(self, n):
        return _t(self(n.args[0]))

    def _reduce(self, n):
        a = self(n.args[0])
        r, c = self.g.shape(n.args[0])
        if not is_matrix(a):
            return a * {0: r, 1: c, None: r * c}[n.attr]
        if n.attr is None:
            return ops.matsum(a)
        if n.attr == 0:
            return _product(sp.OneMatrix(1, r), a)
        return _product(a, sp.OneMatrix(c, 1))

    def _softmax(self, n):
        return ops.softmax(self(n.args[0]))

    def _log_softmax(self, n):
        return ops.log_softmax(self(n.args[0]))

    def _logsumexp(self, n):
        return ops.logsumexp(self(n.args[0]))

    def _solve(self, n):
        return linalg_row("solve").sympy(*(self(a) for a in n.args))

    def _det(self, n):
        return linalg_row("det").sympy(self(n.args[0]))

    def _logdet(self, n):
        return linalg_row("logdet").sympy(self(n.args[0]))

    def _kron(self, n):
        return linalg_row("kron").sympy(*(self(a) for a in n.args))

    def _kron_adj_a(self, n):
        return linalg_row("kron_adj_a").sympy(*(self(a) for a in n.args))

    def _kron_adj_b(self, n):
        return linalg_row("kron_adj_b").sympy(*(self(a) for a in n.args))

    def _ew(self, n):
        args = [self(a) for a in n.args]
        scalar = [not is_matrix(x) for x in args]
        if all(scalar):
            if n.shape == (1, 1):
                return n.attr.xreplace(dict(zip(VARS, args, strict=False)))
        return _Body(self.g, n, args, scalar).convert(n.attr)


def _product(*factors) -> sp.MatrixExpr:
    """A MatMul of ``factors``, flattening factors that are products (one level)."""
    flat = [f for x in factors for f in (x.args if isinstance(x, sp.MatMul) else (x,))]
    coeff = sp.Mul(*[f for f in flat if not is_matrix(f)])
    mats = [f for f in flat if is_matrix(f)]
    return _new(sp.MatMul, *mats) if coeff == 1 else _new(sp.MatMul, coeff, *mats)


def _new(head, *args) -> sp.MatrixExpr:
    """``head(*args)`` without SymPy's shape validation.

    The graph's verifier has checked every node's shapes already, and
    SymPy's check asks each argument for its shape, which is not cached and
    recurses through every layer below: printing an L-layer gradient made
    O(L^2) shape calls (167k for 256 layers). With ``evaluate=False`` and
    SymPy arguments the constructors build exactly this node.
    """
    return sp.Basic.__new__(head, *args)


def _times_ones(c, shape) -> sp.MatrixExpr:
    """The constant matrix c 1 (a constructor: an operator would run a deep doit)."""
    ones = sp.OneMatrix(*shape)
    return ones if c == 1 else _new(sp.MatMul, c, ones)


def _t(x):
    """x^T, pushed one level into a product or sum (A B)^T = B^T A^T.

    One level only, never SymPy's ``.T``: that rebuilds the whole expression
    below with a deep ``doit``, which recurses through every layer.
    """
    if not is_matrix(x):
        return x
    if isinstance(x, sp.Transpose):
        return x.arg
    if isinstance(x, sp.MatMul):
        return _new(sp.MatMul, *[_t1(a) for a in reversed(x.args)])
    if isinstance(x, (sp.MatAdd, sp.HadamardProduct)):
        return _new(type(x), *[_t1(a) for a in x.args])
    return _t1(x)


def _t1(x):
    if not is_matrix(x):
        return x
    if isinstance(x, sp.Transpose):
        return x.arg
    if isinstance(x, (sp.OneMatrix, sp.ZeroMatrix)):
        return type(x)(x.shape[1], x.shape[0])
    if isinstance(x, sp.Identity):
        return x
    return sp.Transpose(x)


class _Body:
    """Structural conversion of an elementwise body to a matrix expression."""

    def __init__(self, g: Graph, n, args, scalar):
        self.shape = n.shape
        self.env = {}
        for k, (a, x, s) in enumerate(zip(n.args, args, scalar, strict=True)):
            self.env[VARS[k]] = (x, s, g.shape(a))

    def full(self, x, shape):
        """Broadcast a matrix argument up to the node's shape."""
        r, c = self.shape
        xr, xc = shape
        if xr == 1 and r != 1:
            x = _new(sp.MatMul, sp.OneMatrix(r, 1), x)
        if xc == 1 and c != 1:
            x = _new(sp.MatMul, x, sp.OneMatrix(1, c))
        return x

    def convert(self, e):
        """Return a scalar Expr (if e is entry-independent) or a matrix expression."""
        out, is_mat = self._conv(e)
        return out if is_mat else _times_ones(out, self.shape)

    def _conv(self, e):
        if e in self.env:
            x, s, shape = self.env[e]
            return (x, False) if s else (self.full(x, shape), True)
        if not e.args or not (e.free_symbols & set(self.env)):
            return e, False
        parts = [self._conv(a) for a in e.args]
        if not any(m for _, m in parts):
            return e.func(*[p for p, _ in parts]), False
        if e.is_Add:
            terms = [p if m else _times_ones(p, self.shape) for p, m in parts]
            return _new(sp.MatAdd, *terms), True
        if e.is_Mul:
            coeff = sp.Mul(*[p for p, m in parts if not m])
            mats = [p for p, m in parts if m]
            prod = mats[0] if len(mats) == 1 else _new(sp.HadamardProduct, *mats)
            # Constructors, not operators: an operator runs a deep doit (and
            # sorts every term below), which recurses through all the layers.
            return (prod if coeff == 1 else _product(coeff, prod)), True
        if e.is_Pow and not parts[1][1]:
            return sp.HadamardPower(parts[0][0], parts[1][0]), True
        if isinstance(e, sp.Piecewise):
            # Its arguments are (expression, condition) pairs, not values: apply
            # the whole piecewise entry by entry as a Lambda of the variables.
            syms = sorted(e.free_symbols & set(self.env), key=str)
            dummies = [sp.Dummy(str(v)) for v in syms]
            lam = sp.Lambda(tuple(dummies), e.xreplace(dict(zip(syms, dummies, strict=True))))
            return ops.Elementwise(lam, *[self._conv(v)[0] for v in syms]), True
        # A function of matrices: apply it entry by entry (broadcasting inside).
        raw = []
        for a in e.args:
            if a in self.env and not self.env[a][1]:
                raw.append(self.env[a][0])
            else:
                raw.append(self._conv(a)[0])
        return ops.Elementwise(e.func, *raw), True
