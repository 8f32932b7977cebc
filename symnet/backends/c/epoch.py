"""A whole SGD epoch in C: gather each batch in the given order, run the step, update in place."""

from __future__ import annotations

import sympy as sp

from ...lower import EpochSpec, plan_kernel
from ...schedule import Program
from .kernel import CFunction, c_names, generate_function

__all__ = ["generate_epoch"]


def generate_epoch(prog: Program, name: str, ctype: str, spec: EpochSpec, alpha: str
                   ) -> tuple[CFunction, CFunction]:
    """The step (a static function) and the epoch around it.

    ``int NAME(X, Y, order, n, batch_size, alpha, others..., params..., dims..., work, loss)``:
    ``X`` (n x rows) and ``Y`` (n x classes) hold one sample per row; for each
    batch of ``order`` the samples are gathered into the step's column
    layout, the step computes every parameter's new value, which then
    overwrites the parameter; ``*loss`` receives the mean loss (NaN when the
    step does not compute it). ``alpha`` is the step's input buffer of the
    learning rate. Returns 0; 1 for a NULL pointer, 2 for a size
    below 1, 3 when ``order`` names a sample outside 0..n-1 (checked first).
    """
    step = generate_function(plan_kernel(prog), f"{name}_step", ctype, static=True)
    T = ctype
    by_buf = {b: (c, sh) for b, c, sh in step.inputs}
    params = [p for p, _ in spec.updates]
    others = [b for b, _, _ in step.inputs if b not in (spec.x, spec.y, alpha, *params)]
    alpha_buf = alpha
    batch = spec.batch
    dims = [(d, c) for d, c in step.dims if d != batch]
    fixed = {"X", "Y", "order", "n", "batch_size", "alpha", "work", "loss", "s", "k", "r",
             "sample", "size", "start", "total", "status", "Xb", "Yb", "step_work", step.name}
    fixed |= {f"out_{c}" for _, c, _ in step.outputs}
    cn = c_names(others + params + [str(d) for d, _ in dims], fixed)
    nm_rows = {spec.x: step_dim(by_buf[spec.x][1][0], step, cn),
               spec.y: step_dim(by_buf[spec.y][1][0], step, cn)}
    params_c = [f"const {T} *restrict {cn[b]}" for b in others]
    params_c += [f"{T} *restrict {cn[p]}" for p in params]
    params_c += [f"int64_t {cn[str(d)]}" for d, _ in dims]
    proto = (f"int {name}(const {T} *restrict X, const {T} *restrict Y, "
             f"const int64_t *restrict order, int64_t n, int64_t batch_size, {T} alpha"
             + "".join(f", {p}" for p in params_c) + f", {T} *restrict work, {T} *loss)")
    # work: the batch's X and Y, every step output, then the step's own workspace.
    blocks = [("Xb", f"{nm_rows[spec.x]} * batch_size"), ("Yb", f"{nm_rows[spec.y]} * batch_size")]
    for _, c, (r, cc) in step.outputs:
        blocks.append((f"out_{c}", f"{step_dim(r, step, cn)} * {step_dim(cc, step, cn)}"))
    dim_args = {str(batch): "size", **{str(d): cn[str(d)] for d, _ in dims}}
    step_dims_b = [("batch_size" if d == batch else cn[str(d)]) for d, _ in step.dims]
    lines = [proto, "{"]
    pointers = ["X", "Y", "order", "work", "loss"] + [cn[b] for b in others + params]
    lines.append(f"    if ({' || '.join('!' + p for p in pointers)}) return 1;")
    lines.append("    if (n < 1 || batch_size < 1" + "".join(f" || {cn[str(d)]} < 1"
                                                         for d, _ in dims) + ") return 2;")
    lines.append("    for (int64_t s = 0; s < n; ++s) if (order[s] < 0 || order[s] >= n) "
                 "return 3;")
    off = "0"
    for b, size in blocks:
        lines.append(f"    {T} *restrict {b} = work + {off};")
        off = f"{off} + {size}" if off != "0" else size
    lines.append(f"    {T} *restrict step_work = work + {off};")
    lines.append(f"    {T} total = 0;")
    lines.append("    for (int64_t start = 0; start < n; start += batch_size) {")
    lines.append("        const int64_t size = n - start < batch_size ? n - start : batch_size;")
    for src, dst, buf in (("X", "Xb", spec.x), ("Y", "Yb", spec.y)):
        rows = step_dim(by_buf[buf][1][0], step, cn)
        lines += ["        for (int64_t k = 0; k < size; ++k) {",
                  "            const int64_t sample = order[start + k];",
                  f"            for (int64_t r = 0; r < {rows}; ++r) "
                  f"{dst}[r * size + k] = {src}[sample * {rows} + r];",
                  "        }"]
    args = []
    for b, _, _ in step.inputs:
        if b == spec.x:
            args.append("Xb")
        elif b == spec.y:
            args.append("Yb")
        elif b == alpha_buf:
            args.append("&alpha")
        else:
            args.append(cn[b])
    args += [f"out_{c}" for _, c, _ in step.outputs]
    args.append("step_work")
    args += [dim_args[str(d)] for d, _ in step.dims]
    lines.append(f"        const int status = {step.name}({', '.join(args)});")
    lines.append("        if (status) return status;")
    out_of = {b: c for b, c, _ in step.outputs}
    for p, new in spec.updates:
        r, cc = by_buf[p][1]
        lines.append(f"        for (int64_t k = 0; k < {step_dim(r, step, cn)} * "
                     f"{step_dim(cc, step, cn)}; ++k) {cn[p]}[k] = out_{out_of[new]}[k];")
    if spec.loss is not None:
        lines.append(f"        total += out_{out_of[spec.loss]}[0] * ({T})size;")
    lines.append("    }")
    lines.append(f"    *loss = {'total / (' + T + ')n' if spec.loss is not None else 'NAN'};")
    if spec.loss is None:
        lines.append("    (void)total;")
    lines += ["    return 0;", "}"]
    work_params = ", ".join(["int64_t batch_size"] + [f"int64_t {cn[str(d)]}" for d, _ in dims])
    work_proto = f"size_t {name}_work_size({work_params})"
    total_size = " + ".join(f"(size_t)({size})" for _, size in blocks)
    work_fn = [work_proto, "{",
               f"    return {total_size} + {step.name}_work_size({', '.join(step_dims_b)});",
               "}"]
    text = "\n".join(work_fn) + "\n\n" + "\n".join(lines) + "\n"
    inputs = ([("X", "X", ("n", by_buf[spec.x][1][0])), ("Y", "Y", ("n", by_buf[spec.y][1][0]))]
              + [(b, cn[b], by_buf[b][1]) for b in others])
    epoch = CFunction(name, text, set(), inputs, [(p, cn[p], by_buf[p][1]) for p in params],
                      [(d, cn[str(d)]) for d, _ in dims], total_size, proto, work_proto)
    return step, epoch


def step_dim(e, step: CFunction, cn: dict) -> str:
    """A shape entry of the step in the epoch's names (the batch: ``batch_size``)."""
    e = sp.sympify(e)
    if e.is_Integer:
        return str(int(e))
    names = {d: cn.get(str(d), "batch_size") for d, _ in step.dims}
    return "(" + sp.ccode(e.xreplace({d: sp.Symbol(n) for d, n in names.items()})) + ")"
