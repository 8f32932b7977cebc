"""A kernel plan -> one C99 function over caller-owned arrays, and its work-size query."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from ...lower import KernelPlan
from .ops import Names, group_lines

__all__ = ["CFunction", "c_names", "generate_function"]

#: Identifiers a buffer or dimension may not take in generated C: keywords,
#: <math.h> names and the function's own locals.
RESERVED = frozenset("""
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while _Bool _Complex _Imaginary bool true false NULL
int64_t size_t uint8_t int32_t
exp log log1p expm1 tanh sin cos tan atan asin acos erf erfc sqrt fabs copysign floor ceil
exp2 log2 log10 fmin fmax pow trunc round atan2 sinh cosh asinh acosh atanh tgamma lgamma
fmod isnan isinf INFINITY NAN HUGE_VAL y0 y1 yn j0 j1 jn gamma
i j k l p r t c z v e d kk acc sign best piv factor a_ip work""".split())


def c_names(names: list[str], taken: set[str] | None = None) -> dict[str, str]:
    """A C identifier per name: the name itself, with ``_`` appended while it is
    reserved or taken.

    >>> c_names(["W1", "int", "exp", "int_"])
    {'W1': 'W1', 'int': 'int_', 'exp': 'exp_', 'int_': 'int__'}
    """
    used = set(taken or ())
    out = {}
    for n in names:
        c = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in n) or "x"
        if c[0].isdigit():
            c = "_" + c
        while c in RESERVED or c in used or re.fullmatch(r"v\d+|a_ip|.*_(ij|i|j|s)", c):
            c += "_"
        used.add(c)
        out[n] = c
    return out


@dataclass
class CFunction:
    """One generated function: its definition, the helpers it calls, and what
    its parameters are (in order)."""

    name: str
    text: str
    calls: set[str]
    inputs: list[tuple[str, str, tuple]]       # (buffer, C name, shape)
    outputs: list[tuple[str, str, tuple]]
    dims: list[tuple[sp.Symbol, str]]
    work_size: str                             # C expression in the dims
    prototype: str = ""
    work_prototype: str = ""
    notes: list[str] = field(default_factory=list)


def generate_function(kp: KernelPlan, name: str, ctype: str, static: bool = False,
                      dims: list[sp.Symbol] | None = None) -> CFunction:
    """``int NAME(inputs..., outputs..., T *work, dims...)``: computes the plan's
    outputs into caller-owned arrays (row-major, C order); every intermediate
    lives in ``work`` (``NAME_work_size(dims)`` elements). Returns 0, or 1 when
    a pointer is NULL, 2 when a dimension is below 1 -- before touching memory.

    ``dims`` lists the dimension arguments (default: the program's)."""
    prog = kp.program
    in_names = [n for n, _ in prog.inputs]
    dim_syms = list(prog.dims if dims is None else dims)
    cn = c_names(in_names + [str(d) for d in dim_syms])
    dims = {d: cn[str(d)] for d in dim_syms}
    # Each output gets a parameter of its own, even when it is an input or
    # repeats another output (it is then copied in).
    outs: list[tuple[str, str]] = []
    taken = set(cn.values())
    for k, o in enumerate(prog.outputs):
        base = o if o not in in_names and all(o != b for b, _ in outs) else f"{o}_out{k}"
        if re.fullmatch(r"t\d+", o):
            base = f"out{k}"  # an unnamed output: by its position
        c = c_names([base], taken)[base]
        taken.add(c)
        outs.append((o, c))
    ptr = {n: cn[n] for n in in_names}
    first_out = {}
    for o, c in outs:
        if o not in ptr:
            ptr[o] = c
            first_out[o] = c
    # The rest of the buffers: consecutive blocks of the workspace.
    rest = [b for b in kp.buffer_names if b not in ptr]
    rc = c_names(rest, taken | set(ptr.values()))
    sizes = {**kp.shapes, **kp.scratch_sizes}
    nm = Names({**ptr, **rc}, dims, ctype)
    # Each block starts where the one before it ends.
    offsets, total, prev = [], "0", "work"
    for b in rest:
        r, c = sizes[b]
        offsets.append(f"    {ctype} *restrict {rc[b]} = {prev};")
        size = f"{nm.dim(r)} * {nm.dim(c)}"
        prev = f"{rc[b]} + {size}"
        total = size if total == "0" else f"{total} + {size}"
    shape = {n: tuple(kp.shapes[n]) for n in kp.shapes}
    inputs = [(n, cn[n], shape[n]) for n in in_names]
    outputs = [(o, c, shape[o]) for o, c in outs]
    T = ctype
    params = ([f"const {T} *restrict {c}" for _, c, _ in inputs]
              + [f"{T} *restrict {c}" for _, c, _ in outputs]
              + [f"{T} *restrict work"] + [f"int64_t {c}" for c in dims.values()])
    proto = f"int {name}({', '.join(params)})"
    body = ["{"]
    checks = [c for _, c, _ in inputs] + [c for _, c, _ in outputs] + ["work"]
    body.append(f"    if ({' || '.join(f'!{c}' for c in checks)}) return 1;")
    if dims:
        body.append(f"    if ({' || '.join(f'{c} < 1' for c in dims.values())}) return 2;")
    body += offsets
    if not rest:
        body.append("    (void)work;")
    calls: set[str] = set()
    for g in kp.groups:
        lines, used = group_lines(g, nm, kp.shapes, kp.inplace, kp.scratch)
        body += lines
        calls |= used
    for o, c in outs:
        if first_out.get(o) == c:
            continue
        r, cc = shape[o]
        body.append(f"    /* output {c} is {o} */")
        body.append(f"    for (int64_t k = 0; k < {nm.dim(r)} * {nm.dim(cc)}; ++k) "
                    f"{c}[k] = {nm.ptr[o]}[k];")
    body += ["    return 0;", "}"]
    storage = "static " if static else ""
    dim_params = ", ".join(f"int64_t {c}" for c in dims.values()) or "void"
    work_proto = f"size_t {name}_work_size({dim_params})"
    unused = "".join(f"    (void){c};\n" for c in dims.values()
                     if c not in total.replace("(", " ").replace(")", " ").replace("*", " ")
                     .replace("+", " ").split())
    work_fn = (f"{storage}{work_proto}\n{{\n{unused}"
               f"    return (size_t)({total}) + 1;\n}}\n")
    text = work_fn + "\n" + storage + proto + "\n" + "\n".join(body) + "\n"
    return CFunction(name, text, calls, inputs, outputs, list(dims.items()), total, proto,
                     work_proto)
