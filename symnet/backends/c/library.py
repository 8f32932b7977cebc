"""The C ABI of a shared library around native object code: the exported header's
functions, laying out the native function's buffer table and workspace."""

from __future__ import annotations

from ...lower import EpochSpec, plan_kernel
from ...schedule import Program
from .epoch import generate_epoch, step_dim
from .kernel import generate_function
from .ops import Names

__all__ = ["library_wrapper"]


def _blocks(names: list[str], sizes: dict, dim, ctype: str, lanes: int) -> tuple[list, str]:
    """Aligned workspace blocks: (name, offset expression) and the total, in elements."""
    out, total = [], "0"
    for n in names:
        r, c = sizes[n]
        out.append((n, total))
        size = f"(({dim(r)} * {dim(c)} + {lanes - 1}) / {lanes} * {lanes})"
        total = size if total == "0" else f"{total} + {size}"
    return out, total


def library_wrapper(prog: Program, name: str, ctype: str, native: str, align: int,
                    shapes: dict | None = None, dims: list | None = None,
                    spec: EpochSpec | None = None, alpha: str | None = None) -> str:
    """C source defining the header's ``NAME`` and ``NAME_work_size`` on top of
    the native ``void NATIVE(T **bufs, int64_t *dims, ...)``.

    The buffer table follows the plan's buffer order (as the native module
    was generated); intermediates get ``align``-byte aligned blocks of the
    caller's ``work`` (the size query adds the slack for aligning it).
    Arguments are checked as the C export checks them, before any call.
    """
    T = ctype
    lanes = max(1, align // (8 if ctype == "double" else 4))
    if spec is None:
        kp = plan_kernel(prog, shapes or None)
        fn = generate_function(kp, name, ctype, dims=dims)
        dim_syms = list(prog.dims if dims is None else dims)
        cdims = dict(fn.dims)
        ptr = {b: f"({T} *){c}" for b, c, _ in fn.inputs}
        for b, c, _ in fn.outputs:
            ptr.setdefault(b, c)
        checks = [c for _, c, _ in fn.inputs + fn.outputs] + ["work"]
        dim_checks = [f"{c} < 1" for c in cdims.values()]
        nm = Names({}, cdims, ctype)
        dim_expr = nm.dim
        dim_values = [cdims[d] for d in dim_syms]
        proto, work_proto = fn.prototype, fn.work_prototype
        extra_checks: list[str] = []
    else:
        kp = plan_kernel(prog, inplace=spec.wanted)
        step, fn = generate_epoch(prog, name, ctype, spec, alpha)
        dim_syms = list(prog.dims)
        named = {b: c for b, c, _ in fn.inputs + fn.outputs}
        ptr = {alpha: "&alpha"}
        for b, c in named.items():
            if b not in ("X", "Y"):
                ptr[b] = c if b in dict(spec.updates) else f"({T} *){c}"
        checks = ["X", "Y", "order", "work", "loss"] + [named[b] for b in named
                                                         if b not in ("X", "Y")]
        cn = {str(d): c for d, c in fn.dims}
        dim_checks = ["n < 1", "batch_size < 1"] + [f"{c} < 1" for c in cn.values()]

        def dim_expr(e) -> str:
            return step_dim(e, step, cn)
        dim_values = ["batch_size" if d == spec.batch else cn[str(d)] for d in dim_syms]
        proto, work_proto = fn.prototype, fn.work_prototype
        extra_checks = ["for (int64_t s = 0; s < n; ++s) if (order[s] < 0 || order[s] >= n) "
                        "return 3;"]
    sizes = {**kp.shapes, **kp.scratch_sizes}
    order = kp.buffer_names
    rest = [b for b in order if b not in ptr]
    blocks, total = _blocks(rest, sizes, dim_expr, ctype, lanes)
    lines = [f'#include "{name}.h"', "", "#include <math.h>", ""]
    if spec is None:
        lines.append(f"extern void {native}({T} **bufs, int64_t *dims);")
    else:
        lines.append(f"extern void {native}({T} **bufs, int64_t *dims, const {T} *X, "
                     f"const {T} *Y, const int64_t *order, int64_t n, int64_t batch, {T} *loss);")
    work_args = work_proto[work_proto.index("(") + 1:-1]
    unused = [a.split()[-1] for a in work_args.split(", ") if a != "void"]
    lines += ["", work_proto, "{"]
    lines += [f"    (void){u};" for u in unused if u not in total]
    lines += [f"    /* {len(rest)} blocks of {align} bytes' alignment, and the slack to align "
              "work itself */",
              f"    return (size_t)({total}) + {lanes};", "}", "", proto, "{",
              f"    if ({' || '.join('!' + c for c in checks)}) return 1;"]
    if dim_checks:
        lines.append(f"    if ({' || '.join(dim_checks)}) return 2;")
    lines += [f"    {line}" for line in extra_checks]
    lines += [f"    {T} *base = ({T} *)(((uintptr_t)work + {align - 1}) & "
              f"~(uintptr_t){align - 1});",
              f"    {T} *bufs[{max(len(order), 1)}];",
              f"    int64_t dims[{max(len(dim_syms), 1)}] = {{"
              f"{', '.join(dim_values) if dim_values else '0'}}};"]
    offset = dict(blocks)
    for k, b in enumerate(order):
        where = ptr[b] if b in ptr else f"base + {offset[b]}"
        lines.append(f"    bufs[{k}] = {where};  /* {b} */")
    if spec is None:
        lines.append(f"    {native}(bufs, dims);")
        names = {b: c for b, c, _ in fn.inputs}
        for b, c, (r, cc) in fn.outputs:
            if ptr.get(b) != c:
                lines.append(f"    for (int64_t k = 0; k < {dim_expr(r)} * {dim_expr(cc)}; "
                             f"++k) {c}[k] = {names.get(b, ptr.get(b))}[k];")
    else:
        lines.append(f"    {native}(bufs, dims, X, Y, order, n, batch_size, loss);")
    lines += ["    return 0;", "}"]
    return "\n".join(lines) + "\n"
