"""Branch-free, vectorizable exp/log/log1p/tanh/logistic/softplus in LLVM IR.

Calls to libm block LLVM's loop vectorizer, so symnet emits its own
elementwise math.  Every function is straight-line code (``select`` instead
of branches, bit tricks instead of ``frexp``/``ldexp``), so the same IR
serves scalars and ``<N x T>`` vectors and a scalar loop that calls it
auto-vectorizes after inlining.

Accuracy (float64 and float32): within a few ulp of the correctly rounded
result over the whole domain, with IEEE results at the edges (inf, 0,
subnormals, NaN, signed zero).

Polynomials are evaluated with ``llvm.fmuladd`` so the backend may fuse
them when the target has FMA; the algorithms never rely on fusion for
accuracy (range reductions use split constants whose products are exact).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llvmlite import ir

__all__ = ["MATH_FUNCTIONS", "define_math", "math_function_name"]

MATH_FUNCTIONS: tuple[str, ...] = (
    "exp",
    "log",
    "log1p",
    "tanh",
    "logistic",
    "softplus",
)

_h = float.fromhex


@dataclass(frozen=True)
class _Format:
    """Bit layout and precision-specific constants of one IEEE format."""

    suffix: str
    bits: int
    mant_bits: int
    bias: int
    # Below this exp() rounds to +0 and above it overflows; clamping the
    # input there keeps the integer exponent arithmetic in range.
    exp_clamp_lo: float
    exp_clamp_hi: float
    # ln2 split so that k * ln2_hi is exact for every reachable k.
    ln2_hi: float
    ln2_lo: float
    log2e: float
    # exp(r) ~ 1 + r + r^2 * P(r) on |r| <= ln2/2 (minimax, relative).
    exp_poly: tuple[float, ...]
    # fdlibm-style log kernel coefficients Lg1, Lg2, ... in z = s^2.
    log_poly: tuple[float, ...]
    # tanh(a) ~ a + a^3 * P(a^2) on 0 <= a < _TANH_SMALL (minimax).
    tanh_poly: tuple[float, ...]
    # Multiplying a subnormal by 2**log_subnormal_shift makes it normal.
    log_subnormal_shift: int
    # |x| below this: log1p(x) rounds to x.
    log1p_tiny: float

    @property
    def min_normal(self) -> float:
        return 2.0 ** (1 - self.bias)

    @property
    def shifter(self) -> float:
        # Adding 1.5 * 2**mant_bits rounds to an integer that then sits in
        # the low mantissa bits, which avoids fptosi/sitofp and llvm.rint
        # (both of which lower to libcalls or slow code on some targets).
        return 1.5 * 2.0**self.mant_bits


_F64 = _Format(
    suffix="f64",
    bits=64,
    mant_bits=52,
    bias=1023,
    exp_clamp_lo=-746.0,
    exp_clamp_hi=710.0,
    ln2_hi=_h("0x1.62e42fee00000p-1"),
    ln2_lo=_h("0x1.a39ef35793c76p-33"),
    log2e=_h("0x1.71547652b82fep+0"),
    exp_poly=(
        _h("0x1.000000000000ap-1"),
        _h("0x1.55555555554fap-3"),
        _h("0x1.5555555550851p-5"),
        _h("0x1.1111111127cabp-7"),
        _h("0x1.6c16c1843427cp-10"),
        _h("0x1.a01a012a28afdp-13"),
        _h("0x1.a01999ef99cecp-16"),
        _h("0x1.71df258e318cbp-19"),
        _h("0x1.28ad8e95f49dbp-22"),
        _h("0x1.ad7f57ebc1d1fp-26"),
    ),
    # fdlibm e_log.c Lg1..Lg7: |error| < 2**-58.45.
    log_poly=(
        6.666666666666735130e-01,
        3.999999999940941908e-01,
        2.857142874366239149e-01,
        2.222219843214978396e-01,
        1.818357216161805012e-01,
        1.531383769920937332e-01,
        1.479819860511658591e-01,
    ),
    tanh_poly=(
        _h("-0x1.555555555554fp-2"),
        _h("0x1.111111111079ep-3"),
        _h("-0x1.ba1ba1b97d86ep-5"),
        _h("0x1.664f4859703bap-6"),
        _h("-0x1.226e2f146e9e6p-7"),
        _h("0x1.d6d29b9516c44p-9"),
        _h("-0x1.7d8fd3978a293p-10"),
        _h("0x1.3483ade6136cdp-11"),
        _h("-0x1.e96fbf762562ap-13"),
        _h("0x1.5d7448ab9ab46p-14"),
        _h("-0x1.4710e1431407bp-16"),
    ),
    log_subnormal_shift=54,
    log1p_tiny=2.0**-54,
)

_F32 = _Format(
    suffix="f32",
    bits=32,
    mant_bits=23,
    bias=127,
    exp_clamp_lo=-104.0,
    exp_clamp_hi=89.0,
    ln2_hi=_h("0x1.62e400p-1"),
    ln2_lo=_h("0x1.7f7d1cp-20"),
    log2e=_h("0x1.715476p+0"),
    exp_poly=(
        _h("0x1.fffffcp-2"),
        _h("0x1.555492p-3"),
        _h("0x1.5558f2p-5"),
        _h("0x1.123a0cp-7"),
        _h("0x1.6a23e8p-10"),
    ),
    # FreeBSD e_logf.c Lg1..Lg4: |error| < 2**-34.24.
    log_poly=(
        _h("0xaaaaaa.0p-24"),
        _h("0xccce13.0p-25"),
        _h("0x91e9ee.0p-25"),
        _h("0xf89e26.0p-26"),
    ),
    tanh_poly=(
        _h("-0x1.55554ap-2"),
        _h("0x1.110d26p-3"),
        _h("-0x1.b9287ap-5"),
        _h("0x1.593cfap-6"),
        _h("-0x1.9b3006p-8"),
    ),
    log_subnormal_shift=25,
    log1p_tiny=2.0**-25,
)

# Below tanh(a) = 1/2 the exp-based formula cancels badly, so a polynomial
# takes over there (the fits above are made for exactly this interval).
_TANH_SMALL = 0.55

# Adding this to the mantissa carries into the exponent exactly when the
# mantissa is >= sqrt(2) (fdlibm's 0x95f64 for the high word), which picks
# m in [sqrt(2)/2, sqrt(2)) and keeps |s| small in the log kernel.
_SQRT2_CARRY = {64: 0x95F64 << 32, 32: 0x95F64 << 3}


def _format_of(ty: ir.Type) -> _Format:
    elem = ty.element if isinstance(ty, ir.VectorType) else ty
    if isinstance(elem, ir.DoubleType):
        return _F64
    if isinstance(elem, ir.FloatType):
        return _F32
    raise TypeError(f"unsupported type for symnet math: {ty}")


def _type_suffix(ty: ir.Type) -> str:
    fmt = _format_of(ty)
    if isinstance(ty, ir.VectorType):
        return f"v{ty.count}{fmt.suffix}"
    return fmt.suffix


def math_function_name(fname: str, ty: ir.Type) -> str:
    """Return the symbol ``define_math(module, fname, ty)`` defines."""
    if fname not in MATH_FUNCTIONS:
        raise ValueError(
            f"unknown math function {fname!r}; expected one of {', '.join(MATH_FUNCTIONS)}"
        )
    return f"symnet.{fname}.{_type_suffix(ty)}"


class _Emitter:
    """Builds type-generic IR: constants are splatted to match ``ty``."""

    def __init__(self, module: ir.Module, builder: ir.IRBuilder, ty: ir.Type):
        self.module = module
        self.b = builder
        self.ty = ty
        self.fmt = _format_of(ty)
        int_elem = ir.IntType(self.fmt.bits)
        if isinstance(ty, ir.VectorType):
            self.ity: ir.Type = ir.VectorType(int_elem, ty.count)
        else:
            self.ity = int_elem

    # -- constants ---------------------------------------------------------
    def f(self, value: float) -> ir.Constant:
        return ir.Constant(self.ty, value)

    def i(self, value: int) -> ir.Constant:
        return ir.Constant(self.ity, value)

    # -- intrinsics --------------------------------------------------------
    def _intrinsic(self, name: str, nargs: int) -> ir.Function:
        full = f"{name}.{_type_suffix(self.ty)}"
        existing = self.module.globals.get(full)
        if existing is not None:
            return existing
        fnty = ir.FunctionType(self.ty, [self.ty] * nargs)
        return ir.Function(self.module, fnty, name=full)

    def fma(self, a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
        return self.b.call(self._intrinsic("llvm.fmuladd", 3), [a, b, c])

    def fabs(self, a: ir.Value) -> ir.Value:
        return self.b.call(self._intrinsic("llvm.fabs", 1), [a])

    def call(self, fname: str, a: ir.Value) -> ir.Value:
        return self.b.call(define_math(self.module, fname, self.ty), [a])

    # -- arithmetic shorthands ---------------------------------------------
    def add(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fadd(a, b)

    def sub(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fsub(a, b)

    def mul(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fmul(a, b)

    def div(self, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.fdiv(a, b)

    def cmp(self, op: str, a: ir.Value, b: ir.Value) -> ir.Value:
        # Ordered: every comparison involving NaN is false, so NaN inputs
        # fall through to the arithmetic path and propagate.
        return self.b.fcmp_ordered(op, a, b)

    def sel(self, cond: ir.Value, a: ir.Value, b: ir.Value) -> ir.Value:
        return self.b.select(cond, a, b)

    def to_int(self, a: ir.Value) -> ir.Value:
        return self.b.bitcast(a, self.ity)

    def to_float(self, a: ir.Value) -> ir.Value:
        return self.b.bitcast(a, self.ty)

    def horner(self, x: ir.Value, coeffs: Sequence[float]) -> ir.Value:
        acc: ir.Value = self.f(coeffs[-1])
        for c in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, self.f(c))
        return acc

    def pow2(self, k: ir.Value) -> ir.Value:
        """2**k for an integer k inside the normal exponent range."""
        biased = self.b.add(k, self.i(self.fmt.bias))
        return self.to_float(self.b.shl(biased, self.i(self.fmt.mant_bits)))

    def copysign(self, mag: ir.Value, sign: ir.Value) -> ir.Value:
        sign_bit = self.i(1 << (self.fmt.bits - 1))
        sbits = self.b.and_(self.to_int(sign), sign_bit)
        return self.to_float(self.b.or_(self.to_int(mag), sbits))


def _emit_exp(em: _Emitter, x: ir.Value) -> ir.Value:
    fmt = em.fmt
    # Clamping maps +-inf onto finite inputs whose results already are
    # inf / 0, and bounds k for the exponent arithmetic below.  Ordered
    # compares leave NaN untouched so it propagates through p.
    xc = em.sel(em.cmp(">", x, em.f(fmt.exp_clamp_hi)), em.f(fmt.exp_clamp_hi), x)
    xc = em.sel(em.cmp("<", xc, em.f(fmt.exp_clamp_lo)), em.f(fmt.exp_clamp_lo), xc)

    shifter = em.f(fmt.shifter)
    t = em.fma(xc, em.f(fmt.log2e), shifter)
    kf = em.sub(t, shifter)
    k = em.b.sub(em.to_int(t), em.to_int(shifter))

    # Cody-Waite: k * ln2_hi is exact, so the first step loses nothing.
    r = em.fma(kf, em.f(-fmt.ln2_hi), xc)
    r = em.fma(kf, em.f(-fmt.ln2_lo), r)

    q = em.horner(r, fmt.exp_poly)
    p = em.add(em.fma(em.mul(r, r), q, r), em.f(1.0))

    # k can exceed the normal exponent range (overflow edge and the whole
    # subnormal range), so scale in two halves; p * 2**k1 is exact and the
    # second multiply rounds once, into a subnormal or to inf as IEEE says.
    k1 = em.b.ashr(k, em.i(1))
    k2 = em.b.sub(k, k1)
    return em.mul(em.mul(p, em.pow2(k1)), em.pow2(k2))


def _emit_log_kernel(
    em: _Emitter, u: ir.Value, corr: ir.Value | None, normalize_subnormals: bool
) -> ir.Value:
    """log(u) + corr for finite u > 0, where corr is a tiny low-order term."""
    fmt = em.fmt
    kadj: ir.Value = em.i(0)
    if normalize_subnormals:
        is_sub = em.cmp("<", u, em.f(fmt.min_normal))
        u = em.sel(is_sub, em.mul(u, em.f(2.0**fmt.log_subnormal_shift)), u)
        kadj = em.sel(is_sub, em.i(-fmt.log_subnormal_shift), kadj)

    bits = em.to_int(u)
    mant_mask = (1 << fmt.mant_bits) - 1
    implicit = 1 << fmt.mant_bits
    one_bits = fmt.bias << fmt.mant_bits

    expo = em.b.lshr(bits, em.i(fmt.mant_bits))
    mant = em.b.and_(bits, em.i(mant_mask))
    # carry == implicit iff mantissa >= sqrt(2): then use m/2 and k+1.
    carry = em.b.and_(em.b.add(mant, em.i(_SQRT2_CARRY[fmt.bits])), em.i(implicit))
    m = em.to_float(em.b.or_(mant, em.b.xor(carry, em.i(one_bits))))
    k = em.b.add(
        em.b.add(expo, em.i(-fmt.bias)),
        em.b.add(kadj, em.b.lshr(carry, em.i(fmt.mant_bits))),
    )
    # Integer -> float via the shifter trick (no sitofp of i64 vectors).
    shifter = em.f(fmt.shifter)
    kf = em.sub(em.to_float(em.b.add(k, em.to_int(shifter))), shifter)

    f = em.sub(m, em.f(1.0))
    hfsq = em.mul(em.mul(f, f), em.f(0.5))
    s = em.div(f, em.add(f, em.f(2.0)))
    z = em.mul(s, s)
    w = em.mul(z, z)
    # Even/odd split of the polynomial (as in fdlibm) for shorter chains.
    t1 = em.mul(w, em.horner(w, em.fmt.log_poly[1::2]))
    t2 = em.mul(z, em.horner(w, em.fmt.log_poly[0::2]))
    big_r = em.add(t2, t1)

    lo = em.mul(kf, em.f(fmt.ln2_lo))
    if corr is not None:
        lo = em.add(lo, corr)
    # fdlibm ordering: the small terms are summed first and f last, so
    # the final rounding is the only one at full magnitude.
    inner = em.sub(em.sub(hfsq, em.add(em.mul(s, em.add(hfsq, big_r)), lo)), f)
    return em.sub(em.mul(kf, em.f(fmt.ln2_hi)), inner)


def _emit_log(em: _Emitter, x: ir.Value) -> ir.Value:
    res = _emit_log_kernel(em, x, None, normalize_subnormals=True)
    inf = float("inf")
    res = em.sel(em.cmp("==", x, em.f(inf)), em.f(inf), res)
    res = em.sel(em.cmp("==", x, em.f(0.0)), em.f(-inf), res)
    res = em.sel(em.cmp("<", x, em.f(0.0)), em.f(float("nan")), res)
    return em.sel(em.cmp("uno", x, x), x, res)


def _emit_log1p(em: _Emitter, x: ir.Value) -> ir.Value:
    one = em.f(1.0)
    u = em.add(x, one)
    # c is the rounding error of 1 + x (computed exactly); log(u + c) is
    # log(u) + c/u to first order, which restores the bits lost in u.
    c_big = em.sub(one, em.sub(u, x))
    c_small = em.sub(x, em.sub(u, one))
    c = em.sel(em.cmp(">=", u, em.f(2.0)), c_big, c_small)
    c = em.div(c, u)
    # u >= 2**-mant_bits whenever u > 0, so subnormals never reach the kernel.
    res = _emit_log_kernel(em, u, c, normalize_subnormals=False)

    inf = float("inf")
    # For |x| this small log1p(x) rounds to x; returning x also keeps -0.
    res = em.sel(em.cmp("<", em.fabs(x), em.f(em.fmt.log1p_tiny)), x, res)
    res = em.sel(em.cmp("==", x, em.f(inf)), em.f(inf), res)
    res = em.sel(em.cmp("==", x, em.f(-1.0)), em.f(-inf), res)
    res = em.sel(em.cmp("<", x, em.f(-1.0)), em.f(float("nan")), res)
    return em.sel(em.cmp("uno", x, x), x, res)


def _emit_tanh(em: _Emitter, x: ir.Value) -> ir.Value:
    a = em.fabs(x)
    a2 = em.mul(a, a)
    small = em.fma(em.mul(a, a2), em.horner(a2, em.fmt.tanh_poly), a)
    # 1 - 2/(e^{2a}+1) is accurate once tanh(a) >= 1/2; for huge a the
    # exp overflows to inf and this gives exactly 1.
    e = em.call("exp", em.add(a, a))
    one = em.f(1.0)
    large = em.sub(one, em.div(em.f(2.0), em.add(e, one)))
    y = em.sel(em.cmp("<", a, em.f(_TANH_SMALL)), small, large)
    # Odd function: reattach the sign (keeps tanh(-0) = -0).
    return em.copysign(y, x)


def _emit_logistic(em: _Emitter, x: ir.Value) -> ir.Value:
    # exp(-|x|) <= 1 never overflows; both branches share it.
    e = em.call("exp", em.b.fneg(em.fabs(x)))
    # x < 0: e/(1+e) = exp(x)/(1+exp(x)); else 1/(1+exp(-x)).  Selecting the
    # numerator keeps a single division; NaN takes the 1/(1+NaN) path.
    num = em.sel(em.cmp("<", x, em.f(0.0)), e, em.f(1.0))
    return em.div(num, em.add(em.f(1.0), e))


def _emit_softplus(em: _Emitter, x: ir.Value) -> ir.Value:
    e = em.call("exp", em.b.fneg(em.fabs(x)))
    tail = em.call("log1p", e)
    # select rather than maxnum: NaN must propagate (it does via tail).
    pos = em.sel(em.cmp(">", x, em.f(0.0)), x, em.f(0.0))
    return em.add(pos, tail)


_EMITTERS: dict[str, Callable[[_Emitter, ir.Value], ir.Value]] = {
    "exp": _emit_exp,
    "log": _emit_log,
    "log1p": _emit_log1p,
    "tanh": _emit_tanh,
    "logistic": _emit_logistic,
    "softplus": _emit_softplus,
}


def define_math(module: ir.Module, fname: str, ty: ir.Type) -> ir.Function:
    """Define (once) ``symnet.<fname>.<type>`` in *module* and return it.

    *fname* is one of :data:`MATH_FUNCTIONS`; *ty* is ``double``, ``float``
    or a vector of either.  The function is ``internal`` and
    ``alwaysinline``, takes one *ty* argument and returns *ty*.  A second
    call with the same arguments returns the existing function.

    >>> from llvmlite import ir
    >>> module = ir.Module()
    >>> fn = define_math(module, "exp", ir.VectorType(ir.DoubleType(), 4))
    >>> fn.name, fn.linkage
    ('symnet.exp.v4f64', 'internal')
    >>> define_math(module, "exp", ir.VectorType(ir.DoubleType(), 4)) is fn
    True
    """
    name = math_function_name(fname, ty)
    fnty = ir.FunctionType(ty, [ty])
    existing = module.globals.get(name)
    if existing is not None:
        if not isinstance(existing, ir.Function) or existing.ftype != fnty:
            raise TypeError(f"{name} already exists in the module with another type")
        if not existing.is_declaration:
            return existing
        fn = existing
    else:
        fn = ir.Function(module, fnty, name=name)

    fn.linkage = "internal"
    for attr in ("alwaysinline", "nounwind", "readnone"):
        fn.attributes.add(attr)
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    em = _Emitter(module, builder, ty)
    builder.ret(_EMITTERS[fname](em, fn.args[0]))
    return fn
