"""Scalar bodies as ONNX nodes: each head by its registry row, through an ONNX ScalarBuilder."""

from __future__ import annotations

import numpy as np
import sympy as sp

from ...errors import UnsupportedError
from ...registry.walk import BodyWalker

__all__ = ["Graph", "OnnxBody", "OnnxBuilder"]

#: The registry's routines / intrinsics / libm calls as ONNX operators (one node each).
UNARY = {"exp": "Exp", "log": "Log", "tanh": "Tanh", "sin": "Sin", "cos": "Cos", "tan": "Tan",
         "atan": "Atan", "asin": "Asin", "acos": "Acos", "erf": "Erf", "logistic": "Sigmoid",
         "softplus": "Softplus", "sqrt": "Sqrt", "fabs": "Abs", "floor": "Floor",
         "ceil": "Ceil", "asinh": "Asinh", "acosh": "Acosh", "atanh": "Atanh",
         "sinh": "Sinh", "cosh": "Cosh"}
_CMP = {"<": "Less", "<=": "LessOrEqual", ">": "Greater", ">=": "GreaterOrEqual",
        "==": "Equal"}


class Graph:
    """Nodes and constants of one ONNX graph under construction (names are stable:
    ``v0, v1, ...`` in creation order)."""

    def __init__(self, dtype):
        from onnx import helper

        self.helper = helper
        self.dtype = np.dtype(dtype)
        self.nodes: list = []
        self.inits: list = []
        self.count = 0
        self._consts: dict[tuple, str] = {}

    def fresh(self, hint: str = "v") -> str:
        self.count += 1
        return f"{hint}{self.count - 1}"

    def node(self, op: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or self.fresh()
        self.nodes.append(self.helper.make_node(op, inputs, [out], **attrs))
        return out

    def const(self, value, dtype=None) -> str:
        """An initializer holding ``value`` (a scalar of the graph's type by default)."""
        from onnx import numpy_helper

        arr = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        hit = self._consts.get(key)
        if hit is None:
            hit = self._consts[key] = self.fresh("c")
            self.inits.append(numpy_helper.from_array(arr, hit))
        return hit


class OnnxBuilder:
    """The registry's :class:`~symnet.registry.ScalarBuilder` over ONNX tensors
    (elementwise, NumPy broadcasting)."""

    def __init__(self, g: Graph):
        self.g = g

    def const(self, v: float) -> str:
        return self.g.const(float(v))

    def add(self, a, b):
        return self.g.node("Add", [a, b])

    def sub(self, a, b):
        return self.g.node("Sub", [a, b])

    def mul(self, a, b):
        return self.g.node("Mul", [a, b])

    def div(self, a, b):
        return self.g.node("Div", [a, b])

    def cmp(self, op: str, a, b):
        if op == "!=":
            return self.g.node("Not", [self.g.node("Equal", [a, b])])
        return self.g.node(_CMP[op], [a, b])

    def select(self, op: str, a, b, t, f):
        return self.g.node("Where", [self.cmp(op, a, b), t, f])

    def select_unordered(self, op: str, a, b, t, f):
        nan = self.g.node("Or", [self.g.node("IsNaN", [a]), self.g.node("IsNaN", [b])])
        return self.g.node("Where", [self.g.node("Or", [nan, self.cmp(op, a, b)]), t, f])

    def _erf64(self, x: str) -> str:
        """erf in float64 (onnxruntime has Erf in float only): the series
        2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (2n+1)!!, whose terms are all
        positive (no cancellation), 130 terms on |x| <= 6; beyond, erf is
        +-1 in double."""
        g = self.g
        ax = g.node("Min", [g.node("Abs", [x]), self.const(6.0)])
        x2 = self.mul(self.mul(ax, ax), self.const(2.0))
        term, total = ax, ax
        for n in range(1, 130):
            term = self.mul(term, self.div(x2, self.const(2.0 * n + 1.0)))
            total = self.add(total, term)
        scale = self.mul(g.node("Exp", [g.node("Neg", [self.mul(ax, ax)])]),
                         self.const(2.0 / np.sqrt(np.pi)))
        mag = g.node("Min", [self.mul(total, scale), self.const(1.0)])
        return g.node("Where", [g.node("Less", [x, self.const(0.0)]), g.node("Neg", [mag]), mag])

    def _call(self, name: str, xs) -> str:
        if name in ("erf", "erfc") and self.g.dtype == np.float64:
            e = self._erf64(xs[0])
            return e if name == "erf" else self.sub(self.const(1.0), e)
        if name in UNARY and len(xs) == 1:
            return self.g.node(UNARY[name], list(xs))
        one = self.const(1.0)
        if name == "log1p":
            return self.g.node("Log", [self.add(one, xs[0])])
        if name == "expm1":
            return self.sub(self.g.node("Exp", [xs[0]]), one)
        if name == "erfc":
            return self.sub(one, self.g.node("Erf", [xs[0]]))
        if name in ("minnum", "maxnum"):
            return self.g.node("Min" if name == "minnum" else "Max", list(xs))
        if name == "copysign":
            mag = self.g.node("Abs", [xs[0]])
            neg = self.g.node("Less", [xs[1], self.const(0.0)])
            return self.g.node("Where", [neg, self.g.node("Neg", [mag]), mag])
        if name == "exp2":
            return self.g.node("Pow", [self.const(2.0), xs[0]])
        if name in ("log2", "log10"):
            ln_base = np.log(2.0 if name == "log2" else 10.0)
            return self.div(self.g.node("Log", [xs[0]]), self.const(ln_base))
        if name == "pow":
            return self.g.node("Pow", list(xs))
        raise UnsupportedError(f"ONNX export: no ONNX operator for {name!r}")

    def routine(self, name: str, x):
        return self._call(name, [x])

    def intrinsic(self, name: str, *xs):
        return self._call(name, xs)

    def libm(self, name: str, *xs):
        return self._call(name, xs)

    def pick(self, cond, t, f):
        return self.g.node("Where", [cond, t, f])

    def both(self, a, b):
        return self.g.node("And", [a, b])

    def either(self, a, b):
        return self.g.node("Or", [a, b])

    def negate(self, a):
        return self.g.node("Not", [a])

    def truth(self, value: bool):
        return self.g.const(bool(value), np.bool_)


class OnnxBody(BodyWalker):
    """A scalar SymPy body -> ONNX nodes (memoized per subexpression); ``env``
    maps body variables to tensors, ``dims`` dimension symbols to scalar tensors."""

    backend = "ONNX export"

    def __init__(self, g: Graph, env: dict, dims):
        super().__init__(OnnxBuilder(g), env)
        self.g, self.dims = g, dims

    def leaf(self, e: sp.Expr) -> str | None:
        if e.is_number:
            try:
                return self.g.const(float(e))
            except TypeError:
                raise UnsupportedError(f"ONNX export: {e} is not a real constant") from None
        if e.is_Symbol and e in self.dims.known:
            return self.dims.value(e)
        return None

    def __call__(self, e: sp.Expr) -> str:
        try:
            return super().__call__(e)
        except UnsupportedError as exc:
            if "needed by" in str(exc) or e.is_Atom:
                raise
            raise UnsupportedError(f"{exc} (needed by {type(e).__name__} in {e})") from None
