"""Common-subexpression elimination, across nodes and inside elementwise bodies."""

from __future__ import annotations

import sympy as sp

from ..graph import VARS, Graph, Node, rebuild
from ..symseq import SymbolSeq

#: Stand-ins for node ids while comparing bodies of different nodes.
_NODE = SymbolSeq("__n", 2**16)


def _global(n: Node) -> sp.Expr:
    return n.attr.xreplace({VARS[k]: _NODE[a] for k, a in enumerate(n.args)})


def _local(e: sp.Expr) -> tuple[sp.Expr, list[int]]:
    ids = sorted(int(s.name[3:]) for s in e.free_symbols if s.name.startswith("__n"))
    return e.xreplace({_NODE[a]: VARS[k] for k, a in enumerate(ids)}), ids


def _keep_node_lifts(reps, bodies):
    """Put back lifted expressions that read no node (such as 1/m): they
    cost nothing to recompute and hide constants from other rewrites."""
    back: dict[sp.Symbol, sp.Expr] = {}
    kept = []
    for s, e in reps:
        e = e.xreplace(back)
        if any(x.name.startswith("__n") for x in e.free_symbols):
            kept.append((s, e))
        else:
            back[s] = e
    return kept, [b.xreplace(back) for b in bodies]


def _inline_conditions(reps: list, bodies: list) -> tuple[list, list]:
    """Put shared conditions (a Piecewise's tests) back where they are used: a
    node holds numbers, and a stored condition would come back as one."""
    back: dict[sp.Symbol, sp.Basic] = {}
    kept = []
    for sym, val in reps:
        val = val.xreplace(back) if back else val
        if isinstance(val, sp.logic.boolalg.Boolean):
            back[sym] = val
        else:
            kept.append((sym, val))
    if not back:
        return reps, bodies
    return kept, [b.xreplace(back) for b in bodies]


def cse(g: Graph) -> Graph:
    """Merge equal nodes, then lift subexpressions shared by elementwise bodies.

    The Graph builders hash-cons every node, so a rebuild merges nodes whose
    op, args, shape and attr coincide. Bodies of the same shape are then
    CSE'd together (``sympy.cse``): a subexpression that occurs in several
    bodies, e.g. logistic(w*x + b) in a value and its derivative, becomes one
    node that all of them read.

    >>> from symnet.frontend import to_graph
    >>> from symnet import logistic
    >>> x, w = sp.symbols('x w')
    >>> g, _ = to_graph([logistic(w * x), x * logistic(w * x)])
    >>> [n.attr for n in cse(g).live_nodes() if n.op == 'ew']
    [logistic(_0*_1), _0*_1]
    """
    g = rebuild(g)[0]
    alive = g.live()
    groups: dict[tuple, list[int]] = {}
    for i, n in enumerate(g.nodes):
        if alive[i] and n.op == "ew" and n.attr.args:
            groups.setdefault(n.shape, []).append(i)
    reduced: dict[int, sp.Expr] = {}
    lifts: dict[sp.Symbol, sp.Expr] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        syms = sp.numbered_symbols(f"__l{len(lifts)}_")
        reps, bodies = sp.cse([_global(g.nodes[i]) for i in members], symbols=syms,
                              optimizations=None, order="canonical")
        reps, bodies = _keep_node_lifts(*_inline_conditions(reps, bodies))
        lifts.update(reps)
        reduced.update(zip(members, bodies, strict=True))
    if not lifts:
        return g
    made: dict[sp.Symbol, int] = {}

    def materialize(new: Graph, e: sp.Expr, amap: dict[int, int]) -> tuple[sp.Expr, list[int]]:
        # Lifted symbols become nodes (made once, on first use); node
        # stand-ins are mapped to the rebuilt graph's ids. A lifted
        # expression only mentions args of the bodies it came from.
        reps = {}
        # In name order (never set order): node ids, and so the generated
        # code, must not depend on the process's hash seed.
        for s in sorted(e.free_symbols, key=lambda s: (len(s.name), s.name)):
            if s in lifts:
                if s not in made:
                    body, args = materialize(new, lifts[s], amap)
                    made[s] = new.ew(body, args)
                reps[s] = _NODE[made[s]]
            elif s.name.startswith("__n"):
                reps[s] = _NODE[amap[int(s.name[3:])]]
        return _local(e.xreplace(reps))

    def fn(new: Graph, i: int, n: Node, args: list[int]) -> int:
        if i not in reduced:
            return -1
        body, bargs = materialize(new, reduced[i], dict(zip(n.args, args, strict=True)))
        return new.ew(body, bargs, n.shape)

    return rebuild(g, fn)[0]
