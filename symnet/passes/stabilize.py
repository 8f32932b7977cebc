"""Stabilization: rewrite elementwise chains into forms that never overflow."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from .. import registry
from ..graph import VARS, Graph, Node, body_vars, inline_args, rebuild
from .rules import first_rule

#: How many elementwise producers deep a stable-form pattern may reach.
_DEPTH = 4

_TABLE: dict[int, tuple] = {}


def _forms() -> tuple:
    """(pattern, replacement, heads the pattern applies) rows for the current registry
    (each row's stable forms, each finite wherever the function is: logits of +-800):
    a body without all of a pattern's heads cannot match, and checking that is
    much cheaper than trying the pattern."""
    hit = _TABLE.get(registry.version())
    if hit is None:
        hit = tuple((pat, rep, tuple(sorted({type(f) for f in pat.atoms(sp.Function)},
                                            key=lambda t: t.__name__)))
                    for pat, rep in registry.stable_forms())
        _TABLE.clear()
        _TABLE[registry.version()] = hit
    return hit


def _rewrite(body: sp.Expr) -> sp.Expr:
    for pat, rep, heads in _forms():
        if all(body.has(h) for h in heads):
            body = body.replace(pat, rep)
    return body


def _log_of_softmax(new: Graph, body: sp.Expr, args: list[int]) -> tuple[sp.Expr, list[int]]:
    """log(v) with v = softmax(z) becomes a variable bound to log_softmax(z)."""
    for k in body_vars(body):
        src = new.nodes[args[k]]
        if src.op == "softmax" and body.has(sp.log(VARS[k])):
            ls = new.column_op("log_softmax", src.args[0])
            args = args + [ls]
            body = body.xreplace({sp.log(VARS[k]): VARS[len(args) - 1]})
    return body, args


def _logsumexp_of(new: Graph, reduced: int) -> int:
    """The node of log(sum exp(w)) when ``reduced`` sums exp(w), else -1.

    A column sum becomes logsumexp(w); a row sum the same on w^T; a sum of
    every entry logsumexp of the column logsumexps (exact: log sum_j e^{l_j}
    with l_j = log sum_i e^{w_ij})."""
    red = new.nodes[reduced]
    if red.op != "reduce":
        return -1
    src = new.nodes[red.args[0]]
    if src.op != "ew" or not isinstance(src.attr, sp.exp):
        return -1
    w = new.ew(src.attr.args[0], src.args, src.shape)
    if red.attr == 0:
        return new.column_op("logsumexp", w)
    if red.attr == 1:
        return new.transpose(new.column_op("logsumexp", new.transpose(w)))
    columns = new.column_op("logsumexp", w)
    return new.column_op("logsumexp", new.transpose(columns))


def _log_of_sum_exp(new: Graph, body: sp.Expr, args: list[int]) -> tuple[sp.Expr, list[int]]:
    """log(v) with v a sum of exp(w) (written out by the user: ones^T exp(W),
    matsum(exp(W))) becomes a variable bound to logsumexp(w), which is
    finite where the sum overflows."""
    # One walk over the body for its logs (a has() per variable is quadratic
    # in a body that sums a term per layer, such as a deep net's penalty).
    logged = {a.args[0] for a in body.atoms(sp.log)}
    for k in body_vars(body):
        if VARS[k] not in logged:
            continue
        lse = _logsumexp_of(new, args[k])
        if lse >= 0:
            args = args + [lse]
            body = body.xreplace({sp.log(VARS[k]): VARS[len(args) - 1]})
    return body, args


def _stable_ew(new: Graph, i: int, n: Node, args: list[int]) -> int:
    """Rewrite a node's body, seen together with the elementwise chain that
    feeds it (log of a separate logistic node is still log(logistic))."""
    if n.op != "ew":
        return -1
    body, bargs = _log_of_softmax(new, n.attr, args)
    body, bargs = _log_of_sum_exp(new, body, bargs)
    if body != n.attr:
        return new.ew(body, bargs, n.shape)
    probe = new.ew(n.attr, args, n.shape)
    if new.nodes[probe].op != "ew":
        return probe
    inl, inl_args = new.nodes[probe].attr, list(new.nodes[probe].args)
    for _ in range(_DEPTH):
        inl, inl_args = inline_args(new, inl, inl_args,
                                    lambda a: new.nodes[a].shape == n.shape)
    out = _rewrite(inl)
    if out != inl:
        return new.ew(out, inl_args, n.shape)
    return probe


#: Rewrite rows, tried in order on every node.
RULES: tuple[Callable[[Graph, int, Node, list[int]], int], ...] = (_stable_ew,)


def stabilize(g: Graph) -> Graph:
    """Replace log(softmax), log(sum exp), log(logistic), log(1 - logistic), ...
    by stable forms.

    >>> from symnet.frontend import to_graph
    >>> z = sp.Symbol('z')
    >>> from symnet import ops
    >>> g, _ = to_graph([sp.log(ops.logistic(z))])
    >>> [n.attr for n in stabilize(g).live_nodes() if n.op == 'ew']
    [-softplus(-_0)]
    """

    return rebuild(g, first_rule(RULES))[0]
