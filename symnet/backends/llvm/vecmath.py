"""Branch-free, vectorizable elementary functions in LLVM IR.

exp, log, log1p, tanh, logistic, softplus, sin, cos, tan, atan, asin,
acos, erf, erfc and expm1.  Calls to libm block LLVM's loop vectorizer, so
symnet emits its own elementwise math.  Every function is straight-line
code (``select`` instead of branches, bit tricks instead of
``frexp``/``ldexp``), so the same IR serves scalars and ``<N x T>`` vectors
and a scalar loop that calls it auto-vectorizes after inlining.

Accuracy (float64 and float32, measured against correctly rounded results,
see ``tests/test_llvm_vecmath.py`` and ``benchmarks/accuracy.py``): within
4 ulp -- mostly 1 -- of the correctly rounded result over the whole domain,
with IEEE results at the edges (inf, 0, subnormals, NaN, signed zero).
Exceptions, by design:

* sin, cos, tan reduce the argument with a Cody-Waite split of pi/2, which
  is accurate for |x| <= 2**20 * pi (float64) and |x| <= 2**29 * pi
  (float32); beyond that they return NaN rather than a silently wrong
  value (a branch-free Payne-Hanek reduction would cost every lane).
  float32 sin/cos/tan run in double precision internally.
* erfc's bound is relative where the result is a normal number; in the
  subnormal range (x > 26.55 for float64, x > 9.19 for float32) the error
  is absolute, below one subnormal ulp or so, as for any rounding there.

Polynomials are evaluated with ``llvm.fmuladd`` so the backend may fuse
them when the target has FMA; the algorithms never rely on fusion for
accuracy (range reductions use split constants whose products are exact,
and error terms are recovered with exact sums, not fused products).  The
coefficients are minimax fits made for these intervals (weighted Remez
exchange, rounded to the format), except where a comment names the source.
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
    "sin",
    "cos",
    "tan",
    "atan",
    "asin",
    "acos",
    "erf",
    "erfc",
    "expm1",
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
    # |x| below this: log1p(x) and expm1(x) round to x.
    log1p_tiny: float
    # Clearing this many low mantissa bits leaves a value whose square is
    # exact (Dekker-style split, without relying on a fused multiply-add).
    split_low_bits: int
    # atan(t) ~ t + t z P(z), z = t^2, on |t| <= 7/16.
    atan_poly: tuple[float, ...]
    # atan(1/2), atan(1), atan(3/2), atan(inf) as hi + lo.
    atan_hi: tuple[float, ...]
    atan_lo: tuple[float, ...]
    pio2_hi: float
    pio2_lo: float
    pi_hi: float
    pi_lo: float
    # asin(s) ~ s + s z R(z), z = s^2 <= 1/4.
    asin_poly: tuple[float, ...]
    # expm1(r) ~ r + r^2 Q(r) on |r| <= ln2/2, Q(0) = 1/2 exactly.
    expm1_poly: tuple[float, ...]
    # Below this expm1 is -1 to the last bit; clamping bounds k.
    expm1_clamp_lo: float
    # erf(a) ~ a + a P(a^2) on a < _ERF_SMALL.
    erf_poly: tuple[float, ...]
    # erfc(a) = exp(-a^2) F(a) for a >= _ERF_SMALL: F piecewise, pieces split
    # at erfc_bounds; each is (centre, c0_lo, coefficients) and is a
    # polynomial in a - centre, or, with centre None (the tail), a
    # polynomial in 1/a^2 that gives F(a) * a.
    erfc_bounds: tuple[float, ...]
    erfc_pieces: tuple[tuple[float | None, float, tuple[float, ...]], ...]
    # erfc(a) is 0 beyond erfc_cap; 1 - erfc(a) rounds to 1 beyond erf_cap.
    erfc_cap: float
    erf_cap: float

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
    split_low_bits=27,
    atan_poly=(
        _h("-0x1.555555555550bp-2"),
        _h("0x1.999999998e7ecp-3"),
        _h("-0x1.2492491ff378ap-3"),
        _h("0x1.c71c6fdb32156p-4"),
        _h("-0x1.745cdba6e4cb3p-4"),
        _h("0x1.3b0f20829b5fep-4"),
        _h("-0x1.10d6030baf906p-4"),
        _h("0x1.ddddc06e22a12p-5"),
        _h("-0x1.97a0ce7045945p-5"),
        _h("0x1.2b184f26aec89p-5"),
        _h("-0x1.0a7fde53c64d5p-6"),
    ),
    atan_hi=(
        _h("0x1.dac670561bb4fp-2"),
        _h("0x1.921fb54442d18p-1"),
        _h("0x1.f730bd281f69bp-1"),
        _h("0x1.921fb54442d18p+0"),
    ),
    atan_lo=(
        _h("0x1.a2b7f222f65e2p-56"),
        _h("0x1.1a62633145c07p-55"),
        _h("0x1.007887af0cbbdp-56"),
        _h("0x1.1a62633145c07p-54"),
    ),
    pio2_hi=_h("0x1.921fb54442d18p+0"),
    pio2_lo=_h("0x1.1a62633145c07p-54"),
    pi_hi=_h("0x1.921fb54442d18p+1"),
    pi_lo=_h("0x1.1a62633145c07p-53"),
    asin_poly=(
        _h("0x1.5555555555577p-3"),
        _h("0x1.333333332e131p-4"),
        _h("0x1.6db6db7212683p-5"),
        _h("0x1.f1c71a94f2aedp-6"),
        _h("0x1.6e8bdee04b069p-6"),
        _h("0x1.1c49f05bc313bp-6"),
        _h("0x1.ca1f8d926863bp-7"),
        _h("0x1.7585885614615p-7"),
        _h("0x1.613c94d3c29f6p-7"),
        _h("0x1.e5f50035bed2cp-9"),
        _h("0x1.639c9cc77f561p-6"),
        _h("-0x1.57fdb83f34e27p-6"),
        _h("0x1.0b46cfd0748c5p-5"),
    ),
    expm1_poly=(
        0.5,
        _h("0x1.5555555555559p-3"),
        _h("0x1.5555555555552p-5"),
        _h("0x1.111111110f5e1p-7"),
        _h("0x1.6c16c16c174bdp-10"),
        _h("0x1.a01a01b05216dp-13"),
        _h("0x1.a01a01a4eb759p-16"),
        _h("0x1.71ddf70e00978p-19"),
        _h("0x1.27e4d4afd5ff4p-22"),
        _h("0x1.af6140d270fa5p-26"),
        _h("0x1.1f9134950f038p-29"),
    ),
    expm1_clamp_lo=-40.0,
    erf_poly=(
        _h("0x1.06eba8214db69p-3"),
        _h("-0x1.812746b037a31p-2"),
        _h("0x1.ce2f21a046bb5p-4"),
        _h("-0x1.b82ce313dfd9bp-6"),
        _h("0x1.565bcd499ecc9p-8"),
        _h("-0x1.c02dbfec4de8fp-11"),
        _h("0x1.f9a4a5d2e74ddp-14"),
        _h("-0x1.f4f120a59f785p-17"),
        _h("0x1.bb7b2cd8577cap-20"),
        _h("-0x1.6c2e762b7e314p-23"),
        _h("0x1.363f0fbfa4c54p-26"),
        _h("-0x1.008e2046fc161p-29"),
    ),
    erfc_bounds=(2.0, 3.5, 6.0),
    erfc_pieces=(
        (
            1.421875,
            _h("0x1.d17dc2134cf24p-59"),
            (
                _h("0x1.56e2c70875a32p-2"),
                _h("-0x1.68c1dc2130a6cp-3"),
                _h("0x1.59a3d22374313p-4"),
                _h("-0x1.32be61f54aca7p-5"),
                _h("0x1.fe41e1fc46efbp-7"),
                _h("-0x1.91297b9b924e7p-8"),
                _h("0x1.2c13302385e13p-9"),
                _h("-0x1.ad51ec4d51e16p-11"),
                _h("0x1.26ee22f27ca9dp-12"),
                _h("-0x1.8679ffc117db1p-14"),
                _h("0x1.f39bb3ac71755p-16"),
                _h("-0x1.35a515eb01881p-17"),
                _h("0x1.74af2aa8e6c64p-19"),
                _h("-0x1.b42ed1ee367e5p-21"),
                _h("0x1.eeb8822852f55p-23"),
                _h("-0x1.13b06837a2568p-24"),
                _h("0x1.4dabeaac3ba8fp-26"),
                _h("-0x1.5cf7b49e99994p-28"),
            ),
        ),
        (
            2.75,
            _h("-0x1.b50f95ac9f7c1p-57"),
            (
                _h("0x1.8c9eb68ff27d7p-3"),
                _h("-0x1.0305781330099p-4"),
                _h("0x1.43b98bac83815p-6"),
                _h("-0x1.84e9ab30e6acap-8"),
                _h("0x1.c2c72fd72a024p-10"),
                _h("-0x1.f99e41ecaf61bp-12"),
                _h("0x1.131bb15fa689bp-13"),
                _h("-0x1.2312b2595623ap-15"),
                _h("0x1.2bfb5be970e94p-17"),
                _h("-0x1.2da32a0aa5842p-19"),
                _h("0x1.2856b49ccf7c0p-21"),
                _h("-0x1.1ccf78a6ee8eep-23"),
                _h("0x1.0c23284b17b41p-25"),
                _h("-0x1.eed78a04a459dp-28"),
                _h("0x1.bd28d4c387cf5p-30"),
                _h("-0x1.8c65990840fc6p-32"),
                _h("0x1.86e1b3ec1fea6p-34"),
                _h("-0x1.4c67249214e69p-36"),
            ),
        ),
        (
            4.75,
            _h("-0x1.d35a6257da088p-59"),
            (
                _h("0x1.dc603a3e77e9bp-4"),
                _h("-0x1.81149bc4a104cp-6"),
                _h("0x1.317c144f8b418p-8"),
                _h("-0x1.dc1af883a2ffbp-11"),
                _h("0x1.6cc10c16255fbp-13"),
                _h("-0x1.12f1743bf0775p-15"),
                _h("0x1.9818c0a1d8cfcp-18"),
                _h("-0x1.2a625a0697afdp-20"),
                _h("0x1.ae1facb7edd1dp-23"),
                _h("-0x1.31c3e9b9cd7d4p-25"),
                _h("0x1.acfa185cf96e5p-28"),
                _h("-0x1.2911df236a2dcp-30"),
                _h("0x1.96610e7b0d0a5p-33"),
                _h("-0x1.12de7b17b1039p-35"),
                _h("0x1.6f260475630f1p-38"),
                _h("-0x1.dbff1fa5e9476p-41"),
                _h("0x1.3794b272616f4p-43"),
                _h("-0x1.eeb34adb64912p-46"),
                _h("0x1.396486e9e086fp-48"),
            ),
        ),
        (
            None,
            _h("0x1.0662893271486p-56"),
            (
                _h("0x1.20dd750429b6cp-1"),
                _h("-0x1.20dd750428decp-2"),
                _h("0x1.b14c2f83ddd5dp-2"),
                _h("-0x1.0ecf9cd2813bfp+0"),
                _h("0x1.d9eaf09564d72p+1"),
                _h("-0x1.0a8d627aff951p+4"),
                _h("0x1.6de53928ff0cap+6"),
                _h("-0x1.248ee51d63f28p+9"),
                _h("0x1.f49ebae273078p+11"),
                _h("-0x1.7abe0c553f7ddp+14"),
                _h("0x1.53a93bf81ae0ep+16"),
            ),
        ),
    ),
    erfc_cap=27.5,
    erf_cap=6.0,
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
    split_low_bits=12,
    atan_poly=(
        _h("-0x1.555542p-2"),
        _h("0x1.998df8p-3"),
        _h("-0x1.236f16p-3"),
        _h("0x1.add6b2p-4"),
        _h("-0x1.dd3c64p-5"),
    ),
    atan_hi=(_h("0x1.dac670p-2"), _h("0x1.921fb6p-1"), _h("0x1.f730bep-1"), _h("0x1.921fb6p+0")),
    atan_lo=(
        _h("0x1.586ed4p-28"),
        _h("-0x1.777a5cp-26"),
        _h("-0x1.afc12cp-26"),
        _h("-0x1.777a5cp-25"),
    ),
    pio2_hi=_h("0x1.921fb6p+0"),
    pio2_lo=_h("-0x1.777a5cp-25"),
    pi_hi=_h("0x1.921fb6p+1"),
    pi_lo=_h("-0x1.777a5cp-24"),
    asin_poly=(
        _h("0x1.55554cp-3"),
        _h("0x1.3338acp-4"),
        _h("0x1.6ca816p-5"),
        _h("0x1.04c5e4p-5"),
        _h("0x1.d640cep-7"),
        _h("0x1.344668p-5"),
    ),
    expm1_poly=(
        0.5,
        _h("0x1.555554p-3"),
        _h("0x1.5554eap-5"),
        _h("0x1.1113acp-7"),
        _h("0x1.6d4cd4p-10"),
        _h("0x1.9c6360p-13"),
    ),
    expm1_clamp_lo=-20.0,
    erf_poly=(
        _h("0x1.06eba8p-3"),
        _h("-0x1.812740p-2"),
        _h("0x1.ce2d5cp-4"),
        _h("-0x1.b7ff90p-6"),
        _h("0x1.543188p-8"),
        _h("-0x1.a4d02ap-11"),
        _h("0x1.49f87ep-14"),
    ),
    erfc_bounds=(2.5,),
    erfc_pieces=(
        (
            1.671875,
            _h("0x1.dd8296p-27"),
            (
                _h("0x1.2ea63ep-2"),
                _h("-0x1.1ef3e4p-3"),
                _h("0x1.f632fap-5"),
                _h("-0x1.9aecfcp-6"),
                _h("0x1.3d5fc6p-7"),
                _h("-0x1.d235e4p-9"),
                _h("0x1.4709e4p-10"),
                _h("-0x1.b27a5ap-12"),
                _h("0x1.1b59ccp-13"),
                _h("-0x1.a993a6p-15"),
                _h("0x1.f56722p-17"),
            ),
        ),
        (
            None,
            _h("0x1.97b616p-26"),
            (
                _h("0x1.20dd74p-1"),
                _h("-0x1.20dd0cp-2"),
                _h("0x1.b12612p-2"),
                _h("-0x1.0d005ap+0"),
                _h("0x1.bfa8b0p+1"),
                _h("-0x1.999276p+3"),
                _h("0x1.47ede8p+5"),
                _h("-0x1.686a3cp+6"),
                _h("0x1.7bc7e4p+6"),
            ),
        ),
    ),
    erfc_cap=10.125,
    erf_cap=4.0,
)

# Below tanh(a) = 1/2 the exp-based formula cancels badly, so a polynomial
# takes over there (the fits above are made for exactly this interval).
_TANH_SMALL = 0.55

# erf(a) ~ a + a P(a^2) below this (fdlibm's split point); at and above it
# erfc(a) <= 0.23, so erf = 1 - erfc loses nothing and erfc = exp(-a^2) F(a).
_ERF_SMALL = 0.84375


@dataclass(frozen=True)
class _Trig:
    """Range reduction and kernels of sin/cos/tan for one input format."""

    # pi/2 = sum(pio2): every part but the last has so few bits that k * part
    # is exact for every k the range limit allows (Cody-Waite); the last
    # part carries the remaining bits and is multiplied with rounding.
    pio2: tuple[float, ...]
    # Carry the rounding errors of the partial remainders (TwoSum): float64
    # needs r to ~2**-115 absolute near multiples of pi/2; float32, reduced
    # in double precision, does not.
    twosum: bool
    # |x| <= limit keeps k below 2**(53 - bits of the exact parts).
    limit: float
    # sin(r) ~ r + r z S(z), cos(r) ~ 1 - z/2 + z^2 C(z), z = r^2, |r| <= pi/4.
    sin_poly: tuple[float, ...]
    cos_poly: tuple[float, ...]
    # |x| below this: sin(x) and tan(x) round to x.
    tiny: float


_TWO_OVER_PI = _h("0x1.45f306dc9c883p-1")

_TRIG = {
    64: _Trig(
        # Three 32-bit parts (k < 2**21, so k * part is exact) and a tail.
        pio2=(
            _h("0x1.921fb54400000p+0"),
            _h("0x1.0b4611a600000p-34"),
            _h("0x1.3198a2e000000p-69"),
            _h("0x1.b839a252049c1p-104"),
        ),
        twosum=True,
        limit=_h("0x1.921fb54442d18p+21"),  # 2**20 * pi, rounded down
        sin_poly=(
            _h("-0x1.5555555555548p-3"),
            _h("0x1.111111110f730p-7"),
            _h("-0x1.a01a019be9218p-13"),
            _h("0x1.71de35552b69ep-19"),
            _h("-0x1.ae5e4b83fa65dp-26"),
            _h("0x1.5d8b559b5d15fp-33"),
        ),
        cos_poly=(
            _h("0x1.555555555554bp-5"),
            _h("-0x1.6c16c16c15015p-10"),
            _h("0x1.a01a019c8f254p-16"),
            _h("-0x1.27e4f7f19147ep-22"),
            _h("0x1.1ee9dbcefa629p-29"),
            _h("-0x1.8fa68485e88c2p-37"),
        ),
        tiny=2.0**-27,
    ),
    # float32 inputs are reduced and evaluated in double precision: two
    # 23-bit parts (k < 2**30) and a tail leave r accurate to ~2**-68, and
    # the polynomials only need float32 accuracy.
    32: _Trig(
        pio2=(
            _h("0x1.921fb40000000p+0"),
            _h("0x1.4442d00000000p-24"),
            _h("0x1.8469898cc5170p-48"),
        ),
        twosum=False,
        limit=_h("0x1.921fb4p+30"),  # 2**29 * pi, rounded down to float32
        sin_poly=(
            _h("-0x1.5555554c71cccp-3"),
            _h("0x1.1111086a5ecdep-7"),
            _h("-0x1.a00f7f26e397bp-13"),
            _h("0x1.6cd1f240ca8d7p-19"),
        ),
        cos_poly=(
            _h("0x1.5555554ed986bp-5"),
            _h("-0x1.6c16b82a16b59p-10"),
            _h("0x1.a010ded1386b4p-16"),
            _h("-0x1.241e9c4cbf64dp-22"),
        ),
        tiny=2.0**-13,
    ),
}

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

    def sqrt(self, a: ir.Value) -> ir.Value:
        # An instruction on every SIMD target (never a libm call).
        return self.b.call(self._intrinsic("llvm.sqrt", 1), [a])

    def pick(self, conds: Sequence[ir.Value], values: Sequence[float | ir.Value]) -> ir.Value:
        """values[i] for the first true conds[i], else values[-1] (a select chain)."""
        acc = values[-1]
        acc = self.f(acc) if isinstance(acc, float | int) else acc
        for cond, v in zip(reversed(conds), reversed(values[:-1]), strict=True):
            acc = self.sel(cond, self.f(v) if isinstance(v, float | int) else v, acc)
        return acc

    def split_high(self, a: ir.Value) -> ir.Value:
        """a with its low mantissa bits cleared, so that its square is exact."""
        mask = ~((1 << self.fmt.split_low_bits) - 1) & ((1 << self.fmt.bits) - 1)
        return self.to_float(self.b.and_(self.to_int(a), self.i(mask)))

    def shifted_int(self, x: ir.Value, scale: float) -> tuple[ir.Value, ir.Value]:
        """round(x * scale) as a float and as an integer (|x * scale| < 2**(mant-1))."""
        shifter = self.f(self.fmt.shifter)
        t = self.fma(x, self.f(scale), shifter)
        return self.sub(t, shifter), self.b.sub(self.to_int(t), self.to_int(shifter))

    def scale2(self, p: ir.Value, k: ir.Value) -> ir.Value:
        """p * 2**k for k up to twice the exponent range, rounded once."""
        # p * 2**k1 is exact and the second multiply rounds once, into a
        # subnormal or to inf as IEEE says.
        k1 = self.b.ashr(k, self.i(1))
        k2 = self.b.sub(k, k1)
        return self.mul(self.mul(p, self.pow2(k1)), self.pow2(k2))


def _exp_kernel(
    em: _Emitter, x: ir.Value, x_lo: ir.Value | None = None, factor: ir.Value | None = None
) -> ir.Value:
    """factor * exp(x + x_lo) for x in the clamped range (factor 1, x_lo 0 if None).

    x_lo is a small correction to x (the low half of -a^2 for erfc); the
    factor is applied before the final scaling so that a result in the
    subnormal range is rounded only once.
    """
    fmt = em.fmt
    kf, k = em.shifted_int(x, fmt.log2e)
    # Cody-Waite: k * ln2_hi is exact, so the first step loses nothing.
    r = em.fma(kf, em.f(-fmt.ln2_hi), x)
    r = em.fma(kf, em.f(-fmt.ln2_lo), r)
    if x_lo is not None:
        r = em.add(r, x_lo)

    q = em.horner(r, fmt.exp_poly)
    pm1 = em.fma(em.mul(r, r), q, r)
    if factor is None:
        p = em.add(pm1, em.f(1.0))
    else:
        # factor + factor * (p - 1): the small term is rounded on its own scale.
        p = em.fma(factor, pm1, factor)
    # k can exceed the normal exponent range (overflow edge and the whole
    # subnormal range), so scale in two halves.
    return em.scale2(p, k)


def _emit_exp(em: _Emitter, x: ir.Value) -> ir.Value:
    fmt = em.fmt
    # Clamping maps +-inf onto finite inputs whose results already are
    # inf / 0, and bounds k for the exponent arithmetic below.  Ordered
    # compares leave NaN untouched so it propagates through p.
    xc = em.sel(em.cmp(">", x, em.f(fmt.exp_clamp_hi)), em.f(fmt.exp_clamp_hi), x)
    xc = em.sel(em.cmp("<", xc, em.f(fmt.exp_clamp_lo)), em.f(fmt.exp_clamp_lo), xc)
    return _exp_kernel(em, xc)


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


def _widened(em: _Emitter) -> _Emitter:
    """An emitter of the same shape in double precision (float32 trig runs there)."""
    wide: ir.Type = ir.DoubleType()
    if isinstance(em.ty, ir.VectorType):
        wide = ir.VectorType(wide, em.ty.count)
    return _Emitter(em.module, em.b, wide)


def _two_sum(em: _Emitter, a: ir.Value, b: ir.Value) -> tuple[ir.Value, ir.Value]:
    """s, e with s = fl(a + b) and a + b = s + e exactly (Knuth; any magnitudes)."""
    s = em.add(a, b)
    bb = em.sub(s, a)
    e = em.add(em.sub(a, em.sub(s, bb)), em.sub(b, bb))
    return s, e


def _trig_reduce(
    em: _Emitter, x: ir.Value, trig: _Trig
) -> tuple[ir.Value, ir.Value | None, ir.Value]:
    """x = k pi/2 + (hi + lo) with |hi + lo| <= pi/4 (a little more at ties); k."""
    kf, k = em.shifted_int(x, _TWO_OVER_PI)
    nk = em.b.fneg(kf)
    parts = trig.pio2
    # k * parts[0] is exact and x is within a factor 2 of it (or k = 0),
    # so this difference is exact too (Sterbenz).
    hi = em.fma(nk, em.f(parts[0]), x)
    if not trig.twosum:
        for part in parts[1:]:
            hi = em.fma(nk, em.f(part), hi)
        return hi, None, k
    lo: ir.Value = em.f(0.0)
    for part in parts[1:-1]:
        # The product is exact; the sum's rounding error is kept in lo.
        hi, err = _two_sum(em, hi, em.mul(nk, em.f(part)))
        lo = em.add(lo, err)
    lo = em.fma(nk, em.f(parts[-1]), lo)
    # Renormalize so that hi carries all the bits it can (|lo| << |hi|).
    r = em.add(hi, lo)
    return r, em.sub(lo, em.sub(r, hi)), k


def _sin_cos_kernel(
    em: _Emitter, hi: ir.Value, lo: ir.Value | None, trig: _Trig
) -> tuple[ir.Value, ir.Value]:
    """sin and cos of hi + lo for |hi + lo| <= pi/4 (lo a tail below ulp(hi))."""
    z = em.mul(hi, hi)
    hz = em.mul(z, em.f(0.5))
    # sin(hi + lo) = sin(hi) + lo cos(hi); the small terms are summed first.
    tail_s = em.mul(em.mul(hi, z), em.horner(z, trig.sin_poly))
    if lo is not None:
        tail_s = em.add(tail_s, em.fma(em.b.fneg(hz), lo, lo))
    sin = em.add(hi, tail_s)
    # cos(hi) = 1 - z/2 + z^2 C(z): w = 1 - z/2 is rounded, (1 - w) - z/2 is
    # exactly its rounding error (Sterbenz), so only the last add rounds.
    one = em.f(1.0)
    w = em.sub(one, hz)
    tail_c = em.fma(em.mul(z, z), em.horner(z, trig.cos_poly), em.sub(em.sub(one, w), hz))
    if lo is not None:
        # cos(hi + lo) = cos(hi) - lo sin(hi).
        tail_c = em.sub(tail_c, em.mul(hi, lo))
    return sin, em.add(w, tail_c)


def _emit_trig(em: _Emitter, x: ir.Value, which: str) -> ir.Value:
    trig = _TRIG[em.fmt.bits]
    wm = _widened(em) if em.fmt.bits == 32 else em
    xw = em.b.fpext(x, wm.ty) if wm is not em else x
    hi, lo, k = _trig_reduce(wm, xw, trig)
    sin, cos = _sin_cos_kernel(wm, hi, lo, trig)
    if which == "cos":
        # cos(x) = sin(x + pi/2): one quadrant further.
        k = wm.b.add(k, wm.i(1))
    odd = wm.b.icmp_unsigned("!=", wm.b.and_(k, wm.i(1)), wm.i(0))
    if which == "tan":
        # tan = sin/cos in even quadrants, -cos/sin in odd ones.
        num = wm.sel(odd, cos, sin)
        den = wm.sel(odd, wm.b.fneg(sin), cos)
        res = wm.div(num, den)
    else:
        # Quadrants 2 and 3 negate: move bit 1 of k into the sign bit.
        flip = wm.b.shl(wm.b.and_(k, wm.i(2)), wm.i(wm.fmt.bits - 2))
        res = wm.to_float(wm.b.xor(wm.to_int(wm.sel(odd, cos, sin)), flip))
    if wm is not em:
        res = em.b.fptrunc(res, em.ty)
    a = em.fabs(x)
    if which != "cos":
        # Also keeps sin(-0) = tan(-0) = -0 and subnormals exact.
        res = em.sel(em.cmp("<", a, em.f(trig.tiny)), x, res)
    # Beyond the limit the reduction would be silently wrong; inf and NaN
    # fail the ordered compare too and give NaN as IEEE says.
    return em.sel(em.cmp("<=", a, em.f(trig.limit)), res, em.f(float("nan")))


def _emit_sin(em: _Emitter, x: ir.Value) -> ir.Value:
    return _emit_trig(em, x, "sin")


def _emit_cos(em: _Emitter, x: ir.Value) -> ir.Value:
    return _emit_trig(em, x, "cos")


def _emit_tan(em: _Emitter, x: ir.Value) -> ir.Value:
    return _emit_trig(em, x, "tan")


def _emit_atan(em: _Emitter, x: ir.Value) -> ir.Value:
    fmt = em.fmt
    a = em.fabs(x)
    # atan(a) = atan(c) + atan((a - c) / (1 + c a)) for c in 0, 1/2, 1, 3/2
    # and pi/2 + atan(-1/a) above 39/16 (fdlibm's intervals); the numerators
    # 2a - 1, a - 1, a - 3/2 are exact on their intervals (Sterbenz).
    conds = [em.cmp("<", a, em.f(b)) for b in (7 / 16, 11 / 16, 19 / 16, 39 / 16)]
    num = em.fma(
        a, em.pick(conds, [1.0, 2.0, 1.0, 1.0, 0.0]), em.pick(conds, [0.0, -1.0, -1.0, -1.5, -1.0])
    )
    # inf * 0 would be NaN in the last interval: its numerator is -1 outright.
    num = em.sel(conds[3], num, em.f(-1.0))
    den = em.fma(
        a, em.pick(conds, [0.0, 1.0, 1.0, 1.5, 1.0]), em.pick(conds, [1.0, 2.0, 1.0, 1.0, 0.0])
    )
    t = em.div(num, den)
    z = em.mul(t, t)
    small = em.fma(em.mul(t, z), em.horner(z, fmt.atan_poly), em.pick(conds, [0.0, *fmt.atan_lo]))
    res = em.add(em.pick(conds, [0.0, *fmt.atan_hi]), em.add(t, small))
    # Odd function (also atan(-0) = -0); NaN stays NaN through t.
    return em.copysign(res, x)


def _asin_parts(em: _Emitter, a: ir.Value):
    """Shared by asin and acos, for a = |x|.

    Returns (small, v, p, f, c): small is a <= 1/2; asin(v) = v + p where v
    is a there and s = sqrt((1 - a)/2) otherwise; f + c = s to about twice
    the working precision (f has a short mantissa, c its correction).
    """
    fmt = em.fmt
    one = em.f(1.0)
    small = em.cmp("<=", a, em.f(0.5))
    # 1 - a is exact for a >= 1/2; halving is exact.
    zl = em.mul(em.sub(one, a), em.f(0.5))
    z = em.sel(small, em.mul(a, a), zl)
    s = em.sqrt(zl)
    v = em.sel(small, a, s)
    p = em.mul(v, em.mul(z, em.horner(z, fmt.asin_poly)))
    f = em.split_high(s)
    # sqrt(zl) = f + (zl - f^2)/(s + f); f^2 is exact and zl - f^2 too (they
    # are close).  The added min_normal only matters at s = 0 (0/0).
    c = em.div(em.sub(zl, em.mul(f, f)), em.add(em.add(s, f), em.f(fmt.min_normal)))
    return small, v, p, f, c


def _emit_asin(em: _Emitter, x: ir.Value) -> ir.Value:
    fmt = em.fmt
    a = em.fabs(x)
    small, v, p, f, c = _asin_parts(em, a)
    # a > 1/2: asin(a) = pi/2 - 2 asin(s) = (pi/2 - 2f) - 2(c + p) + pio2_lo.
    two_f = em.add(f, f)
    large = em.add(
        em.sub(em.f(fmt.pio2_hi), two_f),
        em.sub(em.f(fmt.pio2_lo), em.mul(em.add(c, p), em.f(2.0))),
    )
    res = em.sel(small, em.add(v, p), large)
    # |x| > 1 and NaN reach the sqrt of a negative number or NaN: NaN.
    return em.copysign(res, x)


def _emit_acos(em: _Emitter, x: ir.Value) -> ir.Value:
    fmt = em.fmt
    a = em.fabs(x)
    small, v, p, f, c = _asin_parts(em, a)
    two = em.f(2.0)
    # |x| <= 1/2: pi/2 - asin(x), the small terms first.
    ps = em.copysign(p, x)
    mid = em.sub(em.f(fmt.pio2_hi), em.add(x, em.sub(ps, em.f(fmt.pio2_lo))))
    # x > 1/2: 2 asin(s); x < -1/2: pi - 2 asin(s).
    pos = em.mul(em.add(f, em.add(c, p)), two)
    neg = em.add(
        em.sub(em.f(fmt.pi_hi), em.add(f, f)),
        em.sub(em.f(fmt.pi_lo), em.mul(em.add(c, p), two)),
    )
    res = em.sel(em.cmp(">", x, em.f(0.0)), pos, neg)
    return em.sel(small, mid, res)


def _erfc_large(em: _Emitter, a: ir.Value) -> ir.Value:
    """erfc(a) = exp(-a^2) F(a) for _ERF_SMALL <= a <= erfc_cap (NaN passes)."""
    fmt = em.fmt
    pieces = fmt.erfc_pieces
    conds = [em.cmp("<", a, em.f(b)) for b in fmt.erfc_bounds]
    is_tail = em.b.not_(conds[-1]) if conds else None
    # One polynomial per lane: its coefficients are picked by interval.  The
    # variable a - centre is exact (Sterbenz); 1/a^2 is rounded, but F * a
    # hardly depends on it there.
    centre = em.pick(conds, [c if c is not None else 0.0 for c, _, _ in pieces])
    var = em.sub(a, centre)
    if pieces[-1][0] is None:
        var = em.sel(is_tail, em.div(em.f(1.0), em.mul(a, a)), var)
    degree = max(len(cs) for _, _, cs in pieces)
    coeffs = [
        em.pick(conds, [cs[j] if j < len(cs) else 0.0 for _, _, cs in pieces])
        for j in range(degree)
    ]
    acc = coeffs[-1]
    for cj in reversed(coeffs[1:-1]):
        acc = em.fma(acc, var, cj)
    # c0 is stored as hi + lo: its own rounding would otherwise be the
    # largest error term.
    c0_lo = em.pick(conds, [lo for _, lo, _ in pieces])
    big_f = em.add(coeffs[0], em.fma(acc, var, c0_lo))
    if pieces[-1][0] is None:
        big_f = em.sel(is_tail, em.div(big_f, a), big_f)
    # -a^2 = -ah^2 - (a - ah)(a + ah) with ah^2 exact: exp needs the low part.
    ah = em.split_high(a)
    x_hi = em.b.fneg(em.mul(ah, ah))
    x_lo = em.b.fneg(em.mul(em.sub(a, ah), em.add(a, ah)))
    return _exp_kernel(em, x_hi, x_lo, big_f)


def _erf_small_poly(em: _Emitter, x: ir.Value) -> ir.Value:
    """x P(x^2), where erf(x) = x + x P(x^2) for |x| < _ERF_SMALL."""
    return em.mul(x, em.horner(em.mul(x, x), em.fmt.erf_poly))


def _emit_erf(em: _Emitter, x: ir.Value) -> ir.Value:
    fmt = em.fmt
    a = em.fabs(x)
    small = em.add(a, _erf_small_poly(em, a))
    # Beyond erf_cap 1 - erfc rounds to 1; capping keeps exp's k in range.
    ac = em.sel(em.cmp(">", a, em.f(fmt.erf_cap)), em.f(fmt.erf_cap), a)
    ac = em.sel(em.cmp("<", ac, em.f(_ERF_SMALL)), em.f(_ERF_SMALL), ac)
    large = em.sub(em.f(1.0), _erfc_large(em, ac))
    res = em.sel(em.cmp("<", a, em.f(_ERF_SMALL)), small, large)
    # Odd function (also erf(-0) = -0); NaN takes the large path and stays NaN.
    return em.copysign(res, x)


def _emit_erfc(em: _Emitter, x: ir.Value) -> ir.Value:
    fmt = em.fmt
    a = em.fabs(x)
    xp = _erf_small_poly(em, x)
    # 1 - erf(x) = c - ((x - (1 - c)) + x P) with c = 1, 1/2, 1/4 from x = 1/4,
    # 3/4 on: the inner sum stays below the result's scale, so it rounds
    # finer than the result (x - 1/2 and x - 3/4 are exact there).
    c = em.pick([em.cmp("<", x, em.f(0.25)), em.cmp("<", x, em.f(0.75))], [1.0, 0.5, 0.25])
    near = em.sub(c, em.add(em.sub(x, em.sub(em.f(1.0), c)), xp))
    ac = em.sel(em.cmp(">", a, em.f(fmt.erfc_cap)), em.f(fmt.erfc_cap), a)
    ac = em.sel(em.cmp("<", ac, em.f(_ERF_SMALL)), em.f(_ERF_SMALL), ac)
    tail = _erfc_large(em, ac)
    far = em.sel(em.cmp("<", x, em.f(0.0)), em.sub(em.f(2.0), tail), tail)
    return em.sel(em.cmp("<", a, em.f(_ERF_SMALL)), near, far)


def _emit_expm1(em: _Emitter, x: ir.Value) -> ir.Value:
    fmt = em.fmt
    one = em.f(1.0)
    xc = em.sel(em.cmp(">", x, em.f(fmt.exp_clamp_hi)), em.f(fmt.exp_clamp_hi), x)
    xc = em.sel(em.cmp("<", xc, em.f(fmt.expm1_clamp_lo)), em.f(fmt.expm1_clamp_lo), xc)
    kf, k = em.shifted_int(xc, fmt.log2e)
    # r = hi - lo rounded, c its rounding error: expm1(r + c) ~ expm1(r) + c (1 + r).
    hi = em.fma(kf, em.f(-fmt.ln2_hi), xc)
    lo = em.mul(kf, em.f(fmt.ln2_lo))
    r = em.sub(hi, lo)
    c = em.sub(em.sub(hi, r), lo)
    q = em.horner(r, fmt.expm1_poly)
    em_r = em.add(r, em.fma(em.mul(r, r), q, em.fma(c, r, c)))
    # expm1(x) = 2^k expm1(r) + (2^k - 1): the product is exact and 2^k - 1
    # too while k <= mant_bits + 1, so only the final add rounds.
    two_k = em.pow2(k)
    mid = em.fma(two_k, em_r, em.sub(two_k, one))
    # Larger k: the -1 is below the last bit; scale in halves to reach inf.
    big = em.scale2(em.add(em_r, one), k)
    res = em.sel(em.b.icmp_signed(">", k, em.i(fmt.mant_bits + 1)), big, mid)
    # Tiny |x| rounds to x (keeps -0 and subnormals); NaN flows through r.
    return em.sel(em.cmp("<", em.fabs(x), em.f(fmt.log1p_tiny)), x, res)


_EMITTERS: dict[str, Callable[[_Emitter, ir.Value], ir.Value]] = {
    "exp": _emit_exp,
    "log": _emit_log,
    "log1p": _emit_log1p,
    "tanh": _emit_tanh,
    "logistic": _emit_logistic,
    "softplus": _emit_softplus,
    "sin": _emit_sin,
    "cos": _emit_cos,
    "tan": _emit_tan,
    "atan": _emit_atan,
    "asin": _emit_asin,
    "acos": _emit_acos,
    "erf": _emit_erf,
    "erfc": _emit_erfc,
    "expm1": _emit_expm1,
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
