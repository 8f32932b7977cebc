"""Graph builders of the matrix nodes: products, transposes, reductions, column ops,
linear algebra (solve, det, logdet) and Kronecker products."""

from __future__ import annotations

import sympy as sp

from .errors import ShapeError

__all__ = ["MatrixBuilders"]

ONE = sp.S.One
#: The first variable of an elementwise body (``graph.VARS[0]``).
_V0 = sp.Symbol("_0")


def _dims_equal(a, b) -> bool:
    return a == b or sp.simplify(sp.sympify(a) - sp.sympify(b)) == 0


def _concrete(what: str, *dims) -> None:
    if not all(sp.sympify(d).is_Integer for d in dims):
        shown = ", ".join(map(str, dims))
        raise ShapeError(f"{what} needs concrete shapes, got dimensions {shown}")



class MatrixBuilders:
    """The canonicalizing builders of every node but leaves, constants and
    elementwise ones (a mixin of :class:`~symnet.graph.Graph`, which supplies
    ``add_node``, ``shape``, ``leaf``, ``const``, ``is_const`` and ``ew``)."""

    def matmul(self, a: int, b: int, ta: bool = False, tb: bool = False) -> int:
        sa, sb = self.shape(a), self.shape(b)
        ra, ca = (sa[1], sa[0]) if ta else sa
        rb, cb = (sb[1], sb[0]) if tb else sb
        if not _dims_equal(ca, rb):
            raise ShapeError(
                f"matrix product of {ra} x {ca} by {rb} x {cb}: inner dimensions {ca} and {rb} "
                "differ")
        # A product with a zero is zero; keep the shape.
        if self.is_const(a, 0) or self.is_const(b, 0):
            return self.const(0, (ra, cb))
        # A product with a constant matrix c*1 is a broadcast of sums.
        if self.nodes[a].op == "const":
            sums = self._sums(b, tb, axis=0)
            return self.ew(self.nodes[a].attr * _V0, [sums], (ra, cb))
        if self.nodes[b].op == "const":
            sums = self._sums(a, ta, axis=1)
            return self.ew(self.nodes[b].attr * _V0, [sums], (ra, cb))
        # Move transposes into the flags so (A^T)^T and A^T B share nodes.
        na, nb = self.nodes[a], self.nodes[b]
        if na.op == "transpose":
            a, ta = na.args[0], not ta
        if nb.op == "transpose":
            b, tb = nb.args[0], not tb
        return self.add_node("matmul", (a, b), (ra, cb), (ta, tb))

    def _sums(self, a: int, transposed: bool, axis: int) -> int:
        """Column (axis 0) or row (axis 1) sums of A, or of A^T if transposed."""
        if transposed:
            return self.transpose(self.reduce(a, 1 - axis))
        return self.reduce(a, axis)

    def transpose(self, a: int) -> int:
        n = self.nodes[a]
        if n.op == "transpose":
            return n.args[0]
        if n.shape == (ONE, ONE):
            return a
        if n.op == "const":
            return self.const(n.attr, (n.shape[1], n.shape[0]))
        if n.op == "leaf" and isinstance(n.attr, sp.Identity):
            return a
        return self.add_node("transpose", (a,), (n.shape[1], n.shape[0]))

    def reduce(self, a: int, axis: int | None) -> int:
        r, c = self.shape(a)
        shape = {0: (ONE, c), 1: (r, ONE), None: (ONE, ONE)}[axis]
        n = self.nodes[a]
        # Summing over a length-1 axis does nothing.
        if {0: r, 1: c, None: r * c}[axis] == 1:
            return a
        if axis is None and r == 1:
            return self.reduce(a, 1)
        if axis is None and c == 1:
            return self.reduce(a, 0)
        if n.op == "const":
            count = {0: r, 1: c, None: r * c}[axis]
            return self.const(n.attr * count, shape)
        return self.add_node("reduce", (a,), shape, axis)

    def column_op(self, op: str, a: int) -> int:
        r, c = self.shape(a)
        shape = (ONE, c) if op == "logsumexp" else (r, c)
        return self.add_node(op, (a,), shape)

    def _square(self, a: int, what: str) -> sp.Expr:
        r, c = self.shape(a)
        if not _dims_equal(r, c):
            raise ShapeError(f"{what} of a non-square {r} x {c} matrix")
        return r

    def solve(self, a: int, b: int) -> int:
        """A^-1 B for square A (no inverse is formed)."""
        n = self._square(a, "inverse")
        rb, cb = self.shape(b)
        if not _dims_equal(n, rb):
            raise ShapeError(f"A^-1 B with A {n} x {n} and B {rb} x {cb}: B needs {n} rows")
        if self.is_const(b, 0):
            return self.const(0, (n, cb))
        return self.add_node("solve", (a, b), (n, cb))

    def det(self, a: int) -> int:
        self._square(a, "determinant")
        return self.add_node("det", (a,), (ONE, ONE))

    def logdet(self, a: int) -> int:
        self._square(a, "log-determinant")
        return self.add_node("logdet", (a,), (ONE, ONE))

    def kron(self, a: int, b: int) -> int:
        (m, n), (p, q) = self.shape(a), self.shape(b)
        _concrete("Kronecker product", m, n, p, q)
        return self.add_node("kron", (a, b), (m * p, n * q))

    def kron_adj(self, G: int, other: int, side: str) -> int:
        """The adjoint of one factor of a Kronecker product from the product's
        adjoint ``G`` and the ``other`` factor (``side``: which factor, a or b)."""
        (rows, cols), (r, c) = self.shape(G), self.shape(other)
        _concrete("Kronecker product", rows, cols, r, c)
        if rows % r or cols % c:
            raise ShapeError(f"Kronecker adjoint: {rows} x {cols} is not a multiple of {r} x {c}")
        # Either way the factor's shape is G's over the other factor's.
        shape = (sp.Integer(rows // r), sp.Integer(cols // c))
        return self.add_node(f"kron_adj_{side}", (G, other), shape)

    def inverse(self, a: int) -> int:
        """A^-1 as a solve against the identity."""
        return self.solve(a, self.leaf(sp.Identity(self.shape(a)[0])))

