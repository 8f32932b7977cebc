"""Rows of the scalar heads: arithmetic, elementary functions and the activations."""

from __future__ import annotations

from functools import reduce

import sympy as sp

from .. import heads
from . import Op, register

_u = sp.Wild("u")


# ---------------------------------------------------------------- compiled-form helpers


def _fold(b, vals, op: str):
    # Strict comparison keeps the earlier argument on ties (maxout's rule).
    out = vals[0]
    for v in vals[1:]:
        out = b.select(op, v, out, v, out)
    return out


def _clip(b, x, lo: float, hi: float):
    y = b.select("<", x, b.const(lo), b.const(lo), x)
    return b.select(">", y, b.const(hi), b.const(hi), y)


def powi(b, x, n: int):
    """x**n (n >= 1) by repeated squaring."""
    result, base = None, x
    while n:
        if n & 1:
            result = base if result is None else b.mul(result, base)
        n >>= 1
        if n:
            base = b.mul(base, base)
    return result


def _add(b, e, emit):
    """fadd chain"""
    vals = [emit(a) for a in e.args]
    return reduce(b.add, vals)


def _mul(b, e, emit):
    """fmul chain, fdiv for denominators"""
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
        v = emit(a)
        out = v if out is None else b.mul(out, v)
    if out is None:
        out = b.const(1.0)
    for a in den:
        out = b.div(out, emit(a))
    return out


def _pow(b, e, emit):
    """repeated squaring; sqrt; exp(y log x)"""
    base, ex = e.args
    if ex.is_Integer:
        n = int(ex)
        x = emit(base)
        if n == 0:
            return b.const(1.0)
        r = powi(b, x, abs(n))
        return b.div(b.const(1.0), r) if n < 0 else r
    if ex == sp.S.Half:
        return b.intrinsic("sqrt", emit(base))
    if ex == -sp.S.Half:
        return b.div(b.const(1.0), b.intrinsic("sqrt", emit(base)))
    return b.routine("exp", b.mul(emit(ex), b.routine("log", emit(base))))


def _log(b, e, emit):
    """routine `log` (`log1p` for log(1 + u))"""
    a = e.args[0]
    if a.is_Add and len(a.args) == 2 and sp.S.One in a.args:
        other = a.args[0] if a.args[1] == 1 else a.args[1]
        return b.routine("log1p", emit(other))
    return b.routine("log", emit(a))


def _named(kind: str, name: str, call):
    def form(b, e, emit):
        return call(b)(name, emit(e.args[0]))

    form.__doc__ = f"{kind} `{name}`"
    form.__qualname__ = f"{kind}_{name}"
    return form


def _routine(name: str):
    return _named("routine", name, lambda b: b.routine)


def _intrinsic(name: str):
    return _named("intrinsic", name, lambda b: b.intrinsic)


def _libm(name: str):
    return _named("libm", name, lambda b: b.libm)


def _hard_logistic(b, e, emit):
    """fmul, fadd, two selects"""
    return _clip(b, b.add(b.mul(emit(e.args[0]), b.const(0.25)), b.const(0.5)), 0.0, 1.0)


def _hard_tanh(b, e, emit):
    """two selects"""
    return _clip(b, emit(e.args[0]), -1.0, 1.0)


def _max(b, e, emit):
    """select chain (first wins ties)"""
    return _fold(b, [emit(a) for a in e.args], ">")


def _min(b, e, emit):
    """select chain (first wins ties)"""
    return _fold(b, [emit(a) for a in e.args], "<")


def _sinh(b, e, emit):
    """routine `expm1` (exact near 0)"""
    # sinh|x| = (E + E / (E + 1)) / 2 with E = expm1|x|: no e^x - e^-x
    # cancellation for small x. Past |x| = 40 the second term is below
    # E's rounding, and at E = inf it would be inf / inf.
    x = emit(e.args[0])
    ax = b.intrinsic("fabs", x)
    big = b.routine("expm1", ax)
    small = b.div(big, b.add(big, b.const(1.0)))
    tail = b.pick(b.cmp("<", ax, b.const(40.0)), small, b.const(1.0))
    return b.intrinsic("copysign", b.mul(b.add(big, tail), b.const(0.5)), x)


def _cosh(b, e, emit):
    """routine `exp` twice"""
    ep, em = _exp_pair(b, e, emit)
    return b.mul(b.add(ep, em), b.const(0.5))


def _exp_pair(b, e, emit):
    x = emit(e.args[0])
    return b.routine("exp", x), b.routine("exp", b.sub(b.const(0.0), x))


def _relu(b, e, emit):
    """unordered select (NaN passes)"""
    x = emit(e.args[0])
    # Unordered ">": a NaN goes through (as in NumPy), -inf gives 0.
    return b.select_unordered(">", x, b.const(0.0), x, b.const(0.0))


def _leaky(b, e, emit):
    """select"""
    x, g = emit(e.args[0]), emit(e.args[1])
    return b.select(">", x, b.const(0.0), x, b.mul(g, x))


def _heaviside(b, e, emit):
    """two selects"""
    x = emit(e.args[0])
    h0 = float(e.args[1]) if len(e.args) > 1 else 0.5
    zero = b.const(0.0)
    at0 = b.select("==", x, zero, b.const(h0), zero)
    return b.select(">", x, zero, b.const(1.0), at0)


def _sign(b, e, emit):
    """two selects"""
    x = emit(e.args[0])
    zero = b.const(0.0)
    neg = b.select("<", x, zero, b.const(-1.0), zero)
    return b.select(">", x, zero, b.const(1.0), neg)


# ---------------------------------------------------------------- NumPy printing


def _print_heaviside(printer, e):
    x = printer._print(e.args[0])
    h0 = e.args[1] if len(e.args) > 1 else sp.S.Half
    return f"heaviside({x}, {float(h0)!r})"


def _print_fold(fn: str):
    return lambda printer, e: reduce(lambda a, c: f"np.{fn}({a}, {c})",
                                     (printer._print(a) for a in e.args))


# ---------------------------------------------------------------- partial derivatives


def _first_max(args: tuple, k: int) -> sp.Expr:
    return heads.maxout(*args).fdiff(k + 1)


def _first_min(args: tuple, k: int) -> sp.Expr:
    return heads.maxout(*[-a for a in args]).fdiff(k + 1)


def _zero(args: tuple, k: int) -> sp.Expr:
    return sp.S.Zero


# ---------------------------------------------------------------- rows

# Arithmetic: SymPy's NumPy printer prints these itself.
register(Op(sp.Add, _add, example=lambda x: x + 2))
register(Op(sp.Mul, _mul, example=lambda x: 3 * x / 7))
register(Op(sp.Pow, _pow, example=lambda x: x ** 3 + sp.sqrt(x) + x ** sp.Rational(3, 2),
            domain=(0.2, 3.0)))

def _log_pattern(x: sp.Expr) -> sp.Expr:
    # A pattern's log as written: evaluating log of a Wild only asks SymPy's
    # assumptions (is cosh(u) positive?) for a tenth of a second's first compile.
    return sp.log(x, evaluate=False)


# Activations (table 4.1), in the order the command line lists them.
register(Op(heads.logistic, _routine("logistic"), numpy="logistic", activation=True,
            stable=lambda: ((_log_pattern(heads.logistic(_u)), -heads.softplus(-_u)),
                            (_log_pattern(1 - heads.logistic(_u)), -heads.softplus(_u)),
                            (1 / (1 + sp.exp(-_u)), heads.logistic(_u))),
            example=heads.logistic))
register(Op(sp.tanh, _routine("tanh"), activation=True, example=sp.tanh))
register(Op(heads.hard_logistic, _hard_logistic, numpy="hard_logistic", activation=True,
            example=heads.hard_logistic, kinks=(-2.0, 2.0)))
register(Op(heads.hard_tanh, _hard_tanh, numpy="hard_tanh", activation=True,
            example=heads.hard_tanh, kinks=(-1.0, 1.0)))
register(Op(heads.relu, _relu, numpy="relu", activation=True, example=heads.relu, kinks=(0.0,)))
register(Op(heads.leaky_relu, _leaky, numpy="leaky_relu", activation=True,
            example=heads.leaky_relu, kinks=(0.0,)))
register(Op(heads.prelu, _leaky, numpy="leaky_relu", activation=True,
            example=lambda x: heads.prelu(x, sp.Rational(1, 4)), kinks=(0.0,)))
register(Op(heads.softplus, _routine("softplus"), numpy="softplus", activation=True,
            stable=lambda: ((_log_pattern(1 + sp.exp(_u)), heads.softplus(_u)),),
            example=heads.softplus))
register(Op(heads.maxout, _max, numpy="maxout", activation=True,
            example=lambda x: heads.maxout(x, 1 - x, x / 2), kinks=(0.5, 2 / 3, 0.0)))

# Elementary and special functions.
register(Op(sp.exp, _routine("exp"), example=sp.exp))
register(Op(sp.log, _log, stable=lambda: ((_log_pattern(sp.exp(_u)), _u),),
            example=lambda x: sp.log(x) + sp.log(1 + x), domain=(0.1, 3.0)))
register(Op(sp.sin, _routine("sin"), example=sp.sin))
register(Op(sp.cos, _routine("cos"), example=sp.cos))
register(Op(sp.sinh, _sinh, example=sp.sinh))
# log cosh u = |u| + log(1 + e^{-2|u|}) - log 2: the loss log-cosh, finite
# where cosh overflows (|u| > 710), its derivative tanh u without inf / inf.
register(Op(sp.cosh, _cosh, example=sp.cosh,
            stable=lambda: ((_log_pattern(sp.cosh(_u)),
                             sp.Abs(_u) + heads.softplus(-2 * sp.Abs(_u)) - sp.log(2)),)))
register(Op(sp.atan, _routine("atan"), example=sp.atan))
register(Op(sp.erf, _routine("erf"), numpy="erf", example=sp.erf))
register(Op(sp.Abs, _intrinsic("fabs"), partials=lambda args, k: sp.sign(args[0]),
            example=sp.Abs, kinks=(0.0,)))
register(Op(sp.sign, _sign, partials=_zero, example=lambda x: x * sp.sign(x), kinks=(0.0,)))
register(Op(sp.Heaviside, _heaviside, numpy="heaviside", numpy_as="heaviside",
            numpy_print=_print_heaviside,
            partials=_zero, example=lambda x: x * sp.Heaviside(x, 0), kinks=(0.0,)))
register(Op(sp.Max, _max,
            numpy_print=_print_fold("maximum"), partials=_first_max,
            example=lambda x: sp.Max(x, x ** 2), kinks=(0.0, 1.0)))
register(Op(sp.Min, _min,
            numpy_print=_print_fold("minimum"), partials=_first_min,
            example=lambda x: sp.Min(x, x ** 2), kinks=(0.0, 1.0)))
