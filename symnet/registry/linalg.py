"""Rows of the matrix ops beyond products: solve (A^-1 B), det and log det of a
square matrix, and the Kronecker product with the adjoints of its factors.

Each row holds the op's SymPy form (what :mod:`symnet.tosympy` prints), its
NumPy runtime form, its reverse-mode rule on the graph and a description of
its LLVM form (``symnet/backends/llvm/linalg.py``: Gaussian elimination with
partial pivoting, no libraries). The front end maps ``Inverse``, integer
``MatPow``, ``Determinant`` and ``log(Determinant)`` onto them; an inverse
used in a product is a solve against the rest of the product, never an
explicit inverse times a matrix. ``KroneckerProduct`` (concrete shapes) is
``kron``; its LLVM form is a loop nest (``symnet/backends/llvm/kron.py``).

>>> [r.op for r in LINALG_ROWS]
['solve', 'det', 'logdet', 'kron', 'kron_adj_a', 'kron_adj_b']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..graph import KRON_OPS, LINALG_OPS, VARS, Graph, Node

__all__ = ["LINALG_ROWS", "KronAdjoint", "LinalgOp", "det", "kron", "kron_adj_a", "kron_adj_b",
           "linalg_row", "logdet", "solve"]


class KronAdjoint(sp.MatrixExpr):
    """The adjoint of one factor of a Kronecker product, as a SymPy matrix
    (how a derived formula prints it): ``KronAdjoint(G, other, side)`` with
    side 0 for the first factor, 1 for the second."""

    def __new__(cls, G, other, side):
        return super().__new__(cls, G, other, sp.sympify(side))

    @property
    def shape(self):
        (rows, cols), (r, c) = self.args[0].shape, self.args[1].shape
        return (rows // r, cols // c)

    def _sympystr(self, printer):
        side = "A" if self.args[2] == 0 else "B"
        return (f"kron_adjoint_{side}({printer._print(self.args[0])}, "
                f"{printer._print(self.args[1])})")


@dataclass(frozen=True)
class LinalgOp:
    """Everything about one linear-algebra op of the IR."""

    op: str
    head: type                  # the SymPy head it comes from
    numpy: Callable             # runtime form, printed ``op(args)``
    #: reverse-mode rule: (graph, node id, node, upstream G) -> [(arg, contribution)]
    derive: Callable[..., list]
    #: the node as SymPy, from its arguments' SymPy forms
    sympy: Callable[..., sp.Basic]
    llvm: str                   # what the LLVM backend emits (README table)
    #: forward-mode rule: (graph, node id, node, [tangent of each arg or None]) -> node
    forward: Callable[..., int | None]


def _mat(x) -> np.ndarray:
    # The NumPy backend holds 1 x 1 values as scalars.
    x = np.asarray(x)
    return x if x.ndim == 2 else x.reshape(1, 1)


def _singular(a) -> np.linalg.LinAlgError:
    n = a.shape[0]
    return np.linalg.LinAlgError(f"the {n} x {n} matrix of an inverse or solve is singular")


def solve(a, b):
    """A^-1 B by LU with partial pivoting (LAPACK ?gesv through NumPy).

    >>> solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.eye(2)).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    a, b = _mat(a), _mat(b)
    try:
        return (np.linalg.solve(a, b))
    except np.linalg.LinAlgError:
        raise _singular(a) from None


def det(a):
    """det A (a scalar of A's dtype).

    >>> round(float(det(np.array([[1.0, 2.0], [3.0, 4.0]]))), 12)
    -2.0
    """
    return np.linalg.det(_mat(a))


def logdet(a):
    """log det A from the LU factors (slogdet), so det itself never overflows.

    NaN where det A < 0 and -inf where A is singular, as log of the
    determinant is.

    >>> round(float(logdet(np.eye(3) * 1e200)), 6)
    1381.551056
    """
    a = _mat(a)
    sign, value = np.linalg.slogdet(a)
    if sign > 0:
        return value
    return a.dtype.type(-np.inf if sign == 0 else np.nan)


def _rule_solve(g: Graph, i: int, n: Node, G: int):
    # X = A^-1 B: dB = A^-T G and dA = -(A^-T G) X^T, both by solves.
    a, _ = n.args
    gb = g.solve(g.transpose(a), G)
    ga = g.ew(-VARS[0], [g.matmul(gb, i, False, True)])
    return [(0, ga), (1, gb)]


def _rule_det(g: Graph, i: int, n: Node, G: int):
    # d det A = det A * A^-T.
    a = n.args[0]
    inv_t = g.transpose(g.inverse(a))
    return [(0, g.ew(VARS[0] * VARS[1] * VARS[2], [G, i, inv_t], g.shape(a)))]


def _rule_logdet(g: Graph, i: int, n: Node, G: int):
    # d log det A = A^-T.
    a = n.args[0]
    inv_t = g.transpose(g.inverse(a))
    return [(0, g.ew(VARS[0] * VARS[1], [G, inv_t], g.shape(a)))]


def kron(a, b):
    """A (x) B.

    >>> kron(np.eye(2), np.ones((1, 2))).tolist()
    [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]
    """
    return (np.kron(_mat(a), _mat(b)))


def _blocks(G, m, p, n, q):
    # G[i p + k, j q + l] as an (m, p, n, q) array: a view, no copy.
    return np.ascontiguousarray(G).reshape(m, p, n, q)


def kron_adj_a(G, b):
    """dA[i, j] = sum_kl G[i p + k, j q + l] B[k, l] (the adjoint of A in A (x) B)."""
    G, b = _mat(G), _mat(b)
    p, q = b.shape
    return (np.einsum("ikjl,kl->ij", _blocks(G, G.shape[0] // p, p, G.shape[1] // q, q), b))


def kron_adj_b(G, a):
    """dB[k, l] = sum_ij G[i p + k, j q + l] A[i, j] (the adjoint of B in A (x) B)."""
    G, a = _mat(G), _mat(a)
    m, n = a.shape
    return (np.einsum("ikjl,ij->kl", _blocks(G, m, G.shape[0] // m, n, G.shape[1] // n), a))


def _rule_kron(g: Graph, i: int, n: Node, G: int):
    a, b = n.args
    return [(0, g.kron_adj(G, b, "a")), (1, g.kron_adj(G, a, "b"))]


def _rule_kron_adj_a(g: Graph, i: int, n: Node, H: int):
    # Linear in both: out = sum G (x)-blocks * B, so dG = H (x) B, dB = adj_b(G, H).
    G, b = n.args
    return [(0, g.kron(H, b)), (1, g.kron_adj(G, H, "b"))]


def _rule_kron_adj_b(g: Graph, i: int, n: Node, H: int):
    G, a = n.args
    return [(0, g.kron(a, H)), (1, g.kron_adj(G, H, "a"))]


# ------------------------------------------------------------ forward-mode rules
# (graph, node id, node, [tangent of each argument, None where zero]) -> tangent.


def _plus(g: Graph, parts: list[int], shape) -> int | None:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else g.ew(VARS[0] + VARS[1], parts, shape)


def _fwd_solve(g: Graph, i: int, n: Node, T: list) -> int | None:
    # X = A^-1 B: dX = A^-1 (dB - dA X).
    a, _ = n.args
    da, db = T
    minus = None if da is None else g.ew(-VARS[0], [g.matmul(da, i)], n.shape)
    rhs = _plus(g, [db, minus], n.shape)
    return None if rhs is None else g.solve(a, rhs)


def _inner_inv_t(g: Graph, a: int, da: int) -> int:
    # <A^-T, dA> = tr(A^-1 dA), summed over every entry.
    inv_t = g.transpose(g.inverse(a))
    return g.reduce(g.ew(VARS[0] * VARS[1], [inv_t, da], g.shape(a)), None)


def _fwd_det(g: Graph, i: int, n: Node, T: list) -> int | None:
    (da,) = T
    if da is None:
        return None
    return g.ew(VARS[0] * VARS[1], [i, _inner_inv_t(g, n.args[0], da)], n.shape)


def _fwd_logdet(g: Graph, i: int, n: Node, T: list) -> int | None:
    (da,) = T
    return None if da is None else _inner_inv_t(g, n.args[0], da)


def _fwd_bilinear(build: Callable[[Graph, int, int], int]):
    # A product linear in each argument: d f(x, y) = f(dx, y) + f(x, dy).
    def rule(g: Graph, i: int, n: Node, T: list) -> int | None:
        x, y = n.args
        dx, dy = T
        return _plus(g, [None if dx is None else build(g, dx, y),
                         None if dy is None else build(g, x, dy)], n.shape)
    return rule


def _sympy_solve(a, b):
    inv = sp.Inverse(a)
    return inv if isinstance(b, sp.Identity) else sp.MatMul(inv, b)


LINALG_ROWS: tuple[LinalgOp, ...] = (
    LinalgOp("solve", sp.Inverse, solve, _rule_solve, _sympy_solve,
             "Gaussian elimination with partial pivoting on [A | B], back substitution",
             _fwd_solve),
    LinalgOp("det", sp.Determinant, det, _rule_det, sp.Determinant,
             "elimination with partial pivoting: product of the pivots, signed", _fwd_det),
    LinalgOp("logdet", sp.log, logdet, _rule_logdet, lambda a: sp.log(sp.Determinant(a)),
             "elimination with partial pivoting: sum of log |pivot|, NaN for det < 0",
             _fwd_logdet),
    LinalgOp("kron", sp.KroneckerProduct, kron, _rule_kron, sp.KroneckerProduct,
             "loop nest over (i, k, j, l)", _fwd_bilinear(lambda g, x, y: g.kron(x, y))),
    LinalgOp("kron_adj_a", sp.KroneckerProduct, kron_adj_a, _rule_kron_adj_a,
             lambda G, b: KronAdjoint(G, b, sp.S.Zero), "loop nest, sums over (k, l)",
             _fwd_bilinear(lambda g, x, y: g.kron_adj(x, y, "a"))),
    LinalgOp("kron_adj_b", sp.KroneckerProduct, kron_adj_b, _rule_kron_adj_b,
             lambda G, a: KronAdjoint(G, a, sp.S.One), "loop nest, sums over (i, j)",
             _fwd_bilinear(lambda g, x, y: g.kron_adj(x, y, "b"))),
)
assert tuple(r.op for r in LINALG_ROWS) == LINALG_OPS + KRON_OPS

_BY_OP = {r.op: r for r in LINALG_ROWS}


def linalg_row(op: str) -> LinalgOp:
    return _BY_OP[op]
