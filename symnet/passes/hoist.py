"""Loop-invariant parts of elementwise bodies as nodes of their own, computed once per row,
column or step instead of once per entry."""

from __future__ import annotations

import sympy as sp

from ..graph import VARS, Graph, Node, rebuild

__all__ = ["COL", "FULL", "ONE", "ROW", "hoist", "kind", "lift"]

#: How an argument varies over a matrix loop: with both indices, only with the
#: row index (a column vector), only with the column index (a row vector), or not at all.
FULL, ROW, COL, ONE = "full", "row", "col", "one"


def kind(shape, out) -> str:
    """How an argument of ``shape`` varies over a loop of shape ``out``."""
    if shape == out:
        return FULL
    if shape[0] == 1 and shape[1] == 1:
        return ONE
    return ROW if shape[1] == 1 else COL


def _linear(body: sp.Expr, full: list[sp.Symbol]) -> sp.Expr | None:
    """``body`` as sum_k c_k F_k + c0 when it is linear in the full arguments F
    (the coefficients then vary along one axis at most), else None."""
    if not full or not body.is_polynomial(*full):
        return None
    coeffs = [sp.diff(body, f) for f in full]
    if any(c.free_symbols & set(full) for c in coeffs):
        return None
    # The rest expanded: -a (r c + s c') hoists as (-a r) c + (-a s) c'.
    rest = sp.expand(body.xreplace({f: 0 for f in full}))
    regrouped = sp.Add(*[sp.factor_terms(c) * f for c, f in zip(coeffs, full, strict=True)],
                       rest)
    if sp.expand(regrouped - body) != 0:
        return None
    return regrouped


class _Hoister:
    """Replaces the parts of a body that vary along one axis (or none) by symbols."""

    def __init__(self, kinds: dict[sp.Symbol, str]):
        self.kinds = kinds
        self.found: dict[sp.Expr, sp.Symbol] = {}

    def _kinds(self, e: sp.Expr) -> set[str]:
        return {self.kinds[s] for s in e.free_symbols if s in self.kinds}

    def _hoisted(self, e: sp.Expr) -> sp.Expr:
        if e.is_Atom:
            return e
        sym = self.found.get(e)
        if sym is None:
            sym = self.found[e] = sp.Symbol(f"__h{len(self.found)}")
        return sym

    def walk(self, e: sp.Expr) -> sp.Expr:
        if e.is_Atom:
            return e
        ks = self._kinds(e)
        if FULL not in ks and not {ROW, COL} <= ks:
            return self._hoisted(e)
        if not (e.is_Mul or e.is_Add):
            return e.func(*[self.walk(a) for a in e.args])
        # Split the operands of a product or sum by the axis they vary along: the
        # per-row part (with the per-step factors), the per-column part, the rest.
        groups: dict[str, list] = {ROW: [], COL: [], ONE: []}
        rest = []
        for a in e.args:
            ka = self._kinds(a)
            if FULL in ka or {ROW, COL} <= ka:
                rest.append(self.walk(a))
            else:
                groups[ROW if ROW in ka else COL if COL in ka else ONE].append(a)
        target = ROW if groups[ROW] else COL if groups[COL] else ONE
        groups[target] += groups[ONE] if target != ONE else []
        for k in (ROW, COL) if target != ONE else (ONE,):
            if groups[k]:
                rest.append(self._hoisted(e.func(*groups[k])))
        return e.func(*rest)


def lift(body: sp.Expr, kinds: dict[sp.Symbol, str]
         ) -> tuple[sp.Expr, dict[sp.Expr, sp.Symbol]] | None:
    """``body`` with its parts that vary along one axis at most replaced by new
    symbols, and those parts by symbol; None where that saves nothing per entry.
    ``kinds`` gives each argument's :func:`kind`."""
    if not {ROW, COL} & set(kinds.values()):
        return None
    cost = sp.count_ops(body)
    if cost < 3:  # a bias add, a scaled column: nothing to take out
        return None
    # The body as written, and regrouped by its full-size arguments: the one
    # that leaves fewer operations per entry.
    best = None
    for form in (body, _linear(body, [v for v, kd in kinds.items() if kd == FULL])):
        if form is None:
            continue
        h = _Hoister(kinds)
        lifted = h.walk(form)
        ops = sp.count_ops(lifted)
        if h.found and ops < cost and (best is None or ops < best[0]):
            best = (ops, lifted, h.found)
    return None if best is None else best[1:]


def part_shape(part: sp.Expr, kinds: dict[sp.Symbol, str], out) -> tuple:
    """The shape of a lifted part: a column of the loop, a row of it, or 1 x 1."""
    kd = {kinds[s] for s in part.free_symbols if s in kinds}
    return (out[0], 1) if ROW in kd else (1, out[1]) if COL in kd else (1, 1)


def _hoist_node(new: Graph, n: Node, args: list[int]) -> int:
    out = n.shape
    kinds = {VARS[k]: kind(new.shape(a), out) for k, a in enumerate(args)}
    done = lift(n.attr, kinds)
    if done is None:
        return -1
    lifted, found = done
    ids = []
    for e in found:
        used = sorted(VARS.index(s) for s in VARS.among(e.free_symbols))
        part = e.xreplace({VARS[k]: VARS[j] for j, k in enumerate(used)})
        ids.append(new.ew(part, [args[k] for k in used], part_shape(e, kinds, out)))
    extra = {sym: VARS[len(args) + j] for j, sym in enumerate(found.values())}
    return new.ew(lifted.xreplace(extra), [*args, *ids], out)


def hoist(g: Graph) -> Graph:
    """Give the parts of a matrix-shaped elementwise body that vary along one
    axis only (or not at all) nodes of their own, so they are computed once per
    row, column or step; a body linear in its full-size arguments is first
    regrouped by them. Applied only where the body has per-row or per-column
    arguments and gets cheaper per entry.

    An SGD step's rank-one update W - a (delta x^T + lam W) becomes
    (1 - a lam) W + (-a delta) x^T: one multiply and one fused multiply-add per
    weight instead of three operations.

    >>> import sympy as sp
    >>> from symnet.graph import VARS
    >>> g = Graph()
    >>> W, d, x, a = (g.leaf(sp.MatrixSymbol(n, *s)) for n, s in
    ...               (("W", (3, 4)), ("d", (3, 1)), ("x", (1, 4)), ("a", (1, 1))))
    >>> v0, v1, v2, v3 = VARS[:4]
    >>> u = g.ew(v0 - v3 * (v1 * v2 + v0 / 10), [W, d, x, a], (3, 4))
    >>> g.outputs = [u]
    >>> h = hoist(g)
    >>> [(str(n.attr), n.shape) for n in h.nodes if n.op == "ew"]  # W, x, then the hoisted
    [('1 - _0/10', (1, 1)), ('-_0*_1', (3, 1)), ('_0*_2 + _1*_3', (3, 4))]
    """

    def fn(new: Graph, i: int, n: Node, args: list[int]) -> int:
        if n.op != "ew" or n.shape[0] == 1 or n.shape[1] == 1:
            return -1
        return _hoist_node(new, n, args)

    return rebuild(g, fn)[0]
