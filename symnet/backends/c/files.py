"""The exported ``.c`` and ``.h`` texts: includes, helpers, functions, documented prototypes."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ...lower import EpochSpec, plan_kernel
from ...schedule import Program
from .body import helpers_used
from .epoch import generate_epoch
from .kernel import CFunction, generate_function

__all__ = ["CExport", "export_epoch", "export_kernel", "header_text", "source_text"]

_CTYPE = {"float64": "double", "float32": "float"}


@dataclass
class CExport:
    """What :func:`symnet.export_c` writes: the header, the source and the
    public functions (the last one is the entry point)."""

    header: str
    source: str
    functions: list[CFunction]


def _comment(lines: list[str]) -> list[str]:
    out = ["/*"]
    for line in lines:
        wrapped = textwrap.wrap(line.replace("*/", "* /"), 92, subsequent_indent="     ",
                                break_long_words=True) or [""]
        out += [f" * {w}".rstrip() for w in wrapped]
    out.append(" */")
    return out


def _wrap(proto: str, width: int = 96) -> str:
    """A prototype with its parameters wrapped under the first one."""
    head, _, params = proto.partition("(")
    indent = " " * (len(head) + 1)
    lines, line = [], head + "("
    for k, p in enumerate(params[:-1].split(", ")):
        piece = p + (", " if k < params.count(", ") else ")")
        if len(line) + len(piece) > width and line.strip() not in ("", head + "("):
            lines.append(line.rstrip())
            line = indent
        line += piece
    return "\n".join(lines + [line])


def _shape(shape, fn: CFunction) -> str:
    names = {d: c for d, c in fn.dims}

    def one(e) -> str:
        if isinstance(e, str):
            return e
        e = sp.sympify(e)
        return str(e.xreplace({d: sp.Symbol(c) for d, c in names.items()}))
    return " x ".join(one(e) for e in shape)


def source_text(functions: list[CFunction], ctype: str, header_name: str,
                banner: list[str]) -> str:
    """The ``.c`` file: the header's include, <math.h>, helpers, then the functions."""
    calls: set[str] = set()
    for f in functions:
        calls |= f.calls
    out = _comment(banner)
    out += [f'#include "{header_name}"', "", "#include <math.h>", ""]
    helpers = helpers_used(calls, ctype)
    if helpers:
        out += [helpers]
    out += ["\n".join(f.text for f in functions)]
    return "\n".join(out).rstrip() + "\n"


def header_text(public: list[CFunction], guard: str, ctype: str, banner: list[str],
                docs: dict[str, list[str]]) -> str:
    """The ``.h`` file: the prototypes of the public functions, each with its
    parameters' shapes and the formulas it computes (``docs`` by function)."""
    out = _comment(banner)
    out += [f"#ifndef {guard}", f"#define {guard}", "", "#include <stddef.h>",
            "#include <stdint.h>", "", "#ifdef __cplusplus", 'extern "C" {', "#endif", ""]
    for f in public:
        lines = list(docs.get(f.name, []))
        lines += ["", f"Arrays are {ctype}, row-major (C order), one sample per column "
                  "unless said otherwise:"]
        lines += [f"  in  {c}: {_shape(sh, f)}" for _, c, sh in f.inputs]
        lines += [f"  out {c}: {_shape(sh, f)}" for _, c, sh in f.outputs]
        lines += [f"  work: {f.name}_work_size(...) elements of {ctype}, owned by the caller",
                  "Returns 0; 1 when a pointer is NULL, 2 when a size is below 1"
                  + (", 3 when order names a sample outside 0..n-1" if "order" in f.prototype
                     else "") + " (checked before any memory is touched)."]
        out += _comment(lines)
        out += [f"{f.work_prototype};", _wrap(f.prototype) + ";", ""]
    out += ["#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */"]
    return "\n".join(out) + "\n"


def ctype_of(dtype) -> str:
    """The C element type of a NumPy dtype (float64 -> double, float32 -> float)."""
    return _CTYPE[np.dtype(dtype).name]


def _files(functions: list[CFunction], public: list[CFunction], name: str, ctype: str,
           banner: list[str], docs: dict[str, list[str]]) -> CExport:
    header = header_text(public, f"SYMNET_{name.upper()}_H", ctype, banner, docs)
    return CExport(header, source_text(functions, ctype, f"{name}.h", banner), public)


def export_kernel(prog: Program, name: str, dtype, shapes: dict | None, dims: list,
                  banner: list[str], docs: list[str]) -> CExport:
    """The C files of one kernel: ``int NAME(inputs..., outputs..., work, dims...)``
    (``shapes`` overrides buffer shapes, ``dims`` lists the dimension arguments)."""
    ctype = ctype_of(dtype)
    fn = generate_function(plan_kernel(prog, shapes or None), name, ctype, dims=dims)
    n = len(fn.outputs)
    lines = [f"{name} computes:"] + [f"  {c} = {d}" for (_, c, _), d in
                                      zip(fn.outputs, docs[:n], strict=True)]
    return _files([fn], [fn], name, ctype, banner, {name: lines + docs[n:]})


def export_epoch(prog: Program, name: str, dtype, spec: EpochSpec, alpha: str,
                 banner: list[str], docs: list[str]) -> CExport:
    """The C files of a whole SGD epoch around the step program (see
    :func:`~symnet.backends.c.epoch.generate_epoch`)."""
    ctype = ctype_of(dtype)
    step, epoch = generate_epoch(prog, name, ctype, spec, alpha)
    return _files([step, epoch], [epoch], name, ctype, banner, {name: docs})
