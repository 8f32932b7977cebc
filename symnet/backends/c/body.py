"""Scalar bodies as C99: each head by its registry row, through a builder of C expressions."""

from __future__ import annotations

import math
import re

import numpy as np
import sympy as sp

from ...errors import UnsupportedError
from ...registry.walk import BodyWalker

__all__ = ["CBody", "CBuilder", "Lines", "helpers_used", "literal"]

#: The registry's vector routines by their <math.h> name (double; float adds ``f``);
#: logistic and softplus are symnet's own stable helpers (see ``HELPERS``).
ROUTINES = {"exp": "exp", "log": "log", "log1p": "log1p", "expm1": "expm1", "tanh": "tanh",
            "sin": "sin", "cos": "cos", "tan": "tan", "atan": "atan", "asin": "asin",
            "acos": "acos", "erf": "erf", "erfc": "erfc",
            "logistic": "symnet_logistic", "softplus": "symnet_softplus"}
#: LLVM intrinsics of the registry rows by their <math.h> name.
INTRINSICS = {"sqrt": "sqrt", "fabs": "fabs", "copysign": "copysign", "floor": "floor",
              "ceil": "ceil", "sin": "sin", "cos": "cos", "exp": "exp", "exp2": "exp2",
              "log": "log", "log2": "log2", "log10": "log10", "minnum": "fmin",
              "maxnum": "fmax", "pow": "pow", "trunc": "trunc", "round": "round"}

#: Stable forms the C file defines when a body uses them: the same branch-free
#: formulas as the other backends (finite for every finite input).
HELPERS = {
    "symnet_logistic": (
        "static {T} symnet_logistic({T} x)\n"
        "{{\n"
        "    /* 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below: no overflow either way */\n"
        "    const {T} e = exp{f}(-fabs{f}(x));\n"
        "    return x >= 0 ? {one} / ({one} + e) : e / ({one} + e);\n"
        "}}\n"),
    "symnet_softplus": (
        "static {T} symnet_softplus({T} x)\n"
        "{{\n"
        "    /* log(1+e^x) = max(x, 0) + log1p(e^-|x|) */\n"
        "    return fmax{f}(x, {zero}) + log1p{f}(exp{f}(-fabs{f}(x)));\n"
        "}}\n"),
}


def literal(v: float, ctype: str) -> str:
    """A C constant of the element type, exactly the double's (or float's) value.

    >>> literal(0.1, "double"), literal(0.5, "float"), literal(float("-inf"), "double")
    ('0.10000000000000001', '0.5f', '(-INFINITY)')
    """
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "(-INFINITY)"
    if ctype == "float":
        text = f"{float(np.float32(v)):.9g}"
        if "." not in text and "e" not in text:
            text += ".0"
        return f"{text}f" if not text.startswith("-") else f"({text}f)"
    text = f"{v:.17g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text if not text.startswith("-") else f"({text})"


class Lines:
    """Statements of one scope, with fresh temporaries ``v0, v1, ...``."""

    def __init__(self, ctype: str, indent: str, prefix: str = "v"):
        self.ctype, self.indent, self.prefix = ctype, indent, prefix
        self.out: list[str] = []
        self.count = 0
        self.calls: set[str] = set()

    def pruned(self, uses: str = "") -> list[str]:
        """The statements without temporaries that nothing (nor ``uses``) reads:
        a row's form may compute a value it then does not need."""
        decl = re.compile(rf"^\s*const \w+ ({self.prefix}\d+) = (.*);$")
        live = set(_IDENT.findall(uses))
        kept = []
        for line in reversed(self.out):
            m = decl.match(line)
            if m and m.group(1) not in live:
                continue
            live.update(_IDENT.findall(m.group(2) if m else line))
            kept.append(line)
        return kept[::-1]

    def temp(self, expr: str, kind: str | None = None) -> str:
        name = f"{self.prefix}{self.count}"
        self.count += 1
        self.out.append(f"{self.indent}const {kind or self.ctype} {name} = {expr};")
        return name


_IDENT = re.compile(r"[A-Za-z_]\w*")

#: Operands that need no temporary: names, array entries, literals, casts of a name.
_ATOM = re.compile(r"^(?:[A-Za-z_]\w*(?:\[[\w +*]+\])?|\(?-?[\d.]+(?:e[+-]?\d+)?f?\)?"
                   r"|\(-?INFINITY\)|INFINITY|NAN|\(\((?:double|float)\)\w+\))$")


def _simple(x: str) -> bool:
    """An operand that is one token (see ``_ATOM``): safe inside any expression.

    >>> _simple("W1[i * 3 + j]"), _simple("(-1.0)"), _simple("(-1.0) * y"), _simple("a + b")
    (True, True, False, False)
    """
    return _ATOM.match(x) is not None


class CBuilder:
    """The registry's :class:`~symnet.registry.ScalarBuilder` producing C expressions:
    arithmetic stays inline, calls and selects bind their operands to temporaries
    (so no operand is evaluated twice and the text stays linear in the body)."""

    def __init__(self, lines: Lines):
        self.lines = lines
        self.ctype = lines.ctype

    def _bind(self, x: str) -> str:
        return x if _simple(x) else self.lines.temp(x)

    def _fn(self, name: str) -> str:
        return name if self.ctype == "double" or name.startswith("symnet_") else name + "f"

    def const(self, v: float) -> str:
        return literal(float(v), self.ctype)

    def add(self, a, b):
        return self._bind(f"{a} + {b}")

    def sub(self, a, b):
        return self._bind(f"{a} - {b}")

    def mul(self, a, b):
        return self._bind(f"{a} * {b}")

    def div(self, a, b):
        return self._bind(f"{a} / {b}")

    def select(self, op: str, a, b, t, f):
        a, b, t, f = map(self._bind, (a, b, t, f))
        return self.lines.temp(f"({a} {op} {b}) ? {t} : {f}")

    def select_unordered(self, op: str, a, b, t, f):
        a, b, t, f = map(self._bind, (a, b, t, f))
        return self.lines.temp(f"(isnan({a}) || isnan({b}) || {a} {op} {b}) ? {t} : {f}")

    def _call(self, name: str, xs) -> str:
        xs = [self._bind(x) for x in xs]
        self.lines.calls.add(name)
        return self.lines.temp(f"{self._fn(name)}({', '.join(xs)})")

    def routine(self, name: str, x):
        if name not in ROUTINES:
            raise UnsupportedError(f"C export: no C form of the routine {name!r}")
        return self._call(ROUTINES[name], [x])

    def intrinsic(self, name: str, *xs):
        if name not in INTRINSICS:
            raise UnsupportedError(f"C export: no C form of the intrinsic {name!r}")
        return self._call(INTRINSICS[name], xs)

    def libm(self, name: str, *xs):
        return self._call(name, xs)

    def cmp(self, op: str, a, b):
        a, b = self._bind(a), self._bind(b)
        return self.lines.temp(f"{a} {op} {b}", "int")

    def pick(self, cond, t, f):
        t, f = self._bind(t), self._bind(f)
        return self.lines.temp(f"{cond} ? {t} : {f}")

    def both(self, a, b):
        return self.lines.temp(f"{a} && {b}", "int")

    def either(self, a, b):
        return self.lines.temp(f"{a} || {b}", "int")

    def negate(self, a):
        return self.lines.temp(f"!{a}", "int")

    def truth(self, value: bool):
        return "1" if value else "0"


class CBody(BodyWalker):
    """A scalar SymPy body -> C statements and the name of its value (memoized
    per subexpression; ``env`` maps body variables to C names)."""

    backend = "C export"

    def __init__(self, lines: Lines, env: dict[sp.Symbol, str], dims: dict[sp.Symbol, str]):
        super().__init__(CBuilder(lines), env)
        self.lines, self.dims = lines, dims

    def leaf(self, e: sp.Expr) -> str | None:
        if e.is_number:
            try:
                return literal(float(e), self.lines.ctype)
            except TypeError:
                raise UnsupportedError(f"C export: {e} is not a real constant") from None
        if e in self.dims:
            return f"(({self.lines.ctype}){self.dims[e]})"
        return None


def helpers_used(calls: set[str], ctype: str) -> str:
    """The helper definitions (element type ``ctype``) the calls need."""
    fill = {"T": ctype, "f": "" if ctype == "double" else "f",
            "one": literal(1.0, ctype), "zero": literal(0.0, ctype)}
    return "\n".join(HELPERS[n].format(**fill) for n in sorted(calls) if n in HELPERS)
