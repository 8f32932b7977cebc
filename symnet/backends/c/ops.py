"""Per-op C loops: loop groups, products, reductions, column ops, constants, transposes."""

from __future__ import annotations

import sympy as sp

from ... import registry
from ...errors import UnsupportedError
from ...graph import COLUMN_OPS, KRON_OPS, LINALG_OPS, VARS
from ...lower import Group, product_dims
from ...schedule import Step
from .body import CBody, CBuilder, Lines, literal
from .linalg import kron_lines, linalg_lines

__all__ = ["Names", "group_lines"]


class Names:
    """C names of one function: buffers (pointers), dims (int64_t) and how to
    print a shape's dimension; ``ctype`` is the element type."""

    def __init__(self, ptr: dict[str, str], dims: dict[sp.Symbol, str], ctype: str):
        self.ptr, self.dims, self.ctype = ptr, dims, ctype

    def dim(self, e) -> str:
        e = sp.sympify(e)
        if e.is_Integer:
            return str(int(e))
        if e in self.dims:
            return self.dims[e]
        return "(" + sp.ccode(e.xreplace({d: sp.Symbol(n) for d, n in self.dims.items()})) + ")"


def _index(shape, i: str, j: str, cols: str) -> str:
    r, c = (sp.sympify(d) for d in shape)
    if r == 1 and c == 1:
        return "0"
    if r == 1:
        return j
    if c == 1:
        return i
    return f"{i} * {cols} + {j}"


def _comment(s: Step) -> str:
    """The step as a formula over its argument names, for a comment."""
    if s.op == "ew":
        text = str(s.attr.xreplace({VARS[k]: sp.Symbol(a) for k, a in enumerate(s.args)}))
    elif s.op == "matmul":
        ta, tb = s.attr
        text = f"{s.args[0]}{'^T' if ta else ''} {s.args[1]}{'^T' if tb else ''}"
    elif s.op == "reduce":
        text = f"sum({s.args[0]}" + ("" if s.attr is None else f", axis {s.attr}") + ")"
    elif s.op in ("const", "leaf"):
        text = str(s.attr)
    else:
        text = f"{s.op}({', '.join(s.args)})"
    return f"{s.out} = {text}".replace("*/", "* /")


def _for(var: str, stop: str, start: str = "0") -> str:
    return f"for (int64_t {var} = {start}; {var} < {stop}; ++{var})"


def _ew(g: Group, nm: Names, shapes: dict, inplace: dict, ind: str) -> list[str]:
    R, C = shapes[g.steps[0].out]
    rows, cols = nm.dim(R), nm.dim(C)
    out = [f"{ind}/* {_comment(s)} */" for s in g.steps]
    loops = [(v, n) for v, n, d in (("i", rows, R), ("j", cols, C)) if sp.sympify(d) != 1]
    inner = ind + "    " * max(len(loops), 1)
    for depth, (v, n) in enumerate(loops):
        out.append(f"{ind}{'    ' * depth}{_for(v, n)} {{")
    if not loops:
        out.append(f"{ind}{{")  # a scope of its own for the temporaries
    suffix = "_" + "".join(v for v, _ in loops) if loops else "_s"
    lines = Lines(nm.ctype, inner)
    values: dict[str, str] = {}
    for s in g.steps:
        env = {}
        for k, a in enumerate(s.args):
            if a in values:
                env[VARS[k]] = values[a]
            else:
                shape = s.views[k] if s.views and s.views[k] is not None else shapes[a]
                env[VARS[k]] = f"{nm.ptr[a]}[{_index(shape, 'i', 'j', nm.dim(shape[1]))}]"
        reps, (red,) = sp.cse([s.attr], symbols=sp.numbered_symbols("_c"), optimizations=None,
                              order="canonical")
        body = CBody(lines, env, nm.dims)
        for sym, val in reps:
            body.env[sym] = lines.temp(body(val))
        local = f"{nm.ptr[s.out] if s.out in nm.ptr else s.out}{suffix}"
        lines.out.append(f"{inner}const {nm.ctype} {local} = {body(red)};")
        values[s.out] = local
        if s.out in g.stores:
            target = nm.ptr[inplace.get(s.out, s.out)]
            lines.out.append(f"{inner}{target}[{_index((R, C), 'i', 'j', cols)}] = {local};")
    out += lines.pruned()
    for depth in reversed(range(len(loops))):
        out.append(f"{ind}{'    ' * depth}}}")
    if not loops:
        out.append(f"{ind}}}")
    return out, lines.calls


def _matmul(s: Step, nm: Names, shapes: dict, ind: str) -> list[str]:
    a, b = s.args
    ta, tb = s.attr
    R, C, K = product_dims(s, shapes)
    rows, cols, inner = nm.dim(R), nm.dim(C), nm.dim(K)
    A, B, O = nm.ptr[a], nm.ptr[b], nm.ptr[s.out]
    aidx = f"p * {rows} + i" if ta else f"i * {inner} + p"
    bidx = f"j * {inner} + p" if tb else f"p * {cols} + j"
    zero = literal(0.0, nm.ctype)
    # i, p, j: the innermost loop runs along rows of B and of the output;
    # every entry sums its products in the order p = 0, 1, ...
    return [f"{ind}/* {_comment(s)} */",
            f"{ind}{_for('i', rows)} {{",
            f"{ind}    {_for('j', cols)} {O}[i * {cols} + j] = {zero};",
            f"{ind}    {_for('p', inner)} {{",
            f"{ind}        const {nm.ctype} a_ip = {A}[{aidx}];",
            f"{ind}        {_for('j', cols)} {O}[i * {cols} + j] += a_ip * {B}[{bidx}];",
            f"{ind}    }}",
            f"{ind}}}"]


def _reduce(s: Step, nm: Names, shapes: dict, ind: str) -> list[str]:
    (a,) = s.args
    R, C = shapes[a]
    rows, cols = nm.dim(R), nm.dim(C)
    src, dst = nm.ptr[a], nm.ptr[s.out]
    zero = literal(0.0, nm.ctype)
    head = [f"{ind}/* {_comment(s)} */"]
    if s.attr == 0:
        return head + [f"{ind}{_for('j', cols)} {dst}[j] = {zero};",
                       f"{ind}{_for('i', rows)}",
                       f"{ind}    {_for('j', cols)} {dst}[j] += {src}[i * {cols} + j];"]
    if s.attr == 1:
        return head + [f"{ind}{_for('i', rows)} {{",
                       f"{ind}    {nm.ctype} acc = {zero};",
                       f"{ind}    {_for('j', cols)} acc += {src}[i * {cols} + j];",
                       f"{ind}    {dst}[i] = acc;",
                       f"{ind}}}"]
    return head + [f"{ind}{{",
                   f"{ind}    {nm.ctype} acc = {zero};",
                   f"{ind}    {_for('k', f'{rows} * {cols}')} acc += {src}[k];",
                   f"{ind}    {dst}[0] = acc;",
                   f"{ind}}}"]


def _column(s: Step, nm: Names, shapes: dict, scratch: str, ind: str):
    """A column op with a max shift; per-column max and sum in scratch."""
    row = registry.column_row(s.op)
    (a,) = s.args
    R, C = shapes[a]
    rows, cols = nm.dim(R), nm.dim(C)
    z, out, mx = nm.ptr[a], nm.ptr[s.out], nm.ptr[scratch]
    T = nm.ctype
    fabs = "fabs" if T == "double" else "fabsf"
    exp = "exp" if T == "double" else "expf"
    o = [f"{ind}/* {_comment(s)} (shifted by each column's max) */",
         f"{ind}{_for('j', cols)} {{ {mx}[j] = {literal(float('-inf'), T)}; "
         f"{mx}[{cols} + j] = {literal(0.0, T)}; }}",
         f"{ind}{_for('i', rows)}",
         f"{ind}    {_for('j', cols)} {{",
         f"{ind}        const {T} v = {z}[i * {cols} + j];",
         f"{ind}        {mx}[j] = v > {mx}[j] ? v : {mx}[j];",
         f"{ind}    }}",
         f"{ind}/* a column of -inf (or +inf) would give inf - inf: shift by 0 instead */",
         f"{ind}{_for('j', cols)} if (!({fabs}({mx}[j]) < {literal(float('inf'), T)})) "
         f"{mx}[j] = {literal(0.0, T)};",
         f"{ind}{_for('i', rows)}",
         f"{ind}    {_for('j', cols)} {{",
         f"{ind}        const {T} e = {exp}({z}[i * {cols} + j] - {mx}[j]);",
         f"{ind}        {mx}[{cols} + j] += e;"]
    if row.keeps_exp:
        o.append(f"{ind}        {out}[i * {cols} + j] = e;")
    o.append(f"{ind}    }}")
    if row.reduces:
        lines = Lines(T, ind + "    ")
        val = row.finish(CBuilder(lines), None, None, lambda: f"{mx}[j]",
                         lambda: f"{mx}[{cols} + j]")
        o += [f"{ind}{_for('j', cols)} {{", *lines.pruned(val), f"{ind}    {out}[j] = {val};",
              f"{ind}}}"]
        return o, lines.calls
    lines = Lines(T, ind + "        ")
    val = row.finish(CBuilder(lines), lambda: f"{z}[i * {cols} + j]",
                     lambda: f"{out}[i * {cols} + j]", lambda: f"{mx}[j]",
                     lambda: f"{mx}[{cols} + j]")
    o += [f"{ind}{_for('i', rows)}", f"{ind}    {_for('j', cols)} {{", *lines.pruned(val),
          f"{ind}        {out}[i * {cols} + j] = {val};", f"{ind}    }}"]
    return o, lines.calls


def _single(s: Step, nm: Names, shapes: dict, ind: str) -> list[str]:
    R, C = shapes[s.out]
    rows, cols = nm.dim(R), nm.dim(C)
    out, T = nm.ptr[s.out], nm.ctype
    head = [f"{ind}/* {_comment(s)} */"]
    if s.op == "transpose":
        src = nm.ptr[s.args[0]]
        return head + [f"{ind}{_for('i', rows)}",
                       f"{ind}    {_for('j', cols)} {out}[i * {cols} + j] = {src}[j * {rows} + i];"]
    if s.op == "leaf":
        if not isinstance(s.attr, sp.Identity):
            raise UnsupportedError(f"C export: leaf {s.attr} is not an input")
        return head + [f"{ind}{_for('i', rows)}",
                       f"{ind}    {_for('j', cols)} {out}[i * {cols} + j] = i == j ? "
                       f"{literal(1.0, T)} : {literal(0.0, T)};"]
    if s.op == "const":
        lines = Lines(T, ind + "    ")
        val = CBody(lines, {}, nm.dims)(sp.sympify(s.attr))
        return head + [f"{ind}{{", *lines.pruned(val),
                       f"{ind}    {_for('k', f'{rows} * {cols}')} {out}[k] = {val};", f"{ind}}}"]
    raise UnsupportedError(f"C export: no C form for the operation {s.op!r} ({s.out})")


def group_lines(g: Group, nm: Names, shapes: dict, inplace: dict, scratch: dict,
                ind: str = "    ") -> tuple[list[str], set[str]]:
    """The statements of one group, and the math helpers they call."""
    s = g.steps[0]
    if g.is_loop:
        return _ew(g, nm, shapes, inplace, ind)
    if s.op == "matmul":
        return _matmul(s, nm, shapes, ind), set()
    if s.op == "reduce":
        return _reduce(s, nm, shapes, ind), set()
    if s.op in COLUMN_OPS:
        return _column(s, nm, shapes, scratch[s.out], ind)
    if s.op in LINALG_OPS:
        return linalg_lines(s, nm, shapes, scratch[s.out], ind), set()
    if s.op in KRON_OPS:
        return kron_lines(s, nm, shapes, ind), set()
    return _single(s, nm, shapes, ind), set()
