"""Matrix-level IR of symnet: nodes, the hash-consed Graph, and its verifier.

Every value is a matrix with a static shape ``(rows, cols)`` whose entries are
SymPy integers or symbols; a scalar is the 1 x 1 case. Node kinds:

========== ==================== ===========================================
op         args                 attr
========== ==================== ===========================================
leaf       ()                   the SymPy Symbol / MatrixSymbol / Identity
const      ()                   a SymPy number filling the whole shape
matmul     (A, B)               (transpose A?, transpose B?)
transpose  (A,)                 None
ew         (A, B, ...)          scalar body in the variables ``VARS[i]``
reduce     (A,)                 axis: 0 (column sums), 1 (row sums), None (all)
softmax    (Z,)                 None (column-wise)
log_softmax (Z,)                None
logsumexp  (Z,)                 None (one row: a value per column)
solve      (A, B)               None (A^-1 B, A square; A^-1 is solve(A, I))
det        (A,)                 None (1 x 1)
logdet     (A,)                 None (1 x 1: log det A, NaN where det A < 0)
kron       (A, B)               None (Kronecker product A (x) B, concrete shapes)
kron_adj_a (G, B)               None (dA[i, j] = sum_kl G[ip+k, jq+l] B[k, l])
kron_adj_b (G, A)               None (dB[k, l] = sum_ij G[ip+k, jq+l] A[i, j])
========== ==================== ===========================================

``ew`` applies its body entry by entry; an argument with one row or one
column (or 1 x 1) is broadcast to the node's shape. Nodes are hash-consed: a
structurally equal node is stored once, which is common-subexpression
elimination at matrix level for free.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sympy as sp

from .errors import GraphError, ShapeError
from .graph_matrix import MatrixBuilders, _dims_equal
from .symseq import SymbolSeq

OPS = ("leaf", "const", "matmul", "transpose", "ew", "reduce", "softmax", "log_softmax",
       "logsumexp", "solve", "det", "logdet", "kron", "kron_adj_a", "kron_adj_b")
COLUMN_OPS = ("softmax", "log_softmax", "logsumexp")
#: Dense linear algebra on a square matrix A (args[0]): solve(A, B) = A^-1 B,
#: det(A), logdet(A) = log(det A) (NaN where det A < 0).
LINALG_OPS = ("solve", "det", "logdet")
#: The Kronecker product A (x) B and the adjoints of its factors.
KRON_OPS = ("kron", "kron_adj_a", "kron_adj_b")

#: The variables of an ``ew`` body: argument i is ``VARS[i]``.
VARS = SymbolSeq("_", 4096)

Shape = tuple[sp.Expr, sp.Expr]
ONE = sp.S.One


@dataclass(frozen=True)
class Node:
    op: str
    args: tuple[int, ...]
    shape: Shape
    attr: object = None


def body_vars(body: sp.Expr) -> list[int]:
    """Indices of the argument variables a body uses, sorted."""
    return list(_body_vars(body))


@functools.lru_cache(maxsize=4096)
def _body_vars(body: sp.Expr) -> tuple[int, ...]:
    # SymPy recomputes free_symbols on each access; bodies recur in every pass.
    return tuple(sorted(VARS.index(s) for s in VARS.among(body.free_symbols)))


def _leaf_node(sym: sp.Basic) -> Node:
    shape = tuple(sym.shape) if getattr(sym, "is_Matrix", False) else (ONE, ONE)
    return Node("leaf", (), (sp.sympify(shape[0]), sp.sympify(shape[1])), sym)


def fmt_shape(shape: Shape) -> str:
    return f"{shape[0]} x {shape[1]}"


@dataclass
class Graph(MatrixBuilders):
    """A DAG of nodes in topological order (a node's args precede it)."""

    nodes: list[Node] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    #: names of nodes for printing (``z1``, ``a1``, ``delta1``)
    names: dict[int, str] = field(default_factory=dict)
    _index: dict[Node, int] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------ building
    def add(self, node: Node) -> int:
        found = self._index.get(node)
        if found is not None:
            return found
        self.nodes.append(node)
        self._index[node] = len(self.nodes) - 1
        return len(self.nodes) - 1

    def add_node(self, op: str, args: tuple[int, ...], shape: Shape, attr: object = None) -> int:
        return self.add(Node(op, args, shape, attr))

    def shape(self, i: int) -> Shape:
        return self.nodes[i].shape

    def leaf(self, sym: sp.Basic) -> int:
        return self.add(_leaf_node(sym))

    def const(self, value, shape: Shape = (ONE, ONE)) -> int:
        value = sp.sympify(value)
        if VARS.among(value.free_symbols):
            raise GraphError(f"const needs a number or a function of dimensions, got {value}")
        return self.add(Node("const", (), (sp.sympify(shape[0]), sp.sympify(shape[1])), value))

    def is_const(self, i: int, value=None) -> bool:
        n = self.nodes[i]
        return n.op == "const" and (value is None or n.attr == value)

    def ew(self, body, args: Iterable[int], shape: Shape | None = None) -> int:
        """Elementwise node, canonicalized: unused and repeated args dropped,
        args sorted by id, constant args folded in, the identity elided."""
        body = sp.sympify(body)
        args = list(args)
        shapes = [self.shape(a) for a in args]
        out = _broadcast(shapes) if shape is None else (sp.sympify(shape[0]), sp.sympify(shape[1]))
        for s in shapes:
            for d, o in zip(s, out, strict=True):
                if not (d == 1 or _dims_equal(d, o)):
                    raise ShapeError(
                        f"elementwise {body}: argument of shape {fmt_shape(s)} does not broadcast "
                        f"to {fmt_shape(out)}")
        # Fold constants, see through pure broadcasts (this node broadcasts
        # anyway) and merge duplicate args.
        reps: dict[sp.Symbol, sp.Expr] = {}
        keep: dict[int, sp.Symbol] = {}
        for i, a in enumerate(args):
            v = VARS[i]
            n = self.nodes[a]
            if n.op == "ew" and n.attr == VARS[0] and len(n.args) == 1 and n.shape == out:
                a, n = n.args[0], self.nodes[n.args[0]]
            if n.op == "const":
                reps[v] = n.attr
            elif a in keep:
                reps[v] = keep[a]
            else:
                keep[a] = v
        if reps:
            body = body.xreplace(reps)
        used = set(_body_vars(body))
        if not used:
            return self.const(body, out)
        order = sorted(a for a, v in keep.items() if VARS.index(v) in used)
        renum = {keep[a]: VARS[j] for j, a in enumerate(order) if keep[a] != VARS[j]}
        if renum:  # (rebuilding a canonical node renumbers nothing)
            body = body.xreplace(renum)
        if body == VARS[0] and len(order) == 1 and self.shape(order[0]) == out:
            return order[0]
        return self.add(Node("ew", tuple(order), out, body))

    # ------------------------------------------------------------ queries
    def users(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.nodes]
        for i, n in enumerate(self.nodes):
            for a in n.args:
                out[a].append(i)
        return out

    def live(self, roots: Iterable[int] | None = None) -> list[bool]:
        alive = [False] * len(self.nodes)
        stack = list(self.outputs if roots is None else roots)
        while stack:
            i = stack.pop()
            if not alive[i]:
                alive[i] = True
                stack.extend(self.nodes[i].args)
        return alive

    def live_nodes(self) -> list[Node]:
        """The nodes the outputs depend on, in order."""
        alive = self.live()
        return [n for i, n in enumerate(self.nodes) if alive[i]]

    def leaves(self) -> list[int]:
        return [i for i, n in enumerate(self.nodes) if n.op == "leaf"]

    def find_leaf(self, sym: sp.Basic) -> int | None:
        hit = self._index.get(_leaf_node(sym))
        if hit is not None:  # the node leaf() adds; a scan per call was quadratic
            return hit
        for i, n in enumerate(self.nodes):
            if n.op == "leaf" and n.attr == sym:
                return i
        return None

    def count(self) -> dict[str, int]:
        alive = self.live()
        out: dict[str, int] = {}
        for i, n in enumerate(self.nodes):
            if alive[i]:
                out[n.op] = out.get(n.op, 0) + 1
        return out

    def table(self) -> str:
        """One line per live node: id, name, op, shape, args, attr."""
        alive = self.live()
        lines = []
        for i, n in enumerate(self.nodes):
            if not alive[i]:
                continue
            name = self.names.get(i, "")
            attr = "" if n.attr is None else f" {n.attr}"
            out = "  <- output" if i in self.outputs else ""
            lines.append(f"%{i:<4} {name:<8} {n.op:<11} {fmt_shape(n.shape):<12} "
                         f"{list(n.args)}{attr}{out}")
        return "\n".join(lines)

    __str__ = table


def _broadcast(shapes: list[Shape]) -> Shape:
    rows, cols = ONE, ONE
    for r, c in shapes:
        if rows == 1:
            rows = r
        elif r != 1 and not _dims_equal(r, rows):
            raise ShapeError(f"rows {rows} and {r} do not broadcast")
        if cols == 1:
            cols = c
        elif c != 1 and not _dims_equal(c, cols):
            raise ShapeError(f"columns {cols} and {c} do not broadcast")
    return rows, cols


_TMP = SymbolSeq("__t", len(VARS))


def inline_args(g: Graph, body: sp.Expr, args: list[int],
                should_inline: Callable[[int], bool]) -> tuple[sp.Expr, list[int]]:
    """Substitute into ``body`` the bodies of its ew args a with should_inline(a).

    Returns the new body and its (deduplicated) argument list.
    """
    flat: list[int] = []

    def slot(a: int) -> sp.Symbol:
        if a not in flat:
            flat.append(a)
        return _TMP[flat.index(a)]

    reps = {}
    for k, a in enumerate(args):
        src = g.nodes[a]
        if src.op == "ew" and should_inline(a):
            reps[VARS[k]] = src.attr.xreplace({VARS[j]: slot(sa) for j, sa in enumerate(src.args)})
        else:
            reps[VARS[k]] = slot(a)
    body = body.xreplace(reps).xreplace({_TMP[j]: VARS[j] for j in range(len(flat))})
    return body, flat


def rebuild(g: Graph, fn: Callable[[Graph, int, Node, list[int]], int] | None = None,
            roots: Iterable[int] | None = None) -> tuple[Graph, list[int | None]]:
    """Copy the live part of ``g`` into a fresh Graph through the node builders.

    ``fn(new, i, node, new_args)`` may return a replacement node id in ``new``
    (or -1 to copy the node). Returns the new graph and the old -> new map.
    Going through the builders re-canonicalizes every node.
    """
    new = Graph()
    roots = list(g.outputs if roots is None else roots)
    alive = g.live(roots)
    remap: list[int | None] = [None] * len(g.nodes)
    for i, n in enumerate(g.nodes):
        if not alive[i]:
            continue
        args = [remap[a] for a in n.args]
        r = fn(new, i, n, args) if fn is not None else -1
        if r == -1:
            r = copy_node(new, n, args)
        remap[i] = r
    new.outputs = [remap[o] for o in g.outputs]
    for i, name in g.names.items():
        if remap[i] is not None and remap[i] not in new.names:
            new.names[remap[i]] = name
    verify(new)
    return new, remap


def copy_node(new: Graph, n: Node, args: list[int]) -> int:
    """Add node ``n`` with new args to ``new`` through its canonicalizing builder."""
    if n.op == "leaf":
        return new.leaf(n.attr)
    if n.op == "const":
        return new.const(n.attr, n.shape)
    if n.op == "matmul":
        return new.matmul(args[0], args[1], *n.attr)
    if n.op == "transpose":
        return new.transpose(args[0])
    if n.op == "ew":
        return new.ew(n.attr, args, n.shape)
    if n.op == "reduce":
        return new.reduce(args[0], n.attr)
    if n.op in COLUMN_OPS:
        return new.column_op(n.op, args[0])
    if n.op == "solve":
        return new.solve(args[0], args[1])
    if n.op in ("det", "logdet"):
        return getattr(new, n.op)(args[0])
    if n.op == "kron":
        return new.kron(args[0], args[1])
    if n.op in ("kron_adj_a", "kron_adj_b"):
        return new.kron_adj(args[0], args[1], n.op[-1])
    raise GraphError(f"unknown op {n.op}")


_ARITY = {"leaf": 0, "const": 0, "matmul": 2, "transpose": 1, "reduce": 1, "solve": 2, "det": 1,
          "logdet": 1, "kron": 2, "kron_adj_a": 2, "kron_adj_b": 2}


def verify(g: Graph) -> None:
    """Check the IR invariants; raise GraphError naming the node that breaks one."""
    for i, n in enumerate(g.nodes):
        if n.op not in OPS:
            raise GraphError(f"%{i}: unknown op {n.op!r}")
        if any(not 0 <= a < i for a in n.args):
            raise GraphError(f"%{i} {n.op}: args {n.args} not before it")
        if len(n.shape) != 2:
            raise GraphError(f"%{i}: shape {n.shape} is not 2-D")
        if n.op in _ARITY and len(n.args) != _ARITY[n.op]:
            raise GraphError(f"%{i} {n.op}: {len(n.args)} args")
        if n.op in COLUMN_OPS and len(n.args) != 1:
            raise GraphError(f"%{i} {n.op}: {len(n.args)} args")
        if n.op == "ew":
            used = body_vars(n.attr)
            if any(v >= len(n.args) for v in used):
                raise GraphError(f"%{i} ew: body {n.attr} uses a variable beyond its "
                                 f"{len(n.args)} args")
            for a in n.args:
                for d, o in zip(g.nodes[a].shape, n.shape, strict=True):
                    if not (d == 1 or _dims_equal(d, o)):
                        raise GraphError(f"%{i} ew: arg %{a} shape {g.nodes[a].shape} vs {n.shape}")
        if n.op == "matmul":
            sa, sb = g.nodes[n.args[0]].shape, g.nodes[n.args[1]].shape
            ta, tb = n.attr
            inner_a = sa[0] if ta else sa[1]
            inner_b = sb[1] if tb else sb[0]
            if not _dims_equal(inner_a, inner_b):
                raise GraphError(f"%{i} matmul: inner dims {inner_a} vs {inner_b}")
    for o in g.outputs:
        if not 0 <= o < len(g.nodes):
            raise GraphError(f"output %{o} does not exist")
