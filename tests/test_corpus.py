"""The acceptance corpus of issue 11: scalar expressions of every function family,
their values and every partial derivative on both backends in both dtypes, and
the same expressions as network activations.

What is checked
    Each corpus entry is a scalar SymPy expression in one to three real symbols
    with a box of sample points per symbol. symnet derives every partial
    (``symnet.grad``) and compiles the value and the partials; the kernel runs
    over 12 points drawn inside the box. The reference is
    ``sympy.lambdify(vars, [f, *sympy.diff(f, v)], modules=["numpy", "scipy"])``
    evaluated in float64 -- derived by SymPy, not by symnet.

The reference is fixed, never the check
    * symnet's own heads (logistic, softplus, relu, leaky_relu, prelu,
      hard_logistic, hard_tanh, maxout) are replaced by their textbook
      definitions before ``sympy.diff``, so the reference does not reuse the
      heads' ``fdiff``;
    * frac, Mod and ceiling are written through floor before ``sympy.diff``,
      and the derivatives SymPy leaves unevaluated (``Derivative(floor(u))``,
      ``Subs``) and ``DiracDelta`` are 0: every point is off the jumps, where
      the step functions' derivative is 0 (so Mod(p, q)'s partial in q is
      -floor(p/q));
    * re/im entries are compiled over symbols without assumptions (so the
      heads survive construction) and referenced over real ones, where
      re(x) = x and im(x) = 0.

Points
    Drawn uniformly in each entry's box by a generator seeded from the
    entry's name (the same points on every run and backend). An entry with
    kinks, jumps or branch cuts gives ``avoid``, an expression that vanishes
    on them; points with ``|avoid| < 0.05`` are rejected, so no point is
    within rounding (or float32 rounding) of a kink. float32 kernels get the
    points rounded to float32 and are compared with the float64 reference at
    the rounded points: only the kernel's own arithmetic is measured.

Tolerances
    ``|got - ref| <= rtol * |ref| + atol`` elementwise with rtol = 1e-10
    (float64) or 1e-4 (float32) and ``atol = rtol * max(1, max |ref|)``,
    the maximum taken over the output's points. The absolute floor is the
    rounding error a correct evaluation makes in a result that is the
    difference of terms as large as the output itself (a partial that
    crosses 0, log near 1, sin of a large argument): relative accuracy is
    asked where the value is not small compared with its own scale.

Network activations
    The entries in the single symbol x that are defined on all reals are
    also hidden activations (a ``sympy.Lambda``), seven to a network (one per
    hidden layer), of a small ``symnet.nn.MLP`` trained with
    ``symnet.train.fit`` (per-sample SGD, 3 epochs) from the same initial
    parameters on both backends in float64: the loss histories and final
    parameters agree to 1e-9 (relative) and the loss decreases.

Speed: an entry is derived once; its value and partials are compiled with
about 25 other entries' (each with its own renamed symbols) into one kernel
per (backend, dtype), so the file compiles a couple of dozen kernels, not
hundreds. A group that fails to compile or run is halved until each failure
is one entry's, so a failure always names its expression.
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass

import numpy as np
import pytest
import sympy as sp
from sympy.codegen.cfunctions import exp2, expm1, log1p, log2, log10

import symnet
from symnet import heads
from symnet.nn import MLP
from symnet.train import fit, init_params

x, y, z = sp.symbols("x y z", real=True)
#: Symbols without assumptions: re(xc) and im(xc) stay unevaluated heads.
xc, yc = sp.symbols("x y")

BACKENDS = ("numpy", "llvm")
DTYPES = ("float64", "float32")
RTOL = {"float64": 1e-10, "float32": 1e-4}
N_POINTS = 12
MARGIN = 0.05
GROUP_SIZE = 25

SELU_L = sp.Float("1.0507009873554804934193349852946", 30)
SELU_A = sp.Float("1.6732632423543772848170429916717", 30)


@dataclass(frozen=True)
class Case:
    """One corpus entry."""

    name: str
    expr: sp.Expr
    box: tuple[tuple[float, float], ...]  # one (lo, hi) per variable, in order
    avoid: sp.Expr | None
    activation: bool  # also an MLP activation (in x only, defined on all reals)

    @property
    def variables(self) -> list[sp.Symbol]:
        return sorted(self.expr.free_symbols, key=lambda s: s.name)


CASES: list[Case] = []


def case(name, expr, *, avoid=None, act=False, **box):
    """Register a corpus entry; ``box`` maps a symbol's name to (lo, hi), default (-2, 2)."""
    expr = sp.sympify(expr)
    variables = sorted(expr.free_symbols, key=lambda s: s.name)
    unknown = set(box) - {v.name for v in variables}
    assert not unknown, f"{name}: box for symbols not in the expression: {unknown}"
    CASES.append(Case(name, expr, tuple(box.get(v.name, (-2.0, 2.0)) for v in variables),
                      None if avoid is None else sp.sympify(avoid), act))


POS = (0.2, 3.0)
UNIT = (-0.95, 0.95)

# --- constants, numbers, arithmetic, powers --------------------------------------------
case("pi_poly", sp.pi * x**2 + y)
case("E_times", sp.E * x - y**2)
case("E_pow_xy", sp.E ** (x * y), x=(-1.5, 1.5), y=(-1.5, 1.5))
case("EulerGamma_xy", sp.EulerGamma * x * y + x)
case("GoldenRatio_pow", sp.GoldenRatio**x)
case("Catalan_sin", sp.Catalan * sp.sin(x) + y)
case("sqrt2_xy", sp.sqrt(2) * x * y)
case("sqrt2_inv", x / sp.sqrt(2) - sp.sqrt(3) * y)
case("rational_poly", sp.Rational(3, 7) * x**3 - sp.Rational(1, 3) * x * y + sp.Rational(5, 2))
case("rational_pow", x ** sp.Rational(3, 2), x=POS)
case("cbrt_times", x ** sp.Rational(1, 3) * y, x=POS)
case("inv_cbrt", x ** sp.Rational(-1, 3), x=POS)
case("pow_pi", x**sp.pi, x=(0.2, 2.5))
case("pow_xy", x**y, x=POS)
case("pow_2x", 2**x)
case("pow_float", x**2.5 + y**0.5, x=POS, y=POS)
case("poly3", x**2 * y + 3 * x * y**2 - z + 1)
case("poly_high", x**7 - 3 * x**4 + x - 2, x=(-1.5, 1.5))
case("rational_fn", (x + y) / (1 + x**2))
case("inv_norm", 1 / (x**2 + y**2 + 1))
case("neg_pow", x**-3 * y, x=(0.3, 2.0))
case("sqrt_x", sp.sqrt(x), x=(0.1, 3.0))
case("hypot3", sp.sqrt(x**2 + y**2 + z**2), x=(0.5, 2.0))
case("quotient3", x * y / (z**2 + 1))
case("product3", x * y * z)
case("sum_squares3", (x - y) ** 2 + (y - z) ** 2)

# --- exponentials and logarithms -------------------------------------------------------
case("exp_neg_sq", sp.exp(-(x**2) - y**2))
case("exp_gauss_y", sp.exp(-(x**2) / 2) * y)
case("log_x", sp.log(x), x=(0.1, 3.0))
case("x_log_x", x * sp.log(x), x=(0.1, 3.0))
case("log_sumsq", sp.log(x**2 + y**2 + 1))
case("log_ratio", sp.log(x / y), x=POS, y=POS)
case("logsumexp2", sp.log(sp.exp(x) + sp.exp(y)))
case("log_1p_exp", sp.log(1 + sp.exp(x)))
case("log_one_plus_xy", sp.log(1 + x * y), x=(0.1, 2.0), y=(0.1, 2.0))
case("exp2_xy", exp2(x * y))
case("log2_y", log2(x) * y, x=(0.1, 3.0))
case("log10_sum", log10(x + y**2), x=(0.1, 3.0))
case("expm1_ratio", expm1(x) / y, y=(0.5, 2.0))
case("expm1_small", expm1(x * y), x=(-0.3, 0.3), y=(-0.3, 0.3))
case("log1p", log1p(x), x=(-0.9, 3.0))
case("log1p_sq", log1p(x**2 * y), y=(0.1, 2.0))
case("exp_log_chain", sp.exp(sp.log(x + 2) * y), x=(-1.5, 2.0))

# --- trigonometric ---------------------------------------------------------------------
case("sin_cos", sp.sin(x) * sp.cos(y))
case("sin_affine3", sp.sin(x * y + z))
case("cos_sq_minus", sp.cos(x) ** 2 - sp.sin(y) ** 2)
case("tan", sp.tan(x), x=(-1.4, 1.4))
case("tan_xy", sp.tan(x * y), x=(-1.0, 1.0), y=(-1.0, 1.0))
case("sec", sp.sec(x), x=(-1.4, 1.4))
case("csc", sp.csc(x), x=(0.1, 3.0))
case("cot", sp.cot(x), x=(0.1, 3.0))
case("sec_tan", sp.sec(x) * sp.tan(y), x=(-1.2, 1.2), y=(-1.2, 1.2))
case("csc_cot", sp.csc(x) + sp.cot(y), x=(0.2, 3.0), y=(0.2, 3.0))
case("sin5_gauss", sp.sin(5 * x) * sp.exp(-(x**2)))

# --- inverse trigonometric -------------------------------------------------------------
case("asin", sp.asin(x), x=UNIT)
case("acos", sp.acos(x), x=UNIT)
case("asin_xy", sp.asin(x * y), x=(-0.9, 0.9), y=(-0.9, 0.9))
case("acos_ratio", sp.acos(x / (1 + y**2)), x=(-0.9, 0.9))
case("atan", sp.atan(x), x=(-3.0, 3.0))
case("atan_ratio", sp.atan(x / y), y=(0.3, 2.0))
case("atan2", sp.atan2(y, x), avoid=y)  # off the cut y = 0, x < 0 (and the origin)
case("atan2_upper", sp.atan2(x**2 + 1, y))
case("atan2_xyz", sp.atan2(x * y, z), z=(0.3, 2.0))

# --- hyperbolic ------------------------------------------------------------------------
case("sinh_y", sp.sinh(x) * y)
case("cosh_diff", sp.cosh(x - y))
case("tanh_xy", sp.tanh(x * y))
case("asinh", sp.asinh(x), x=(-3.0, 3.0))
case("acosh", sp.acosh(x), x=(1.1, 4.0))
case("atanh", sp.atanh(x), x=(-0.9, 0.9))
case("asinh_affine3", sp.asinh(x * y + z))
case("acosh_sq", sp.acosh(x**2 + y**2 + sp.Rational(6, 5)))
case("atanh_ratio", sp.atanh(x / (2 + y**2)), x=(-1.5, 1.5))
case("tanh_sum3", sp.tanh(x) + sp.tanh(y) * z)
case("sinh_over_cosh", sp.sinh(x) / sp.cosh(y))

# --- error functions -------------------------------------------------------------------
case("erf_xy", sp.erf(x * y))
case("erfc", sp.erfc(x), x=(-3.0, 3.0))
case("erfc_scaled", sp.erfc(x) * sp.exp(x**2))
case("erfinv", sp.erfinv(x), x=(-0.97, 0.97))
case("erfinv_xy", sp.erfinv(x * y), x=(-0.9, 0.9), y=(-0.9, 0.9))
case("normal_cdf", (1 + sp.erf((x - y) / (z * sp.sqrt(2)))) / 2, z=(0.5, 2.0))

# --- rounding: derivative 0 off the jumps ----------------------------------------------
case("floor_times", sp.floor(x) * y, avoid=sp.sin(sp.pi * x))
case("ceiling_plus", sp.ceiling(x) + x * y, avoid=sp.sin(sp.pi * x))
case("frac", sp.frac(x), avoid=sp.sin(sp.pi * x))
case("frac_xy", sp.frac(x * y), avoid=sp.sin(sp.pi * x * y))
case("floor_sum", sp.floor(x + y), avoid=sp.sin(sp.pi * (x + y)))
case("ceiling_scaled", sp.ceiling(3 * x) / 3, avoid=sp.sin(3 * sp.pi * x))
case("mod_rational", sp.Mod(x, sp.Rational(3, 2)) * y, avoid=sp.sin(sp.pi * x / sp.Rational(3, 2)))
case("mod_xy", sp.Mod(x, y), y=(0.5, 2.0), avoid=sp.sin(sp.pi * x / y))
case("mod_negative", sp.Mod(x, -2), x=(-3.0, 3.0), avoid=sp.sin(sp.pi * x / 2))
case("mod_float", sp.Mod(x, 0.7), avoid=sp.sin(sp.pi * x / 0.7))
case("mod_of_sin", sp.Mod(3 * sp.sin(x), 1), avoid=sp.sin(3 * sp.pi * sp.sin(x)))

# --- gamma family ----------------------------------------------------------------------
case("gamma", sp.gamma(x), x=(0.2, 4.0))
case("gamma_exp", sp.gamma(y + 2) * sp.exp(x))
case("gamma_ratio", sp.gamma(x) / sp.gamma(y), x=(0.5, 3.0), y=(0.5, 3.0))
case("loggamma", sp.loggamma(x), x=(0.2, 4.0))
case("loggamma_xy", sp.loggamma(x * y), x=(0.5, 2.0), y=(0.5, 2.0))
case("log_beta", sp.loggamma(x) + sp.loggamma(y) - sp.loggamma(x + y), x=POS, y=POS)
case("digamma", sp.digamma(x), x=(0.2, 4.0))
case("trigamma", sp.polygamma(1, x), x=(0.2, 4.0))
case("polygamma2", sp.polygamma(2, x), x=(0.3, 4.0))
case("polygamma3_xy", sp.polygamma(3, x * y), x=(0.5, 2.0), y=(0.5, 2.0))
case("polygamma4", sp.polygamma(4, x), x=(0.5, 4.0))

# --- sinc ------------------------------------------------------------------------------
# sinc is smooth at 0, but its derivative cos(x)/x - sin(x)/x**2 cancels there.
case("sinc", sp.sinc(x), x=(-4.0, 4.0), avoid=x)
case("sinc_xy", sp.sinc(x * y), avoid=x * y)

# --- re / im of real inputs ------------------------------------------------------------
case("re_times", sp.re(xc) * yc)
case("re_plus_im", sp.re(xc) + sp.im(xc) * yc)
case("re_of_product", sp.re(xc * yc) ** 2)
case("im_exp", sp.exp(sp.im(xc)) * sp.sin(xc))

# --- Abs, sign, Heaviside, Max, Min ----------------------------------------------------
case("abs", sp.Abs(x), avoid=x)
case("abs_diff3", sp.Abs(x - y) * z, avoid=x - y)
case("sign_times", sp.sign(x) * y, avoid=x)
case("sign_product3", sp.sign(x * y) * sp.exp(z), avoid=x * y)
case("heaviside_times", sp.Heaviside(x) * y, avoid=x)
case("heaviside_half", sp.Heaviside(x - y, sp.S.Half) * x, avoid=x - y)
case("max2", sp.Max(x, y), avoid=x - y)
case("min2", sp.Min(x, y), avoid=x - y)
case("max3", sp.Max(x, y, z), avoid=(x - y) * (y - z) * (x - z))
case("max_zero_times", sp.Max(x, 0) * y, avoid=x)
case("min_exp", sp.Min(sp.exp(x), y), y=(0.5, 3.0), avoid=sp.exp(x) - y)
case("clip", sp.Min(sp.Max(x, -1), 1), avoid=(x - 1) * (x + 1))

# --- Piecewise -------------------------------------------------------------------------
case("pw_two", sp.Piecewise((x**2, x < 0), (sp.sin(x), True)), avoid=x)
case("pw_three", sp.Piecewise((-x, x < -1), (x**2, x < 1), (sp.exp(x - 1), True)),
     x=(-3.0, 3.0), avoid=(x + 1) * (x - 1))
case("pw_and", sp.Piecewise((x * y, (x > 0) & (y > 0)), (x + y, True)), avoid=x * y)
case("pw_or", sp.Piecewise((sp.exp(x), (x < -1) | (x > 1)), (sp.cos(x), True)),
     x=(-3.0, 3.0), avoid=x**2 - 1)
case("pw_not", sp.Piecewise((x, sp.Not((x > 0) & (y > 0))), (y**2, True)), avoid=x * y)
case("pw_ge_le", sp.Piecewise((1, x >= sp.S.Half), (x * y, x <= -1), (x + y, True)),
     avoid=(x - sp.S.Half) * (x + 1))
case("pw_eq", sp.Piecewise((1, sp.Eq(x, 0)), (sp.sin(x) / x, True)), avoid=x)
case("pw_ne", sp.Piecewise((x**2 * y, sp.Ne(x, y)), (0, True)), avoid=x - y)
case("huber", sp.Piecewise((x**2 / 2, sp.Abs(x) <= 1), (sp.Abs(x) - sp.S.Half, True)),
     x=(-3.0, 3.0), avoid=(x**2 - 1) * x)
case("huber_residual", sp.Piecewise(((x - y) ** 2 / 2, sp.Abs(x - y) <= 1),
                                    (sp.Abs(x - y) - sp.S.Half, True)),
     avoid=((x - y) ** 2 - 1) * (x - y))

# --- symnet's heads --------------------------------------------------------------------
case("logistic_affine3", symnet.logistic(x * y + z))
case("softplus_xy", symnet.softplus(x * y))
case("relu_times", symnet.relu(x) * y, avoid=x)
case("leaky_relu_fifth", symnet.leaky_relu(x, sp.Rational(1, 5)) * y, avoid=x)
case("prelu", symnet.prelu(x, y), avoid=x)
case("hard_logistic", symnet.hard_logistic(x), x=(-3.0, 3.0), avoid=x**2 - 4)
case("hard_tanh_xy", symnet.hard_tanh(x * y), avoid=x**2 * y**2 - 1)
case("maxout3", symnet.maxout(x, y, z), avoid=(x - y) * (y - z) * (x - z))
case("softplus_logistic_neg", symnet.softplus(-x) + symnet.logistic(-y))
case("logistic_tanh", symnet.logistic(x) * sp.tanh(y))
case("binary_cross_entropy",
     -(z * sp.log(symnet.logistic(x)) + (1 - z) * sp.log(1 - symnet.logistic(x))),
     x=(-3.0, 3.0), z=(0.0, 1.0))
case("squared_error", (symnet.logistic(x * y) - z) ** 2 / 2, z=(0.0, 1.0))
case("softmax2", sp.exp(x) / (sp.exp(x) + sp.exp(y)))
case("cross_entropy2", -sp.log(sp.exp(x) / (sp.exp(x) + sp.exp(y))))
case("tanh_neuron", sp.tanh(x * y + z))
case("rbf_neuron", sp.exp(-((x - y) ** 2) * z), z=(0.1, 2.0))
case("isru", x / sp.sqrt(1 + y * x**2), y=(0.1, 2.0))
case("swish_beta", x * symnet.logistic(y * x))
case("siren_neuron", sp.sin(30 * (x * y + z)), x=(-1.0, 1.0), y=(-1.0, 1.0), z=(-1.0, 1.0))
case("elu_alpha", sp.Piecewise((x, x > 0), (y * (sp.exp(x) - 1), True)), y=(0.2, 2.0),
     avoid=x)

# --- activations (x only, defined on all reals) ----------------------------------------
case("gelu_erf", x / 2 * (1 + sp.erf(x / sp.sqrt(2))), x=(-3.0, 3.0), act=True)
case("gelu_tanh", x / 2 * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (x + sp.Float(0.044715) * x**3))),
     x=(-3.0, 3.0), act=True)
case("quick_gelu", x * symnet.logistic(sp.Float(1.702) * x), x=(-3.0, 3.0), act=True)
case("silu", x * symnet.logistic(x), x=(-3.0, 3.0), act=True)
case("swish_exp", x / (1 + sp.exp(-x)), x=(-3.0, 3.0), act=True)
case("mish", x * sp.tanh(symnet.softplus(x)), x=(-3.0, 3.0), act=True)
case("mish_log", x * sp.tanh(sp.log(1 + sp.exp(x))), x=(-3.0, 3.0))
case("siren", sp.sin(30 * x), act=True)
case("softsign", x / (1 + sp.Abs(x)), x=(-3.0, 3.0), act=True)
case("elu", sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True)), x=(-3.0, 3.0), act=True)
case("selu", SELU_L * sp.Piecewise((x, x > 0), (SELU_A * (sp.exp(x) - 1), True)),
     x=(-3.0, 3.0), avoid=x, act=True)
case("celu", sp.Max(0, x) + sp.Min(0, sp.S.Half * (sp.exp(2 * x) - 1)), avoid=x, act=True)
case("log_cosh", sp.log(sp.cosh(x)), x=(-3.0, 3.0), act=True)
case("log_cosh_loss", sp.log(sp.cosh(x - y)))
case("squareplus", (x + sp.sqrt(x**2 + 4)) / 2, x=(-3.0, 3.0), act=True)
case("bent_identity", (sp.sqrt(x**2 + 1) - 1) / 2 + x, x=(-3.0, 3.0), act=True)
case("gaussian", sp.exp(-(x**2)), act=True)
case("hard_swish", x * sp.Min(sp.Max(x + 3, 0), 6) / 6, x=(-4.0, 4.0),
     avoid=(x + 3) * (x - 3), act=True)
case("snake", x + sp.sin(x) ** 2, x=(-3.0, 3.0), act=True)
case("tanhshrink", x - sp.tanh(x), x=(-3.0, 3.0), act=True)
case("log_sigmoid", sp.log(symnet.logistic(x)), x=(-3.0, 3.0), act=True)
case("sigmoid_exp", 1 / (1 + sp.exp(-x)), x=(-3.0, 3.0))
case("logistic", symnet.logistic(x), x=(-3.0, 3.0))
case("softplus", symnet.softplus(x), x=(-3.0, 3.0))
case("tanh", sp.tanh(x), x=(-3.0, 3.0))
case("atan_act", sp.atan(x), x=(-3.0, 3.0))
case("asinh_act", sp.asinh(x), x=(-3.0, 3.0))
case("erf", sp.erf(x), x=(-3.0, 3.0))
case("cos", sp.cos(x), x=(-3.0, 3.0))
case("sin_plus_x", sp.sin(x) + x, x=(-3.0, 3.0))
case("relu", symnet.relu(x), avoid=x)
case("leaky_relu", symnet.leaky_relu(x), avoid=x, act=True)
case("hard_tanh", symnet.hard_tanh(x), avoid=x**2 - 1)
case("abs_act", sp.Abs(x), avoid=x)
case("x_atan_x", x * sp.atan(x), x=(-3.0, 3.0))
case("sinc_act", sp.sinc(x), x=(-4.0, 4.0), avoid=x, act=True)

CASES_BY_NAME = {c.name: c for c in CASES}
ACTIVATION_CASES = [c for c in CASES if c.activation]


# ------------------------------------------------------------------ the reference


def _textbook(expr: sp.Expr) -> sp.Expr:
    """``expr`` with symnet's heads by their definitions and symbols made real."""
    expr = expr.xreplace({xc: x, yc: y})
    rules = [
        (heads.logistic, lambda u: 1 / (1 + sp.exp(-u))),
        (heads.softplus, lambda u: sp.log(1 + sp.exp(u))),
        (heads.relu, lambda u: sp.Max(u, 0)),
        (heads.prelu, lambda u, g: sp.Piecewise((u, u > 0), (g * u, True))),
        (heads.leaky_relu, lambda u, g: sp.Piecewise((u, u > 0), (g * u, True))),
        (heads.hard_logistic, lambda u: sp.Min(sp.Max(u / 4 + sp.S.Half, 0), 1)),
        (heads.hard_tanh, lambda u: sp.Min(sp.Max(u, -1), 1)),
        (heads.maxout, lambda *us: sp.Max(*us)),
    ]
    for head, definition in rules:
        expr = expr.replace(head, definition)
    return expr


def _through_floor(expr: sp.Expr) -> sp.Expr:
    expr = expr.replace(sp.frac, lambda u: u - sp.floor(u))
    expr = expr.replace(sp.ceiling, lambda u: -sp.floor(-u))
    return expr.replace(sp.Mod, lambda p, q: p - q * sp.floor(p / q))


def _reference_partial(f: sp.Expr, v: sp.Symbol) -> sp.Expr:
    """SymPy's d f / d v, the step functions' derivatives (0 off the jumps) written out."""
    d = sp.diff(_through_floor(f), v)
    for kind in (sp.Subs, sp.Derivative):
        d = d.replace(lambda a, kind=kind: isinstance(a, kind) and a.has(sp.floor),
                      lambda a: sp.S.Zero)
    return d.replace(sp.DiracDelta, lambda *a: sp.S.Zero)


#: Max and Min printed as NumPy reductions: SciPy's printer writes Max of three
#: arguments as a Piecewise whose conditions it simplifies (a second per case).
_MAXN, _MINN = sp.Function("maxn"), sp.Function("minn")
_REDUCTIONS = {"maxn": lambda *a: functools.reduce(np.maximum, a),
               "minn": lambda *a: functools.reduce(np.minimum, a)}


@functools.cache
def _reference_fn(name: str):
    c = CASES_BY_NAME[name]
    f = _textbook(c.expr)
    real_vars = [_textbook(v) for v in c.variables]
    exprs = [f, *[_reference_partial(f, v) for v in real_vars]]
    exprs = [e.replace(sp.Max, _MAXN).replace(sp.Min, _MINN) for e in exprs]
    return sp.lambdify(real_vars, exprs, modules=[_REDUCTIONS, "numpy", "scipy"])


def reference(c: Case, pts: list[np.ndarray]) -> list[np.ndarray]:
    """Value and partials in float64 at ``pts`` (one array per variable)."""
    with np.errstate(all="ignore"):
        outs = _reference_fn(c.name)(*[np.asarray(p, dtype=np.float64) for p in pts])
    n = len(pts[0])
    return [np.broadcast_to(np.asarray(o, dtype=np.float64), (n,)) for o in outs]


@functools.cache
def points(name: str) -> tuple[np.ndarray, ...]:
    """N_POINTS float64 points per variable inside the box, |avoid| >= MARGIN."""
    c = CASES_BY_NAME[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    avoid = None
    if c.avoid is not None:
        avoid = sp.lambdify([_textbook(v) for v in c.variables], _textbook(c.avoid), "numpy")
    kept = [np.empty(0) for _ in c.variables]
    while len(kept[0]) < N_POINTS:
        draw = [rng.uniform(lo, hi, 64) for lo, hi in c.box]
        ok = np.ones(64, dtype=bool)
        if avoid is not None:
            # The margin holds at the float32-rounded points as well.
            for dt in (np.float64, np.float32):
                ok &= np.abs(np.broadcast_to(
                    avoid(*[d.astype(dt).astype(np.float64) for d in draw]), (64,))) >= MARGIN
        kept = [np.concatenate([k, d[ok]]) for k, d in zip(kept, draw, strict=True)]
    return tuple(k[:N_POINTS] for k in kept)


# ------------------------------------------------------------------ symnet's side


@functools.cache
def derived(name: str):
    """``[f, *symnet.grad(f, vars)]`` of a case, or the exception deriving raised."""
    c = CASES_BY_NAME[name]
    try:
        return [c.expr, *symnet.grad(c.expr, c.variables)]
    except Exception as e:  # reported by the case's own test
        return e


def _renamed(index: int, c: Case):
    """The case's outputs and variables over symbols private to it (for group kernels)."""
    ren = {v: sp.Symbol(f"{v.name}_{index}", **v.assumptions0) for v in c.variables}
    outs = derived(c.name)
    return [sp.sympify(o).xreplace(ren) for o in outs], [ren[v] for v in c.variables]


GROUPS = [CASES[i:i + GROUP_SIZE] for i in range(0, len(CASES), GROUP_SIZE)]
GROUP_OF = {c.name: g for g, group in enumerate(GROUPS) for c in group}


def _run(cases: list[Case], backend: str, dtype: str) -> dict[str, list[np.ndarray]]:
    """Compile the cases' values and partials into one kernel and run it on their points."""
    outs, ins, args, spans = [], [], [], {}
    for i, c in enumerate(cases):
        o, v = _renamed(i, c)
        spans[c.name] = (len(outs), len(outs) + len(o))
        outs += o
        ins += v
        args += [p.astype(dtype) for p in points(c.name)]
    k = symnet.compile(outs, ins, backend=backend, dtype=dtype, name="corpus")
    res = k(*args)
    return {name: list(res[a:b]) for name, (a, b) in spans.items()}


#: Cases that failed alone in some (backend, dtype): later groups compile them alone
#: from the start instead of halving again (a failure there is usually the front
#: end's or a pass's, shared by every configuration).
_FAILED_ALONE: set[str] = set()


def _run_isolating(cases: list[Case], backend: str, dtype: str) -> dict:
    """:func:`_run`, halving a group that fails until each failure is one case's
    (its exception is kept for that case's test to raise)."""
    try:
        return _run(cases, backend, dtype)
    except Exception as e:
        if len(cases) == 1:
            _FAILED_ALONE.add(cases[0].name)
            return {cases[0].name: e}
        mid = len(cases) // 2
        return {**_run_isolating(cases[:mid], backend, dtype),
                **_run_isolating(cases[mid:], backend, dtype)}


@functools.cache
def _group_results(g: int, backend: str, dtype: str) -> dict:
    group = [c for c in GROUPS[g] if not isinstance(derived(c.name), Exception)]
    alone = [c for c in group if c.name in _FAILED_ALONE]
    out = _run_isolating([c for c in group if c.name not in _FAILED_ALONE], backend, dtype)
    for c in alone:
        out.update(_run_isolating([c], backend, dtype))
    return out


def compiled_outputs(c: Case, backend: str, dtype: str) -> list[np.ndarray]:
    """The case's value and partials from its group's kernel (raises what compiling
    or running the case alone raised)."""
    d = derived(c.name)
    if isinstance(d, Exception):
        raise d
    res = _group_results(GROUP_OF[c.name], backend, dtype)[c.name]
    if isinstance(res, Exception):
        raise res
    return res


# ------------------------------------------------------------------ tests


def test_corpus_size_and_names():
    assert len(CASES) >= 150
    assert len(CASES_BY_NAME) == len(CASES), "duplicate names"
    for c in CASES:
        assert c.variables, f"{c.name} has no variables"
        assert len(c.box) == len(c.variables)
        assert all(lo < hi for lo, hi in c.box), c.name
    multi = [c for c in CASES if len(c.variables) >= 2]
    assert len(multi) >= len(CASES) // 3, "a good share must have several partials"
    assert len([c for c in CASES if len(c.variables) == 3]) >= 15
    assert len(ACTIVATION_CASES) >= 20
    for c in ACTIVATION_CASES:
        assert c.variables == [x], c.name


REQUIRED_HEADS = [
    sp.Piecewise, sp.tan, sp.asin, sp.acos, sp.atan, sp.atan2, sp.asinh, sp.acosh, sp.atanh,
    sp.sec, sp.csc, sp.cot, sp.erf, sp.erfc, sp.erfinv, sp.floor, sp.ceiling, sp.frac,
    sp.gamma, sp.loggamma, sp.polygamma, sp.sinc, exp2, log2, log10, sp.Mod, sp.re, sp.im,
    sp.sinh, sp.cosh, sp.tanh, expm1, log1p, sp.Abs, sp.sign, sp.Heaviside, sp.Max, sp.Min,
    sp.exp, sp.log, sp.sin, sp.cos, sp.Pow, heads.logistic, heads.softplus, heads.relu,
    heads.leaky_relu, heads.prelu, heads.hard_logistic, heads.hard_tanh, heads.maxout,
    sp.And, sp.Or, sp.Not, sp.Eq, sp.Ne, sp.StrictLessThan, sp.StrictGreaterThan,
    sp.LessThan, sp.GreaterThan,
]
REQUIRED_CONSTANTS = [sp.pi, sp.E, sp.EulerGamma, sp.GoldenRatio, sp.Catalan, sp.sqrt(2)]


def test_corpus_spans_every_function_family():
    present = set()
    for c in CASES:
        present |= {type(a) for a in sp.preorder_traversal(c.expr)}
    missing = [h.__name__ for h in REQUIRED_HEADS if h not in present]
    assert not missing, f"no corpus entry uses {missing}"
    for const in REQUIRED_CONSTANTS:
        assert any(c.expr.has(const) for c in CASES), f"no corpus entry uses {const}"
    assert any(c.expr.has(sp.Rational(3, 7)) for c in CASES)
    # digamma(x) is polygamma(0, x); every polygamma order 0..4 occurs
    orders = {int(a.args[0]) for c in CASES for a in c.expr.atoms(sp.polygamma)}
    assert orders == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_reference_is_finite_inside_the_domain(c):
    """The corpus's own check: the points are inside the domain of the value and
    of every partial, and the reference agrees with central differences."""
    pts = points(c.name)
    ref = reference(c, list(pts))
    for i, r in enumerate(ref):
        assert np.isfinite(r).all(), f"{c.name}: reference output {i} not finite at {pts}"
    h = 1e-6
    for j, v in enumerate(c.variables):
        up = [p + h * (i == j) for i, p in enumerate(pts)]
        down = [p - h * (i == j) for i, p in enumerate(pts)]
        fd = (reference(c, up)[0] - reference(c, down)[0]) / (2 * h)
        scale = max(1.0, float(np.max(np.abs(ref[1 + j]))))
        np.testing.assert_allclose(ref[1 + j], fd, rtol=1e-5, atol=1e-5 * scale,
                                   err_msg=f"{c.name}: reference d/d{v} vs central differences")


def _output_label(c: Case, i: int) -> str:
    return "value" if i == 0 else f"d/d{c.variables[i - 1]}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_value_and_every_partial(c, backend, dtype):
    outs = compiled_outputs(c, backend, dtype)
    pts = [p.astype(dtype) for p in points(c.name)]
    ref = reference(c, pts)  # float64 at the points the kernel saw
    assert len(outs) == len(ref) == 1 + len(c.variables)
    rtol = RTOL[dtype]
    for i, (got, want) in enumerate(zip(outs, ref, strict=True)):
        label = _output_label(c, i)
        got = np.asarray(got)
        assert got.shape == (N_POINTS,), f"{c.name} {label}: shape {got.shape}"
        assert got.dtype == np.dtype(dtype), f"{c.name} {label}: dtype {got.dtype}"
        scale = max(1.0, float(np.max(np.abs(want))))
        err = np.abs(got.astype(np.float64) - want)
        bad = ~(err <= rtol * np.abs(want) + rtol * scale)  # NaN is bad
        if bad.any():
            k = int(np.argmax(np.where(np.isnan(err), np.inf, err)))
            at = ", ".join(f"{v}={float(p[k])!r}" for v, p in zip(c.variables, pts, strict=True))
            rel = err / np.maximum(np.abs(want), scale)
            pytest.fail(f"{c.name} ({c.expr}) {label} on {backend}/{dtype}: "
                        f"{int(bad.sum())}/{N_POINTS} points off, max error {np.nanmax(err):.3g} "
                        f"(relative to max(|ref|, scale) {np.nanmax(rel):.3g}, rtol {rtol:g}); "
                        f"worst at {at}: got {got[k]!r}, want {want[k]!r}")


# ------------------------------------------------------------------ as network activations

#: Inputs and labels of the training runs: two classes, not linearly separable.
_rng = np.random.default_rng(11)
X_TRAIN = _rng.standard_normal((48, 3))
Y_TRAIN = ((X_TRAIN[:, 0] * X_TRAIN[:, 1] > 0) ^ (X_TRAIN[:, 2] > 0.5)).astype(int)
ALPHA = 0.05
EPOCHS = 3
#: SIREN's sin(30 z) multiplies every step by 30 twice (through its argument
#: and through its slope): at the common rate the trajectory is chaotic (a
#: 1e-15 change of the start changes the loss after one epoch in the second
#: digit, on NumPy alone), which would measure rounding, not the backends.
ALPHA_OF = {"siren": 0.0005}
#: Activations per network, one per hidden layer: compiling the two training
#: kernels (epoch, evaluation) per network on LLVM dominates, so seven
#: activations share one. A network that fails is trained again with each of
#: its activations alone, so the failure names the activation.
PER_NET = 7
NETS = [ACTIVATION_CASES[i:i + PER_NET] for i in range(0, len(ACTIVATION_CASES), PER_NET)]


def _train_and_compare(acts: list[Case]) -> None:
    names = "+".join(c.name for c in acts)
    net = MLP([3] + [5] * len(acts) + [2], [sp.Lambda(x, c.expr) for c in acts],
              output="softmax")
    init = init_params(net, 0)
    alpha = min(ALPHA_OF.get(c.name, ALPHA) for c in acts)
    runs = {}
    for backend in BACKENDS:
        runs[backend] = fit(net, X_TRAIN, Y_TRAIN, alpha=alpha, epochs=EPOCHS, patience=None,
                            seed=0, progress=False, backend=backend,
                            init={k: v.copy() for k, v in init.items()})
    ref, got = runs["numpy"], runs["llvm"]
    losses_np = np.array(ref.history.train_loss)
    losses_llvm = np.array(got.history.train_loss)
    assert losses_np.shape == losses_llvm.shape == (EPOCHS,)
    assert np.isfinite(losses_np).all() and np.isfinite(losses_llvm).all()
    np.testing.assert_allclose(losses_llvm, losses_np, rtol=1e-9, atol=0,
                               err_msg=f"{names}: loss trajectories differ")
    for name, p in ref.params.items():
        q = got.params[name]
        scale = max(1.0, float(np.max(np.abs(p))))
        np.testing.assert_allclose(q, p, rtol=1e-9, atol=1e-9 * scale,
                                   err_msg=f"{names}: final {name} differs")
    # The mean loss at the start, by the program fit's NumPy evaluation uses.
    k = symnet.compile([net.loss(), net.output_expr], [net.X, net.labels(), *net.params])
    start = float(k(np.ascontiguousarray(X_TRAIN.T), Y_TRAIN,
                    *[init[str(p)] for p in net.params])[0])
    assert math.isfinite(start)
    assert losses_np[-1] < start, f"{names}: loss {start} -> {list(losses_np)} did not decrease"


@pytest.mark.parametrize("acts", NETS, ids=lambda cs: "+".join(c.name for c in cs))
def test_activations_train_identically_on_both_backends(acts):
    try:
        _train_and_compare(acts)
    except Exception as e:
        if len(acts) == 1:
            raise
        verdicts = []
        for c in acts:
            try:
                _train_and_compare([c])
                verdicts.append(f"{c.name}: ok alone")
            except Exception as alone:
                verdicts.append(f"{c.name}: {type(alone).__name__}: {alone}")
        pytest.fail(f"{'+'.join(c.name for c in acts)}: {type(e).__name__}: {e}\n"
                    "each alone:\n" + "\n".join(verdicts))
