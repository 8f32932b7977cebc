"""Rows of the further elementary and special functions: trigonometric, inverse
and hyperbolic, error functions, rounding, exponentials and logarithms in other
bases, the gamma family."""

from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import exp2, expm1, log1p, log2, log10

from . import Op, register
from .scalar import _intrinsic, _libm, _routine


def _libm2(name: str):
    def form(b, e, emit):
        return b.libm(name, emit(e.args[0]), emit(e.args[1]))

    form.__doc__ = f"libm `{name}`"
    form.__qualname__ = f"libm_{name}"
    return form


def _recip(inner):
    def form(b, e, emit):
        return b.div(b.const(1.0), inner(b, e, emit))

    form.__doc__ = f"1 / {inner.__doc__}"
    form.__qualname__ = f"recip_{inner.__qualname__}"
    return form


def _frac(b, e, emit):
    """x - floor(x) (intrinsic `floor`)"""
    x = emit(e.args[0])
    return b.sub(x, b.intrinsic("floor", x))


def _mod(b, e, emit):
    """p - q floor(p / q) (SymPy's sign convention: the sign of q)"""
    p, q = emit(e.args[0]), emit(e.args[1])
    return b.sub(p, b.mul(q, b.intrinsic("floor", b.div(p, q))))


def _sinc(b, e, emit):
    """sin(x) / x, 1 at 0 (select)"""
    x = emit(e.args[0])
    zero = b.const(0.0)
    safe = b.pick(b.cmp("==", x, zero), b.const(1.0), x)
    return b.pick(b.cmp("==", x, zero), b.const(1.0), b.div(b.intrinsic("sin", safe), safe))


def _digamma_series(b, x, n: int):
    """psi^(n)(x) for x > 0: shift by 10 with the recurrence, then the
    asymptotic series at y = x + 10 >= 10 (terms to y^-(n+14))."""
    from math import factorial

    sign = 1.0 if n % 2 else -1.0  # (-1)^(n+1)
    total = b.const(0.0)
    for k in range(10):
        xk = b.add(x, b.const(float(k)))
        p = xk
        for _ in range(n):
            p = b.mul(p, xk)
        total = b.add(total, b.div(b.const(1.0), p))
    y = b.add(x, b.const(10.0))
    inv = b.div(b.const(1.0), y)
    inv2 = b.mul(inv, inv)
    bern = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)
    if n == 0:
        series = b.sub(b.routine("log", y), b.mul(b.const(0.5), inv))
        term = inv2
        for k, b2k in enumerate(bern, start=1):
            series = b.sub(series, b.mul(b.const(b2k / (2 * k)), term))
            term = b.mul(term, inv2)
        return b.sub(series, total)
    # (-1)^(n+1) [ (n-1)!/y^n + n!/(2 y^(n+1)) + sum_k B_2k (2k+n-1)!/(2k)! / y^(2k+n) ]
    yn = inv
    for _ in range(n - 1):
        yn = b.mul(yn, inv)
    series = b.add(b.mul(b.const(float(factorial(n - 1))), yn),
                   b.mul(b.const(factorial(n) / 2), b.mul(yn, inv)))
    term = b.mul(yn, inv2)
    for k, b2k in enumerate(bern, start=1):
        c = b2k * factorial(2 * k + n - 1) / factorial(2 * k)
        series = b.add(series, b.mul(b.const(c), term))
        term = b.mul(term, inv2)
    return b.mul(b.const(sign), b.add(series, b.mul(b.const(float(factorial(n))), total)))


def _polygamma(b, e, emit):
    """recurrence + asymptotic series (x > 0; NaN elsewhere)"""
    n = e.args[0]
    if not (n.is_Integer and 0 <= int(n) <= 6):
        from ..errors import UnsupportedError

        raise UnsupportedError(f"llvm backend: polygamma of order {n} (orders 0-6 only)")
    x = emit(e.args[1])
    value = _digamma_series(b, x, int(n))
    return b.pick(b.cmp(">", x, b.const(0.0)), value, b.const(float("nan")))


def _erfinv(b, e, emit):
    """Giles' approximation, two Newton steps on libm `erf`"""
    x = emit(e.args[0])
    one = b.const(1.0)
    w = b.sub(b.const(0.0), b.routine("log", b.mul(b.sub(one, x), b.add(one, x))))
    # Giles (2010), single-precision polynomials in w (w < 5) and sqrt(w) - 3.
    small = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
             0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
    large = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
             0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)

    def horner(coeffs, t):
        p = b.const(coeffs[0])
        for c in coeffs[1:]:
            p = b.add(b.mul(p, t), b.const(c))
        return p

    ws = b.sub(w, b.const(2.5))
    wl = b.sub(b.intrinsic("sqrt", w), b.const(3.0))
    y = b.mul(b.pick(b.cmp("<", w, b.const(5.0)), horner(small, ws), horner(large, wl)), x)
    two_over_sqrt_pi = b.const(2.0 / np.sqrt(np.pi))
    for _ in range(2):
        err = b.sub(b.libm("erf", y), x)
        slope = b.mul(two_over_sqrt_pi, b.routine("exp", b.sub(b.const(0.0), b.mul(y, y))))
        y = b.sub(y, b.div(err, slope))
    return y


def _zero(args: tuple, k: int) -> sp.Expr:
    return sp.S.Zero


# ---------------------------------------------------------------- rows

register(Op(sp.tan, _routine("tan"), numpy=np.tan, example=sp.tan, domain=(-1.4, 1.4)))
register(Op(sp.sec, _recip(_intrinsic("cos")), numpy=lambda x: 1 / np.cos(x),
            numpy_as="sec", example=sp.sec, domain=(-1.4, 1.4)))
register(Op(sp.csc, _recip(_intrinsic("sin")), numpy=lambda x: 1 / np.sin(x),
            numpy_as="csc", example=sp.csc, domain=(0.1, 3.0)))
register(Op(sp.cot, _recip(_libm("tan")), numpy=lambda x: 1 / np.tan(x), numpy_as="cot",
            example=sp.cot, domain=(0.1, 3.0)))
register(Op(sp.asin, _routine("asin"), numpy=np.arcsin, numpy_as="asin", example=sp.asin,
            domain=(-0.95, 0.95)))
register(Op(sp.acos, _routine("acos"), numpy=np.arccos, numpy_as="acos", example=sp.acos,
            domain=(-0.95, 0.95)))
register(Op(sp.atan2, _libm2("atan2"), numpy=np.arctan2, numpy_as="atan2",
            example=lambda x: sp.atan2(x, 1 - x / 2) + sp.atan2(1, x + 4)))
register(Op(sp.asinh, _libm("asinh"), numpy=np.arcsinh, numpy_as="asinh", example=sp.asinh))
register(Op(sp.acosh, _libm("acosh"), numpy=np.arccosh, numpy_as="acosh", example=sp.acosh,
            domain=(1.1, 4.0)))
register(Op(sp.atanh, _libm("atanh"), numpy=np.arctanh, numpy_as="atanh", example=sp.atanh,
            domain=(-0.9, 0.9)))
register(Op(sp.sinc, _sinc, numpy=lambda x: np.sinc(x / np.pi), numpy_as="sinc",
            example=sp.sinc, kinks=(0.0,)))
register(Op(sp.erfc, _routine("erfc"), numpy="erfc", numpy_as="erfc", example=sp.erfc))
register(Op(sp.erfinv, _erfinv, numpy="erfinv", numpy_as="erfinv", example=sp.erfinv,
            domain=(-0.97, 0.97)))
register(Op(sp.floor, _intrinsic("floor"), numpy=np.floor, numpy_as="floor", partials=_zero,
            example=lambda x: x * sp.floor(x), kinks=(-2.0, -1.0, 0.0, 1.0, 2.0)))
register(Op(sp.ceiling, _intrinsic("ceil"), numpy=np.ceil, numpy_as="ceiling", partials=_zero,
            example=lambda x: x * sp.ceiling(x), kinks=(-2.0, -1.0, 0.0, 1.0, 2.0)))
register(Op(sp.frac, _frac, numpy=lambda x: x - np.floor(x), numpy_as="frac",
            partials=lambda args, k: sp.S.One, example=sp.frac,
            kinks=(-2.0, -1.0, 0.0, 1.0, 2.0)))
register(Op(sp.Mod, _mod, numpy=np.mod, numpy_as="Mod",
            partials=lambda args, k: sp.S.One if k == 0 else -sp.floor(args[0] / args[1]),
            example=lambda x: sp.Mod(3 * x, sp.Rational(7, 4)), kinks=tuple(
                k * 7 / 12 for k in range(-6, 7))))
register(Op(exp2, _intrinsic("exp2"), numpy=np.exp2, numpy_as="exp2", example=exp2))
register(Op(log2, _intrinsic("log2"), numpy=np.log2, numpy_as="log2", example=log2,
            domain=(0.1, 3.0)))
register(Op(log10, _intrinsic("log10"), numpy=np.log10, numpy_as="log10", example=log10,
            domain=(0.1, 3.0)))
register(Op(expm1, _routine("expm1"), numpy=np.expm1, numpy_as="expm1", example=expm1))
register(Op(log1p, _routine("log1p"), numpy=np.log1p, numpy_as="log1p", example=log1p,
            domain=(-0.9, 3.0)))
register(Op(sp.gamma, _libm("tgamma"), numpy="gamma", numpy_as="gamma", example=sp.gamma,
            domain=(0.2, 4.0)))
register(Op(sp.loggamma, _libm("lgamma"), numpy="loggamma", numpy_as="loggamma",
            example=sp.loggamma, domain=(0.2, 4.0)))
register(Op(sp.polygamma, _polygamma, numpy="polygamma", numpy_as="polygamma",
            example=lambda x: sp.polygamma(0, x) + sp.polygamma(1, x), domain=(0.2, 4.0)))
# Inputs are real: re(x) is x and im(x) is 0 (SymPy keeps them for a
# symbol not declared real).
register(Op(sp.re, lambda b, e, emit: emit(e.args[0]), numpy=np.real, numpy_as="re",
            partials=lambda args, k: sp.S.One))
register(Op(sp.im, lambda b, e, emit: b.const(0.0), numpy=np.zeros_like, numpy_as="im",
            partials=_zero))
