"""Schedule: a verified Graph -> an ordered kernel program over named buffers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from .graph import Graph
from .passes import CODEGEN_PASSES, run_passes

__all__ = ["Step", "Program", "schedule"]


@dataclass(frozen=True)
class Step:
    """One operation of a program: ``out = op(args)`` (node fields copied)."""

    out: str
    op: str
    args: tuple[str, ...]
    shape: tuple[sp.Expr, sp.Expr]
    attr: object = None
    arg_shapes: tuple[tuple[sp.Expr, sp.Expr], ...] = ()
    #: per argument, a shape to read it as (a vector seen as a row or a
    #: column: same memory), or None for its own shape
    views: tuple = ()


@dataclass
class Program:
    """What a backend needs: parameters, dims, steps in order, outputs."""

    inputs: list[tuple[str, sp.Basic]]          # (buffer name, SymPy symbol)
    dims: list[sp.Symbol]                       # shape symbols bound from the inputs
    steps: list[Step] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    output_shapes: list[tuple[sp.Expr, sp.Expr]] = field(default_factory=list)

    def __str__(self) -> str:
        head = ", ".join(n for n, _ in self.inputs)
        lines = [f"program({head}):"]
        for s in self.steps:
            attr = "" if s.attr is None else f" [{s.attr}]"
            lines.append(f"  {s.out} = {s.op}({', '.join(s.args)}){attr}"
                         f"  : {s.shape[0]} x {s.shape[1]}")
        lines.append(f"  return {', '.join(self.outputs)}")
        return "\n".join(lines)


_IDENT = re.compile(r"[^0-9a-zA-Z_]")


def _ident(name: str, taken: set[str]) -> str:
    base = _IDENT.sub("_", name) or "v"
    if base[0].isdigit() or base in _RESERVED:
        base = "v_" + base
    out, k = base, 1
    while out in taken:
        out = f"{base}_{k}"
        k += 1
    taken.add(out)
    return out


_RESERVED = {"np", "lambda", "def", "return", "in", "is", "if", "else", "for", "and", "or",
             "not", "None", "True", "False", "class", "import", "from", "as", "with", "del",
             "global", "pass", "yield", "try", "except", "finally", "raise", "while", "assert",
             "break", "continue", "elif", "nonlocal", "async", "await", "lambda_"}


def schedule(g: Graph, inputs: list[sp.Basic]) -> Program:
    """Order the live nodes of ``g`` into steps; leaves become parameters.

    Buffers are named after their SymPy symbol (leaves) or their graph name
    (``z1``, ``a1``, ``delta1``), else ``t<k>`` in order of appearance, so the
    same graph always gives the same program text.
    """
    g = run_passes(g, CODEGEN_PASSES)
    taken: set[str] = set()
    names: dict[int, str] = {}
    prog_inputs: list[tuple[str, sp.Basic]] = []
    for sym in inputs:
        nm = _ident(str(sym), taken)
        prog_inputs.append((nm, sym))
    by_sym = {sym: nm for nm, sym in prog_inputs}
    dims: list[sp.Symbol] = []
    for _, sym in prog_inputs:
        for d in getattr(sym, "shape", ()):
            for s in sorted(sp.sympify(d).free_symbols, key=str):
                if s not in dims:
                    dims.append(s)
    for d in dims:
        taken.add(str(d))
    alive = g.live()
    prog = Program(prog_inputs, dims)
    counter = 0
    for i, n in enumerate(g.nodes):
        if not alive[i]:
            continue
        if n.op == "leaf" and n.attr in by_sym:
            names[i] = by_sym[n.attr]
            continue
        if i in g.names:
            out = _ident(g.names[i], taken)
        else:
            out = _ident(f"t{counter}", taken)
            counter += 1
        names[i] = out
        prog.steps.append(Step(out, n.op, tuple(names[a] for a in n.args), n.shape, n.attr,
                               tuple(g.nodes[a].shape for a in n.args)))
    prog.outputs = [names[o] for o in g.outputs]
    prog.output_shapes = [g.nodes[o].shape for o in g.outputs]
    return prog
