"""Scalar bodies: a SymPy expression of one entry -> LLVM IR values."""

from __future__ import annotations

import sympy as sp
from llvmlite import ir

from ...errors import UnsupportedError
from .irutil import Ctx, clip, powi

__all__ = ["BodyEmitter"]


class BodyEmitter:
    """Emit a scalar SymPy body as LLVM IR: one ``_emit_<Head>`` per head."""

    def __init__(self, ctx: Ctx, env: dict[sp.Symbol, ir.Value]):
        self.ctx = ctx
        self.env = env
        self.memo: dict[sp.Expr, ir.Value] = {}

    def __call__(self, e: sp.Expr) -> ir.Value:
        hit = self.env.get(e)
        if hit is None:
            hit = self.memo.get(e)
        if hit is not None:
            return hit
        out = self._emit(e)
        self.memo[e] = out
        return out

    def _emit(self, e: sp.Expr) -> ir.Value:
        c = self.ctx
        if e.is_Number:
            return c.const(float(e))
        if e in c.dims:
            return c.b.sitofp(c.dims[e], c.elem)
        if e.is_Symbol:
            raise KeyError(f"llvm backend: no value for {e}")
        method = getattr(self, "_emit_" + type(e).__name__, None)
        if method is None:
            raise UnsupportedError(f"llvm backend: no emitter for {type(e).__name__} in {e}")
        return method(e)

    def _emit_Add(self, e):
        vals = [self(a) for a in e.args]
        out = vals[0]
        for v in vals[1:]:
            out = self.ctx.fadd(out, v)
        return out

    def _emit_Mul(self, e):
        c = self.ctx
        num, den = [], []
        for a in e.args:
            if a.is_Pow and a.exp.is_Integer and a.exp < 0:
                den.append(a.base ** -a.exp)
            elif a.is_Rational and not a.is_Integer and a.p == 1:
                den.append(sp.Integer(a.q))
            else:
                num.append(a)
        out = None
        for a in num:
            v = self(a)
            out = v if out is None else c.fmul(out, v)
        if out is None:
            out = c.const(1.0)
        for a in den:
            out = c.fdiv(out, self(a))
        return out

    def _emit_Pow(self, e):
        c = self.ctx
        base, ex = e.args
        if ex.is_Integer:
            n = int(ex)
            x = self(base)
            if n == 0:
                return c.const(1.0)
            r = powi(c, x, abs(n))
            return c.fdiv(c.const(1.0), r) if n < 0 else r
        if ex == sp.S.Half:
            return c.b.call(c.intrinsic("sqrt"), [self(base)])
        if ex == -sp.S.Half:
            return c.fdiv(c.const(1.0), c.b.call(c.intrinsic("sqrt"), [self(base)]))
        return c.math("exp", c.fmul(self(ex), c.math("log", self(base))))

    def _emit_exp(self, e):
        return self.ctx.math("exp", self(e.args[0]))

    def _emit_log(self, e):
        a = e.args[0]
        if a.is_Add and len(a.args) == 2 and sp.S.One in a.args:
            other = a.args[0] if a.args[1] == 1 else a.args[1]
            return self.ctx.math("log1p", self(other))
        return self.ctx.math("log", self(a))

    def _emit_tanh(self, e):
        return self.ctx.math("tanh", self(e.args[0]))

    def _emit_logistic(self, e):
        return self.ctx.math("logistic", self(e.args[0]))

    def _emit_softplus(self, e):
        return self.ctx.math("softplus", self(e.args[0]))

    def _emit_relu(self, e):
        c = self.ctx
        x = self(e.args[0])
        # Unordered ">": a NaN goes through (as in NumPy), -inf gives 0.
        return c.b.select(c.b.fcmp_unordered(">", x, c.const(0.0)), x, c.const(0.0))

    def _emit_leaky_relu(self, e):
        c = self.ctx
        x, g = self(e.args[0]), self(e.args[1])
        return c.select(">", x, c.const(0.0), x, c.fmul(g, x))

    _emit_prelu = _emit_leaky_relu

    def _emit_hard_logistic(self, e):
        c = self.ctx
        x = self(e.args[0])
        y = c.fadd(c.fmul(x, c.const(0.25)), c.const(0.5))
        return clip(c, y, 0.0, 1.0)

    def _emit_hard_tanh(self, e):
        return clip(self.ctx, self(e.args[0]), -1.0, 1.0)

    def _fold(self, e, op: str):
        # Strict comparison keeps the earlier argument on ties (maxout's rule).
        vals = [self(a) for a in e.args]
        out = vals[0]
        for v in vals[1:]:
            out = self.ctx.select(op, v, out, v, out)
        return out

    def _emit_maxout(self, e):
        return self._fold(e, ">")

    _emit_Max = _emit_maxout

    def _emit_Min(self, e):
        return self._fold(e, "<")

    def _emit_Heaviside(self, e):
        c = self.ctx
        x = self(e.args[0])
        h0 = float(e.args[1]) if len(e.args) > 1 else 0.5
        zero = c.const(0.0)
        at0 = c.select("==", x, zero, c.const(h0), zero)
        return c.select(">", x, zero, c.const(1.0), at0)

    def _emit_sign(self, e):
        c = self.ctx
        x = self(e.args[0])
        zero = c.const(0.0)
        neg = c.select("<", x, zero, c.const(-1.0), zero)
        return c.select(">", x, zero, c.const(1.0), neg)

    def _emit_Abs(self, e):
        return self.ctx.b.call(self.ctx.intrinsic("fabs"), [self(e.args[0])])

    def _emit_sin(self, e):
        return self.ctx.b.call(self.ctx.intrinsic("sin"), [self(e.args[0])])

    def _emit_cos(self, e):
        return self.ctx.b.call(self.ctx.intrinsic("cos"), [self(e.args[0])])

    def _emit_sinh(self, e):
        c = self.ctx
        x = self(e.args[0])
        ep, em = c.math("exp", x), c.math("exp", c.fsub(c.const(0.0), x))
        return c.fmul(c.fsub(ep, em), c.const(0.5))

    def _emit_cosh(self, e):
        c = self.ctx
        x = self(e.args[0])
        ep, em = c.math("exp", x), c.math("exp", c.fsub(c.const(0.0), x))
        return c.fmul(c.fadd(ep, em), c.const(0.5))

    def _emit_atan(self, e):
        return self.ctx.b.call(self.ctx.libm("atan"), [self(e.args[0])])

    def _emit_erf(self, e):
        return self.ctx.b.call(self.ctx.libm("erf"), [self(e.args[0])])

