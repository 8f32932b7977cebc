"""Scalar bodies: a SymPy expression of one entry -> LLVM IR values, each head by its
registry row."""

from __future__ import annotations

import sympy as sp
from llvmlite import ir

from ...errors import UnsupportedError
from ...registry.walk import BodyWalker
from .irutil import Ctx

__all__ = ["BodyEmitter", "Builder"]


class Builder:
    """The registry's :class:`~symnet.registry.ScalarBuilder` over one function's context."""

    def __init__(self, ctx: Ctx):
        self.c = ctx

    def const(self, v: float) -> ir.Value:
        return self.c.const(v)

    def add(self, a, b):
        return self.c.fadd(a, b)

    def sub(self, a, b):
        return self.c.fsub(a, b)

    def mul(self, a, b):
        return self.c.fmul(a, b)

    def div(self, a, b):
        return self.c.fdiv(a, b)

    def select(self, op: str, a, b, t, f):
        return self.c.select(op, a, b, t, f)

    def select_unordered(self, op: str, a, b, t, f):
        return self.c.b.select(self.c.b.fcmp_unordered(op, a, b), t, f)

    def routine(self, name: str, x):
        return self.c.math(name, x)

    def intrinsic(self, name: str, *xs):
        return self.c.b.call(self.c.intrinsic(name, len(xs)), list(xs))

    def libm(self, name: str, *xs):
        return self.c.b.call(self.c.libm(name, len(xs)), list(xs))

    def cmp(self, op: str, a, b):
        if op == "!=":
            return self.c.b.fcmp_unordered(op, a, b)
        return self.c.b.fcmp_ordered(op, a, b)

    def pick(self, cond, t, f):
        return self.c.b.select(cond, t, f)

    def both(self, a, b):
        return self.c.b.and_(a, b)

    def either(self, a, b):
        return self.c.b.or_(a, b)

    def negate(self, a):
        return self.c.b.not_(a)

    def truth(self, value: bool):
        return ir.Constant(ir.IntType(1), int(value))


class BodyEmitter(BodyWalker):
    """Emit a scalar SymPy body as LLVM IR (memoized per subexpression)."""

    backend = "llvm backend"

    def __init__(self, ctx: Ctx, env: dict[sp.Symbol, ir.Value]):
        super().__init__(Builder(ctx), env)
        self.ctx = ctx

    def leaf(self, e: sp.Expr) -> ir.Value | None:
        c = self.ctx
        if e.is_number:
            # A constant expression (pi, E, 2/sqrt(pi), ...): rounded once, as a whole.
            try:
                return c.const(float(e))
            except TypeError:
                raise UnsupportedError(f"llvm backend: {e} is not a real constant") from None
        if e in c.dims:
            return c.b.sitofp(c.dims[e], c.elem)
        return None
