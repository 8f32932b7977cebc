"""Second order: JVPs, Hessian- and Gauss-Newton-vector products, as formulas and graphs.

Every product is derived on the same matrix graph as the gradient, never by
forming a Hessian: a JVP is one forward (tangent) sweep; an HVP is the
tangent sweep of the derived gradient (forward-over-reverse, Pearlmutter's
R-operator); a Gauss-Newton product G v = J^T H_L J v is a tangent sweep to
the output z, the output curvature H_L applied by one more tangent sweep of
dL/dz, and one reverse sweep back to the parameters (Schraudolph 2002).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from .api import _as_list, _debug_trace, _loss_node, _wrt_nodes
from .derive import derive
from .errors import NoDependenceError, ShapeError
from .formulas import Formulas, equations, name_layers
from .forward import tangents
from .frontend import Frontend
from .graph import VARS, Graph
from .ops import is_matrix
from .passes import FORWARD_PASSES, LOWERING_PASSES, run_passes
from .programs import check_wrt
from .tosympy import ToSympy

__all__ = ["KINDS", "ProductGraph", "directions", "gnvp", "hvp", "jvp", "jvp_graph",
           "product_graph"]

#: The curvature products: the exact Hessian and the Gauss-Newton matrix.
KINDS = ("hessian", "gauss-newton")


# ---------------------------------------------------------------- printing
#: Graph-name prefixes of tangent nodes and how they print (text, LaTeX).
_MARKS = {
    "R": ("R{%s}", r"\mathcal{R}\left\{%s\right\}"),
    "Rgn": ("Rgn{%s}", r"\tilde{\mathcal{R}}\left\{%s\right\}"),
}


def _parts(name: str) -> tuple[str, str]:
    prefix, inner = name.split("_", 1)
    return _MARKS[prefix][0] % inner, inner


class _Marked:
    """Printing of a tangent's symbol: R{delta1}, \\mathcal{R}\\{\\delta_{1}\\}."""

    name: str

    def _sympystr(self, printer) -> str:
        return _parts(self.name)[0]

    def _latex(self, printer) -> str:
        prefix, inner = self.name.split("_", 1)
        return _MARKS[prefix][1] % printer._print(sp.Symbol(inner))

    def _pretty(self, printer):
        from sympy.printing.pretty.stringpict import prettyForm

        prefix, inner = self.name.split("_", 1)
        return prettyForm(_MARKS[prefix][0] % sp.pretty(sp.Symbol(inner)))


class TangentSymbol(_Marked, sp.Symbol):
    """A scalar tangent R{x}, for printing only."""


class TangentMatrix(_Marked, sp.MatrixSymbol):
    """A matrix tangent R{Z}, for printing only."""


def _display(defs, named) -> tuple[list, list]:
    """Replace the plain symbols of tangent nodes (R_z1) by their printed forms."""
    reps = {}
    for lhs, _ in defs:
        if str(lhs).split("_", 1)[0] in _MARKS and "_" in str(lhs):
            reps[lhs] = (TangentMatrix(str(lhs), *lhs.shape) if is_matrix(lhs)
                         else TangentSymbol(str(lhs)))
    if not reps:
        return defs, named
    return ([(reps.get(a, a), b.xreplace(reps)) for a, b in defs],
            [x.xreplace(reps) for x in named])


def _name_tangents(g: Graph, tan: dict[int, int], prefix: str = "R") -> None:
    """Name the tangent of each named node R_<name> (R{z1}, R{a1}, R{delta1})."""
    taken = set(g.names.values())
    for i, nm in sorted(g.names.items()):
        t = tan.get(i)
        if t is None or t in g.names or g.nodes[t].op in ("leaf", "const"):
            continue
        if nm.split("_", 1)[0] in _MARKS and "_" in nm:
            continue  # a tangent of a tangent: leave it unnamed
        new = f"{prefix}_{nm}"
        if new not in taken:
            g.names[t] = new
            taken.add(new)


# ---------------------------------------------------------------- directions
def directions(wrt: Sequence[sp.Basic], given=None, prefix: str = "v") -> list[sp.Basic]:
    """The direction symbols for ``wrt``: ``given`` (a mapping or a list in
    ``wrt`` order), or new ones named ``v_<name>`` of the same shapes.

    >>> W = sp.MatrixSymbol('W', 2, 3)
    >>> directions([W, sp.Symbol('b')])
    [v_W, v_b]
    """
    if given is None:
        return [sp.MatrixSymbol(f"{prefix}_{w}", *w.shape) if isinstance(w, sp.MatrixSymbol)
                else sp.Symbol(f"{prefix}_{w}") for w in wrt]
    if isinstance(given, Mapping):
        missing = [str(w) for w in wrt if w not in given]
        if missing:
            raise ValueError(f"no direction given for {', '.join(missing)}")
        vs = [given[w] for w in wrt]
    else:
        vs = _as_list(given)
        if len(vs) != len(wrt):
            raise ValueError(f"{len(wrt)} variables but {len(vs)} directions: {vs}")
    check_wrt(vs)
    for w, v in zip(wrt, vs, strict=True):
        ws = tuple(w.shape) if isinstance(w, sp.MatrixSymbol) else (1, 1)
        vsh = tuple(v.shape) if isinstance(v, sp.MatrixSymbol) else (1, 1)
        if any(sp.simplify(sp.sympify(a) - b) != 0 for a, b in zip(ws, vsh, strict=True)):
            raise ShapeError(f"the direction {v} has shape {vsh}, but {w} has {ws}")
        if v in wrt:
            raise ValueError(f"the direction {v} is also a variable")
    if len(set(vs)) != len(vs):
        raise ValueError(f"directions repeat a symbol: {vs}")
    return vs


# ---------------------------------------------------------------- graphs
@dataclass
class ProductGraph:
    """A lowered graph with the value, the gradient and a curvature product."""

    g: Graph
    value: int
    grads: list[int]
    products: list[int]


def product_graph(expr: sp.Basic, wrt: Sequence[sp.Basic], vs: Sequence[sp.Basic],
                  kind: str = "hessian", output: sp.Basic | None = None) -> ProductGraph:
    """Derive ``expr``'s gradient and its curvature product along ``vs``.

    ``kind`` is ``"hessian"`` (H v, forward-over-reverse) or
    ``"gauss-newton"`` (G v = J^T H_L J v + H_rest v, where z = ``output``
    is the network output the loss L sees, J = dz/dtheta, H_L = d^2L/dz^2,
    and H_rest v the curvature of the terms that reach theta other than
    through z, such as a weight penalty).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown curvature {kind!r}; choose from {', '.join(KINDS)}")
    if kind == "gauss-newton" and output is None:
        raise ValueError("the Gauss-Newton product needs the network output z (output=...) "
                         "the loss is a function of, e.g. net.layers[-1].z[0]")
    expr = sp.sympify(expr)
    check_wrt(wrt)
    fe = Frontend()
    loss = _loss_node(fe, expr)
    g = fe.g
    g.outputs = [loss] if output is None else [loss, fe.add(sp.sympify(output))]
    trace = _debug_trace()
    g = run_passes(g, FORWARD_PASSES, trace)
    loss = g.outputs[0]
    w_ids = _wrt_nodes(g, expr, wrt)
    seeds = {w: g.leaf(v) for w, v in zip(w_ids, vs, strict=True)}
    grads, adjoint = derive(g, loss, w_ids)
    name_layers(g, adjoint, loss)
    if kind == "hessian":
        prods, tan = tangents(g, seeds, grads)
        _name_tangents(g, tan)
    else:
        prods = _gauss_newton(g, loss, g.outputs[1], w_ids, grads, adjoint, seeds, output)
    g.outputs = [loss, *grads, *prods]
    g = run_passes(g, LOWERING_PASSES, trace)
    k = len(w_ids)
    return ProductGraph(g, g.outputs[0], g.outputs[1:1 + k], g.outputs[1 + k:])


def _gauss_newton(g: Graph, loss: int, z: int, w_ids: list[int], grads: list[int],
                  adjoint: dict[int, int], seeds: dict[int, int], output) -> list[int]:
    if not g.live([loss])[z] or z not in adjoint:
        raise ValueError(f"the loss does not depend on the output {output} as declared: "
                         "give the expression the loss applies its output function to")
    (Jv,), tan = tangents(g, seeds, [z])
    _name_tangents(g, tan)
    # H_L J v: the tangent of dL/dz when only z moves.
    (u,), tan_z = tangents(g, {z: Jv}, [adjoint[z]])
    _name_tangents(g, tan_z)
    back, adj_back = derive(g, z, w_ids, seed=u)
    _name_backward(g, adjoint, adj_back)
    # The terms that reach the parameters other than through z (a penalty).
    rest, _ = derive(g, loss, w_ids, stop=frozenset({z}))
    rest_v, _ = tangents(g, seeds, rest, block=frozenset({z}))
    return [_add(g, a, b) for a, b in zip(back, rest_v, strict=True)]


def _name_backward(g: Graph, adjoint: dict[int, int], adj_back: dict[int, int]) -> None:
    """Name the Gauss-Newton backward sweep's delta of each z_k Rgn{delta_k}."""
    taken = set(g.names.values())
    for i, d in sorted(adjoint.items()):
        nm = g.names.get(d)
        b = adj_back.get(i)
        if nm is None or not nm.startswith("delta") or b is None:
            continue
        if b in g.names or g.nodes[b].op in ("leaf", "const") or f"Rgn_{nm}" in taken:
            continue
        g.names[b] = f"Rgn_{nm}"
        taken.add(g.names[b])


def _add(g: Graph, a: int, b: int) -> int:
    if g.is_const(b, 0):
        return a
    if g.is_const(a, 0):
        return b
    return g.ew(VARS[0] + VARS[1], [a, b], g.shape(a))


@dataclass
class JvpGraph:
    """A lowered graph with the outputs and their tangents along the directions."""

    g: Graph
    outputs: list[int]
    tangents: list[int]


def jvp_graph(outputs: Sequence[sp.Basic], wrt: Sequence[sp.Basic],
              vs: Sequence[sp.Basic]) -> JvpGraph:
    """The outputs and their directional derivatives along ``vs`` (one forward sweep)."""
    check_wrt(wrt)
    fe = Frontend()
    g = fe.g
    g.outputs = [fe.add(o) for o in outputs]
    g = run_passes(g, FORWARD_PASSES, _debug_trace())
    outs = list(g.outputs)
    ids = []
    for w in wrt:
        i = g.find_leaf(w)
        if i is None or not g.live(outs)[i]:
            raise NoDependenceError(f"no output depends on {w}: remove it from the variables, "
                                    f"or check the outputs {list(outputs)}")
        ids.append(i)
    seeds = {w: g.leaf(v) for w, v in zip(ids, vs, strict=True)}
    name_layers(g, {}, max(outs))
    prods, tan = tangents(g, seeds, outs)
    _name_tangents(g, tan)
    g.outputs = [*outs, *prods]
    g = run_passes(g, LOWERING_PASSES, _debug_trace())
    n = len(outs)
    return JvpGraph(g, g.outputs[:n], g.outputs[n:])


def _shaped(e: sp.Basic, like: sp.Basic) -> sp.Basic:
    """A derived expression with the shape of ``like`` (0 * ones -> ZeroMatrix)."""
    if is_matrix(like) and not is_matrix(e):
        r, c = like.shape
        return sp.ZeroMatrix(r, c) if e == 0 else e * sp.OneMatrix(r, c)
    return e


def _formulas(g: Graph, roots: list[int], likes: Sequence[sp.Basic], labels) -> Formulas:
    conv = ToSympy(g)
    exprs = [_shaped(conv(i), w) for i, w in zip(roots, likes, strict=True)]
    defs, named = _display(*equations(g, roots))
    return Formulas(exprs, defs, named, labels)


def _label(kind: str, name: str, latex: str) -> tuple[str, sp.Basic, str]:
    text, tex = _MARKS[kind]
    return text % name, sp.Symbol(text % name), tex % latex


def jvp(outputs: sp.Basic | Iterable[sp.Basic], wrt: sp.Basic | Iterable[sp.Basic],
        tangents=None) -> Formulas:
    """Directional derivatives R{f} = J v of ``outputs`` along ``tangents``
    (forward mode: one tangent sweep, Pearlmutter's R-operator).

    ``tangents`` maps each of ``wrt`` to its direction (or lists them in
    ``wrt`` order); by default new symbols ``v_<name>`` of the same shapes.
    Prints the R-propagation through the named layers.

    >>> x, w, b = sp.symbols('x w b')
    >>> from symnet import logistic
    >>> (t,) = jvp(logistic(w * x + b), [w, b])
    >>> t.subs({x: 1, w: 0, b: 0})
    v_b/4 + v_w/4
    """
    outs = [sp.sympify(o) for o in _as_list(outputs)]
    wrt = _as_list(wrt)
    vs = directions(wrt, tangents)
    jg = jvp_graph(outs, wrt, vs)
    names = ["f"] if len(outs) == 1 else [f"f_{k}" for k in range(1, len(outs) + 1)]
    labels = [_label("R", n, sp.latex(sp.Symbol(n))) for n in names]
    return _formulas(jg.g, jg.tangents, outs, labels)


def _products(expr, wrt, v, kind: str, output, label) -> Formulas:
    wrt = _as_list(wrt)
    vs = directions(wrt, v)
    pg = product_graph(expr, wrt, vs, kind, output)
    return _formulas(pg.g, pg.products, wrt, [label(w) for w in wrt])


def hvp(expr: sp.Basic, wrt: sp.Basic | Iterable[sp.Basic], v=None) -> Formulas:
    """Hessian-vector products H v of a scalar ``expr``, one per variable
    (the rows of H v for that variable), by forward-over-reverse: the
    tangent sweep of the derived gradient, never forming H.

    ``v`` maps each of ``wrt`` to its direction (or lists them in ``wrt``
    order); by default new symbols ``v_<name>``. Prints the R-propagation of
    the backpropagation equations: R{z}, R{a}, R{delta}, R{dL/dW}.

    >>> x, y = sp.symbols('x y')
    >>> hx, hy = hvp(x**2 * y, [x, y])
    >>> hx, hy
    (2*v_x*y + 2*v_y*x, 2*v_x*x)
    """
    def label(w):
        return (f"R{{dL/d{w}}}", sp.Symbol(f"R{{∂L/∂{sp.pretty(w)}}}"),
                r"\mathcal{R}\left\{\frac{\partial L}{\partial %s}\right\}" % sp.latex(w))
    return _products(expr, wrt, v, "hessian", None, label)


def gnvp(expr: sp.Basic, wrt: sp.Basic | Iterable[sp.Basic], output: sp.Basic,
         v=None) -> Formulas:
    """Gauss-Newton-vector products G v = J^T H_L J v (+ the Hessian of the
    terms that do not pass through ``output``, such as a weight penalty).

    ``output`` is the network output z the loss L is a function of (for an
    :class:`~symnet.nn.MLP`, ``net.layers[-1].z[0]``); J = dz/dtheta and
    H_L = d^2 L / dz^2, positive semi-definite for the convex losses (for
    softmax with cross-entropy, diag(p) - p p^T per sample). One tangent
    sweep to z, one of dL/dz, and one reverse sweep back.

    >>> x, w = sp.symbols('x w')
    >>> z = w * x
    >>> (gw,) = gnvp(sp.exp(z), [w], output=z)
    >>> sp.simplify(gw - x**2 * sp.exp(w * x) * sp.Symbol('v_w'))
    0
    """
    def label(w):
        return (f"(Gv)_{w}", sp.Symbol(f"(Gv)_{sp.pretty(w)}"),
                r"\left(G v\right)_{%s}" % sp.latex(w))
    return _products(expr, wrt, v, "gauss-newton", sp.sympify(output), label)
