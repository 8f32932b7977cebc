"""Accuracy, IEEE edge cases and vectorization of symnet's LLVM vector math (vecmath)."""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable

import llvmlite.binding as llvm
import mpmath as mp
import numpy as np
import pytest
import scipy.special as sc
from hypothesis import given, settings
from hypothesis import strategies as st
from llvmlite import ir

from symnet.backends.llvm import vecmath

MAX_ULP = 4
FUNCS = vecmath.MATH_FUNCTIONS
# (dtype, elements per kernel iteration); width 1 is the pure scalar path.
CASES = [(np.float64, 1), (np.float64, 4), (np.float32, 1), (np.float32, 8)]
CASE_IDS = [f"{np.dtype(d).name}x{w}" for d, w in CASES]

llvm.initialize_native_target()
llvm.initialize_native_asmprinter()

_KernelFn = Callable[[int, int, int], None]


def _target_machine() -> llvm.TargetMachine:
    # A fresh machine per engine: MCJIT takes ownership and frees it with the engine.
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten(),
        opt=3,
    )


def _new_module(tm: llvm.TargetMachine) -> ir.Module:
    module = ir.Module(name="vecmath_test")
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    return module


def _optimize(module: ir.Module, tm: llvm.TargetMachine) -> llvm.ModuleRef:
    ref = llvm.parse_assembly(str(module))
    ref.verify()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(ref, pb)
    return ref


def _kernel_signature() -> ir.FunctionType:
    return ir.FunctionType(ir.VoidType(), [ir.PointerType(), ir.PointerType(), ir.IntType(64)])


def _add_kernel(module: ir.Module, fname: str, elem: ir.Type, width: int, align: int) -> None:
    """void k_<fname>(T* in, T* out, i64 n): `width` lanes per step, then a scalar tail."""
    i64 = ir.IntType(64)
    vty = ir.VectorType(elem, width) if width > 1 else elem
    vfn = vecmath.define_math(module, fname, vty)
    sfn = vecmath.define_math(module, fname, elem)
    kern = ir.Function(module, _kernel_signature(), name=f"k_{fname}")
    src, dst, n = kern.args
    entry = kern.append_basic_block("entry")
    vhead, vbody = kern.append_basic_block("vhead"), kern.append_basic_block("vbody")
    thead, tbody = kern.append_basic_block("thead"), kern.append_basic_block("tbody")
    done = kern.append_basic_block("done")

    b = ir.IRBuilder(entry)
    nvec = b.mul(b.udiv(n, i64(width)), i64(width))
    b.branch(vhead)

    b.position_at_end(vhead)
    i = b.phi(i64)
    i.add_incoming(i64(0), entry)
    b.cbranch(b.icmp_unsigned("<", i, nvec), vbody, thead)

    b.position_at_end(vbody)
    x = b.load(b.gep(src, [i], inbounds=True, source_etype=elem), typ=vty, align=align)
    b.store(b.call(vfn, [x]), b.gep(dst, [i], inbounds=True, source_etype=elem), align=align)
    i.add_incoming(b.add(i, i64(width)), vbody)
    b.branch(vhead)

    b.position_at_end(thead)
    j = b.phi(i64)
    j.add_incoming(i, vhead)
    b.cbranch(b.icmp_unsigned("<", j, n), tbody, done)

    b.position_at_end(tbody)
    x = b.load(b.gep(src, [j], inbounds=True, source_etype=elem), typ=elem, align=align)
    b.store(b.call(sfn, [x]), b.gep(dst, [j], inbounds=True, source_etype=elem), align=align)
    j.add_incoming(b.add(j, i64(1)), tbody)
    b.branch(thead)

    b.position_at_end(done)
    b.ret_void()


class Kernels:
    """All math kernels for one (dtype, width), JIT-compiled; keeps the engine alive."""

    def __init__(self, dtype: type[np.floating], width: int) -> None:
        self.dtype = np.dtype(dtype)
        elem = ir.DoubleType() if self.dtype == np.float64 else ir.FloatType()
        tm = _target_machine()
        module = _new_module(tm)
        for fname in FUNCS:
            _add_kernel(module, fname, elem, width, self.dtype.itemsize)
        self.ir_text = str(module)
        self.engine = llvm.create_mcjit_compiler(_optimize(module, tm), tm)
        self.engine.finalize_object()
        proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
        self._fns: dict[str, _KernelFn] = {
            f: proto(self.engine.get_function_address(f"k_{f}")) for f in FUNCS
        }

    def __call__(self, fname: str, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=self.dtype)
        out = np.empty_like(x)
        self._fns[fname](x.ctypes.data, out.ctypes.data, x.size)
        return out


@pytest.fixture(scope="module")
def kernels() -> Callable[[type[np.floating], int], Kernels]:
    cache: dict[tuple[type[np.floating], int], Kernels] = {}

    def get(dtype: type[np.floating], width: int) -> Kernels:
        if (dtype, width) not in cache:
            cache[dtype, width] = Kernels(dtype, width)
        return cache[dtype, width]

    return get


# --------------------------------------------------------------------------- references


# The routines checked against mpmath in float64 (NumPy has no erf, and a
# correctly rounded reference keeps the measured ulp honest); in float32 the
# float64 functions below, rounded once, are the reference.
_MPMATH_FORMS: dict[str, Callable] = {
    "sin": mp.sin,
    "cos": mp.cos,
    "tan": mp.tan,
    "atan": mp.atan,
    "asin": mp.asin,
    "acos": mp.acos,
    "erf": mp.erf,
    "erfc": mp.erfc,
    "expm1": mp.expm1,
}
_F64_FORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "atan": np.arctan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "erf": sc.erf,
    "erfc": sc.erfc,
    "expm1": np.expm1,
}
TRIG = ("sin", "cos", "tan")
# The documented range of sin/cos/tan; beyond it they return NaN by contract.
TRIG_LIMIT = {np.dtype(np.float64): 2.0**20 * np.pi, np.dtype(np.float32): 2.0**29 * np.pi}


def _mpmath_reference(fname: str, x: np.ndarray) -> np.ndarray:
    """Correctly rounded float64 values (mpmath at 100 bits, rounded once)."""
    form = _MPMATH_FORMS[fname]
    out = np.empty(x.shape, dtype=np.float64)
    with mp.workprec(100), np.errstate(all="ignore"):
        for i, v in enumerate(x.tolist()):
            if not np.isfinite(v) or (fname in ("erf", "erfc") and abs(v) > 40):
                # Limits at +-inf and NaN, and where erf/erfc have saturated
                # (mpmath overflows there): the float64 function knows them.
                out[i] = _F64_FORMS[fname](np.float64(v))
                continue
            r = form(mp.mpf(v))
            out[i] = np.nan if isinstance(r, mp.mpc) else float(r)
    return out


def reference(fname: str, x: np.ndarray) -> np.ndarray:
    """NumPy's float64 functions for f64 (mpmath for the routines it lacks or that
    need a correctly rounded reference); stable long-double formulas otherwise.

    float32 results are the float64/long double value rounded once to float32, which is
    within a hair of correctly rounded.
    """
    dtype = x.dtype
    if fname in _MPMATH_FORMS:
        with np.errstate(all="ignore"):
            # Compared in float64: a float32 comparison would round the limit up.
            inside = np.abs(x.astype(np.float64)) <= TRIG_LIMIT[dtype]
            if dtype == np.float64:
                # Beyond the trig limit the contract is NaN: skip mpmath there.
                r = _mpmath_reference(fname, np.where(inside, x, np.nan) if fname in TRIG else x)
            else:
                r = _F64_FORMS[fname](x.astype(np.float64)).astype(dtype)
        return np.where(inside, r, np.nan) if fname in TRIG else r
    with np.errstate(all="ignore"):
        if dtype == np.float64 and fname in ("exp", "log", "log1p", "tanh"):
            return getattr(np, fname)(x)
        xl = x.astype(np.longdouble)
        if fname in ("exp", "log", "log1p", "tanh"):
            r = getattr(np, fname)(xl)
        elif fname == "logistic":
            e = np.exp(-np.abs(xl))
            r = np.where(xl < 0, e / (1 + e), 1 / (1 + e))
        elif fname == "softplus":
            r = np.maximum(xl, 0) + np.log1p(np.exp(-np.abs(xl)))
            r = np.where(np.isnan(xl), xl, r)
        else:
            raise ValueError(fname)
        return r.astype(dtype)


def _ordinal(a: np.ndarray) -> np.ndarray:
    """Map floats to integers whose difference counts representable values between them."""
    itype = np.int64 if a.dtype == np.float64 else np.int32
    i = a.view(itype).astype(np.int64)
    return np.where(i < 0, np.iinfo(itype).min - i, i)


def ulp_error(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    d = np.abs(_ordinal(got) - _ordinal(want)).astype(np.float64)
    d[np.isnan(got) & np.isnan(want)] = 0.0
    d[np.isnan(got) != np.isnan(want)] = np.inf
    return d


# --------------------------------------------------------------------------- samples

# Points where results overflow / reach the last subnormal / underflow to zero.
_EXP_EDGES = {
    np.float64: (709.782712893384, -708.3964, -745.1332191019412),
    np.float32: (88.72284, -87.33654, -103.97208),
}


# A few nearest doubles to multiples of pi/2 (found with continued fractions):
# the remainder is down to 2**-60.5, the hardest test of the range reduction.
_HARD_TRIG_F64 = [
    float.fromhex(h)
    for h in (
        "0x1.6c6cbc45dc8dep+5",
        "0x1.39c6fd67805a7p+18",
        "0x1.9eb7148f354d6p+20",
        "0x1.921fb54442d18p+0",
        "0x1.39c6fd67805a7p+19",
        "0x1.67e57cdd4dc54p+15",
    )
]

# Per routine: the interval sampled uniformly, and the points whose
# neighbourhoods are sampled float by float (interval splits, limits).
_CORE: dict[str, dict[type[np.floating], tuple[float, float]]] = {
    "sin": {np.float64: (-10.0, 10.0), np.float32: (-10.0, 10.0)},
    "cos": {np.float64: (-10.0, 10.0), np.float32: (-10.0, 10.0)},
    "tan": {np.float64: (-4.0, 4.0), np.float32: (-4.0, 4.0)},
    "atan": {np.float64: (-5.0, 5.0), np.float32: (-5.0, 5.0)},
    "asin": {np.float64: (-1.0, 1.0), np.float32: (-1.0, 1.0)},
    "acos": {np.float64: (-1.0, 1.0), np.float32: (-1.0, 1.0)},
    "erf": {np.float64: (-6.5, 6.5), np.float32: (-4.5, 4.5)},
    "erfc": {np.float64: (-6.0, 27.5), np.float32: (-4.0, 10.1)},
    "expm1": {np.float64: (-45.0, 710.0), np.float32: (-20.0, 89.0)},
}
_AROUND: dict[str, list[float]] = {
    "sin": [0.0, np.pi / 4, np.pi / 2, np.pi, 3 * np.pi / 2, 100 * np.pi],
    "cos": [0.0, np.pi / 4, np.pi / 2, np.pi, 3 * np.pi / 2, 100 * np.pi],
    "tan": [0.0, np.pi / 4, np.pi / 2, -np.pi / 2, 3 * np.pi / 2],
    "atan": [0.0, 7 / 16, 11 / 16, 19 / 16, 39 / 16, 1.0, -1.0],
    "asin": [0.0, 0.5, -0.5, 1.0, -1.0],
    "acos": [0.0, 0.5, -0.5, 1.0, -1.0],
    "erf": [0.0, 0.84375, -0.84375, 2.0, 2.5, 3.5, 4.0, 6.0],
    "erfc": [0.0, 0.25, 0.75, 0.84375, -0.84375, 2.0, 2.5, 3.5, 6.0, 9.19, 10.05, 26.55, 27.2],
    "expm1": [0.0, np.log(2) / 2, -np.log(2) / 2, np.log(2), -np.log(2), 88.72, 709.78],
}
# Every this many-th float32 bit pattern (offset by the seed) is checked.
F32_SWEEP_STRIDE = {1: 4099, 8: 1021}


def _around(points: list[float], dtype: type[np.floating], k: int) -> np.ndarray:
    """Each point and its k float neighbours on each side."""
    pts = np.asarray(points, dtype=dtype)
    steps = np.arange(-k, k + 1)
    ords = _ordinal(pts)[:, None] + steps[None, :]
    itype = np.int64 if dtype == np.float64 else np.int32
    ords = np.where(ords < 0, np.iinfo(itype).min - ords, ords).astype(itype)
    return ords.view(dtype).ravel()


def _routine_samples(fname: str, dtype: type[np.floating], seed: int, width: int) -> np.ndarray:
    """float64: a few thousand points (mpmath is the reference); float32: a strided
    sweep over all bit patterns plus dense points where the routine is interesting."""
    rng = np.random.default_rng(seed)
    lo, hi = _CORE[fname][dtype]
    info = np.finfo(dtype)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, float(info.smallest_subnormal)]
    specials += [-float(info.smallest_subnormal), float(info.max), -float(info.max)]
    if dtype == np.float64:
        utype = np.uint64
        parts = [
            rng.uniform(lo, hi, 2500),
            np.exp2(rng.uniform(-60, 4, 800)) * rng.choice([-1.0, 1.0], 800),
            rng.integers(0, np.iinfo(utype).max, 300, dtype=utype, endpoint=True).view(dtype),
            _around(_AROUND[fname], dtype, 8),
        ]
        if fname in TRIG:
            limit = TRIG_LIMIT[np.dtype(dtype)]
            parts += [rng.uniform(-limit, limit, 500), _around([limit, -limit], dtype, 4)]
            parts += [_around(_HARD_TRIG_F64, dtype, 2)]
    else:
        stride = F32_SWEEP_STRIDE[width]
        sweep = np.arange(seed % stride, 2**32, stride, dtype=np.uint64).astype(np.uint32)
        parts = [
            sweep.view(dtype),
            rng.uniform(lo, hi, 100_000),
            _around(_AROUND[fname], dtype, 64),
        ]
        if fname in TRIG:
            limit = float(np.float32(TRIG_LIMIT[np.dtype(dtype)]))
            parts += [_around([limit, -limit], dtype, 16)]
    x = np.concatenate([np.asarray(p, dtype=dtype) for p in parts] + [np.array(specials, dtype)])
    # An odd length so the scalar tail after the vector loop is exercised too.
    return x if x.size % 2 else x[:-1]


def _samples(fname: str, dtype: type[np.floating], seed: int, width: int = 1) -> np.ndarray:
    if fname in _MPMATH_FORMS:
        return _routine_samples(fname, dtype, seed, width)
    rng = np.random.default_rng(seed)
    info = np.finfo(dtype)
    utype = np.uint64 if dtype == np.float64 else np.uint32
    over, sub, zero = _EXP_EDGES[dtype]

    def uni(lo: float, hi: float, n: int) -> np.ndarray:
        return rng.uniform(lo, hi, n)

    def logmag(lo_exp: float, hi_exp: float, n: int, signed: bool = True) -> np.ndarray:
        mag = np.exp2(rng.uniform(lo_exp, hi_exp, n))
        return mag * rng.choice([-1.0, 1.0], n) if signed else mag

    def around(points: list[float], k: int = 64) -> np.ndarray:
        return _around(points, dtype, k)

    bits = rng.integers(0, np.iinfo(utype).max, 100_000, dtype=utype, endpoint=True)
    parts = [bits.view(dtype), logmag(-160, 0, 40_000)]
    if fname == "exp":
        parts += [
            uni(zero - 3, over + 3, 80_000),
            uni(zero - 1, sub + 1, 40_000),
            around([over, sub, zero, 0.0, -0.0, 0.5 * np.log(2.0)]),
        ]
    elif fname == "log":
        lo = np.log2(float(info.smallest_subnormal))
        parts += [
            logmag(lo, 128 if dtype == np.float32 else 1024, 80_000, signed=False),
            uni(0.5, 2.0, 40_000),
            around([1.0, np.sqrt(2.0), np.sqrt(0.5), float(info.smallest_normal), float(info.max)]),
        ]
    elif fname == "log1p":
        parts += [
            uni(-1.0, 0.0, 40_000),
            uni(0.0, 3.0, 40_000),
            logmag(-150, 100, 40_000, signed=False),
            around([-1.0, 0.0, np.sqrt(2.0) - 1, np.sqrt(0.5) - 1, 1.0]),
        ]
    elif fname == "tanh":
        parts += [
            uni(-25.0, 25.0, 80_000),
            uni(-0.7, 0.7, 40_000),
            around([0.55, -0.55, 0.0, 19.06, 9.01]),
        ]
    else:  # logistic, softplus
        parts += [
            uni(zero - 20, -zero + 20, 80_000),
            uni(-40.0, 40.0, 40_000),
            around([0.0, zero, sub, -over, over]),
        ]
    specials = [
        0.0,
        -0.0,
        np.inf,
        -np.inf,
        np.nan,
        1.0,
        -1.0,
        float(info.smallest_subnormal),
        -float(info.smallest_subnormal),
        float(info.max),
        -float(info.max),
    ]
    x = np.concatenate([np.asarray(p, dtype=dtype) for p in parts] + [np.array(specials, dtype)])
    # An odd length so the scalar tail after the vector loop is exercised too.
    return x if x.size % 2 else x[:-1]


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("fname", FUNCS)
@pytest.mark.parametrize(("dtype", "width"), CASES, ids=CASE_IDS)
def test_ulp_error(kernels, dtype, width, fname):
    x = _samples(fname, dtype, seed=10 * FUNCS.index(fname) + width, width=width)
    got = kernels(dtype, width)(fname, x)
    want = reference(fname, x)
    err = ulp_error(got, want)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP, (
        f"{fname} {np.dtype(dtype).name} x{width}: {err[worst]} ulp at x={x[worst]!r}: "
        f"got {got[worst]!r}, want {want[worst]!r}"
    )


_INF, _NAN = np.inf, np.nan
# (input, exact expected result) for both float formats; compared bit-for-bit
# except that any NaN matches NaN.
_EDGES: dict[str, list[tuple[float, float]]] = {
    "exp": [
        (_INF, _INF),
        (-_INF, 0.0),
        (_NAN, _NAN),
        (0.0, 1.0),
        (-0.0, 1.0),
        (1e4, _INF),
        (-1e4, 0.0),
        (3.4e38, _INF),
        (-3.4e38, 0.0),
    ],
    "log": [
        (0.0, -_INF),
        (-0.0, -_INF),
        (-1.0, _NAN),
        (-_INF, _NAN),
        (_INF, _INF),
        (_NAN, _NAN),
        (1.0, 0.0),
        (-1e-40, _NAN),
    ],
    "log1p": [
        (-1.0, -_INF),
        (-2.0, _NAN),
        (-_INF, _NAN),
        (_INF, _INF),
        (_NAN, _NAN),
        (0.0, 0.0),
        (-0.0, -0.0),
        (1e-30, 1e-30),
        (-1e-30, -1e-30),
    ],
    "tanh": [
        (0.0, 0.0),
        (-0.0, -0.0),
        (_INF, 1.0),
        (-_INF, -1.0),
        (_NAN, _NAN),
        (30.0, 1.0),
        (-30.0, -1.0),
        (800.0, 1.0),
        (-800.0, -1.0),
        (1e-30, 1e-30),
        (-1e-30, -1e-30),
    ],
    "logistic": [
        (0.0, 0.5),
        (-0.0, 0.5),
        (_INF, 1.0),
        (-_INF, 0.0),
        (_NAN, _NAN),
        (800.0, 1.0),
        (-800.0, 0.0),
        (50.0, 1.0),
    ],
    "softplus": [
        (800.0, 800.0),
        (-800.0, 0.0),
        (_INF, _INF),
        (-_INF, 0.0),
        (_NAN, _NAN),
        (1e4, 1e4),
        (-1e4, 0.0),
        (3e38, 3e38),
    ],
    "sin": [
        (0.0, 0.0),
        (-0.0, -0.0),
        (_INF, _NAN),
        (-_INF, _NAN),
        (_NAN, _NAN),
        (1e-30, 1e-30),
        (-1e-30, -1e-30),
        (3e38, _NAN),
    ],
    "cos": [
        (0.0, 1.0),
        (-0.0, 1.0),
        (_INF, _NAN),
        (-_INF, _NAN),
        (_NAN, _NAN),
        (1e-30, 1.0),
        (-1e-30, 1.0),
        (-3e38, _NAN),
    ],
    "tan": [
        (0.0, 0.0),
        (-0.0, -0.0),
        (_INF, _NAN),
        (-_INF, _NAN),
        (_NAN, _NAN),
        (1e-30, 1e-30),
        (-1e-30, -1e-30),
        (3e38, _NAN),
    ],
    "atan": [
        (0.0, 0.0),
        (-0.0, -0.0),
        (_INF, np.pi / 2),
        (-_INF, -np.pi / 2),
        (_NAN, _NAN),
        (1e-30, 1e-30),
        (-1e-30, -1e-30),
        (3e38, np.pi / 2),
        (-3e38, -np.pi / 2),
        (1.0, np.pi / 4),
    ],
    "asin": [
        (0.0, 0.0),
        (-0.0, -0.0),
        (1.0, np.pi / 2),
        (-1.0, -np.pi / 2),
        (1.5, _NAN),
        (-2.0, _NAN),
        (_INF, _NAN),
        (-_INF, _NAN),
        (_NAN, _NAN),
        (1e-30, 1e-30),
        (-1e-30, -1e-30),
    ],
    "acos": [
        (1.0, 0.0),
        (-1.0, np.pi),
        (0.0, np.pi / 2),
        (-0.0, np.pi / 2),
        (1.5, _NAN),
        (-2.0, _NAN),
        (_INF, _NAN),
        (-_INF, _NAN),
        (_NAN, _NAN),
        (1e-30, np.pi / 2),
    ],
    "erf": [
        (0.0, 0.0),
        (-0.0, -0.0),
        (_INF, 1.0),
        (-_INF, -1.0),
        (_NAN, _NAN),
        (10.0, 1.0),
        (-10.0, -1.0),
        (3e38, 1.0),
        (-3e38, -1.0),
    ],
    "erfc": [
        (0.0, 1.0),
        (-0.0, 1.0),
        (_INF, 0.0),
        (-_INF, 2.0),
        (_NAN, _NAN),
        (30.0, 0.0),
        (-30.0, 2.0),
        (3e38, 0.0),
        (-3e38, 2.0),
    ],
    "expm1": [
        (0.0, 0.0),
        (-0.0, -0.0),
        (_INF, _INF),
        (-_INF, -1.0),
        (_NAN, _NAN),
        (1e-30, 1e-30),
        (-1e-30, -1e-30),
        (-50.0, -1.0),
        (1e4, _INF),
        (-3e38, -1.0),
    ],
}
_SUB64, _SUB32 = 5e-324, 1e-45
_EDGES_BY_DTYPE: dict[type[np.floating], dict[str, list[tuple[float, float]]]] = {
    np.float64: {
        "exp": [(709.79, _INF), (-745.13, 5e-324), (-745.14, 0.0), (-746.0, 0.0)],
        "log": [],
        "log1p": [(5e-324, 5e-324), (-5e-324, -5e-324)],
        "tanh": [(5e-324, 5e-324), (-5e-324, -5e-324)],
        "logistic": [],
        "softplus": [(1.7976931348623157e308, 1.7976931348623157e308)],
        # Just inside and beyond the documented range of the reduction.
        "sin": [(_SUB64, _SUB64), (-_SUB64, -_SUB64), (3.3e6, _NAN), (1e300, _NAN)],
        "cos": [(_SUB64, 1.0), (-3.3e6, _NAN)],
        "tan": [(_SUB64, _SUB64), (-_SUB64, -_SUB64), (3.3e6, _NAN)],
        "atan": [(_SUB64, _SUB64), (-_SUB64, -_SUB64)],
        "asin": [(_SUB64, _SUB64), (-_SUB64, -_SUB64)],
        "acos": [],
        "erf": [(_SUB64, _SUB64), (-_SUB64, -_SUB64), (6.0, 1.0)],
        "erfc": [(27.3, 0.0), (-6.0, 2.0)],
        "expm1": [(_SUB64, _SUB64), (-_SUB64, -_SUB64), (709.79, _INF), (-40.0, -1.0)],
    },
    np.float32: {
        "exp": [(88.73, _INF), (-104.0, 0.0), (-110.0, 0.0)],
        "log": [],
        "log1p": [(1e-45, 1e-45), (-1e-45, -1e-45)],
        "tanh": [(1e-45, 1e-45), (-1e-45, -1e-45)],
        "logistic": [(-110.0, 0.0)],
        "softplus": [(-110.0, 0.0)],
        "sin": [(_SUB32, _SUB32), (-_SUB32, -_SUB32), (1.7e9, _NAN)],
        "cos": [(_SUB32, 1.0), (-1.7e9, _NAN)],
        "tan": [(_SUB32, _SUB32), (-_SUB32, -_SUB32), (1.7e9, _NAN)],
        "atan": [(_SUB32, _SUB32), (-_SUB32, -_SUB32)],
        "asin": [(_SUB32, _SUB32), (-_SUB32, -_SUB32)],
        "acos": [],
        "erf": [(_SUB32, _SUB32), (-_SUB32, -_SUB32), (4.0, 1.0)],
        "erfc": [(10.1, 0.0), (-4.0, 2.0)],
        "expm1": [(_SUB32, _SUB32), (-_SUB32, -_SUB32), (88.8, _INF), (-20.0, -1.0)],
    },
}


@pytest.mark.parametrize("fname", FUNCS)
@pytest.mark.parametrize(("dtype", "width"), CASES, ids=CASE_IDS)
def test_edge_values_exact(kernels, dtype, width, fname):
    pairs = _EDGES[fname] + _EDGES_BY_DTYPE[dtype][fname]
    x = np.array([p[0] for p in pairs], dtype=dtype)
    want = np.array([p[1] for p in pairs], dtype=dtype)
    # Repeat so every value goes through the vector body as well as the scalar tail.
    reps = 2 * width + 1
    got = kernels(dtype, width)(fname, np.tile(x, reps)).reshape(reps, -1)
    for row in got:
        nan_ok = np.isnan(want) & np.isnan(row)
        same_bits = row.view(f"u{row.itemsize}") == want.view(f"u{want.itemsize}")
        bad = ~(nan_ok | same_bits)
        assert not bad.any(), f"{fname}: x={x[bad]} got {row[bad]} want {want[bad]}"


@given(st.lists(st.floats(width=64), min_size=1, max_size=40))
@settings(max_examples=150, deadline=None)
def test_property_random_floats_f64(kernels, values):
    x = np.array(values, dtype=np.float64)
    k = kernels(np.float64, 4)
    for fname in FUNCS:
        err = ulp_error(k(fname, x), reference(fname, x))
        assert err.max() <= MAX_ULP, (fname, x[np.argmax(err)])
    # Symmetries that hold exactly by construction.
    t = k("tanh", x)
    assert np.array_equal(k("tanh", -x).view(np.uint64), (-t).view(np.uint64))
    finite = np.isfinite(x)
    s = k("logistic", x) + k("logistic", -x)
    assert np.all(np.abs(s[finite] - 1.0) <= 4 * np.finfo(np.float64).eps)
    # The reductions and kernels are sign-symmetric, so odd and even routines are
    # exactly so (NaN matches any NaN).
    for fname, parity in [
        ("sin", -1),
        ("tan", -1),
        ("atan", -1),
        ("asin", -1),
        ("erf", -1),
        ("cos", 1),
    ]:
        y, y_neg = k(fname, x), k(fname, -x)
        same = (np.isnan(y) & np.isnan(y_neg)) | (
            y_neg.view(np.uint64) == (parity * y).view(np.uint64)
        )
        assert same.all(), (fname, x[~same])


@given(st.lists(st.floats(width=32), min_size=1, max_size=40))
@settings(max_examples=100, deadline=None)
def test_property_random_floats_f32(kernels, values):
    x = np.array(values, dtype=np.float32)
    k = kernels(np.float32, 8)
    for fname in FUNCS:
        err = ulp_error(k(fname, x), reference(fname, x))
        assert err.max() <= MAX_ULP, (fname, x[np.argmax(err)])


def test_vector_ir_and_definition_properties(kernels):
    assert "<4 x double>" in kernels(np.float64, 4).ir_text
    assert "<8 x float>" in kernels(np.float32, 8).ir_text
    module = ir.Module()
    v4 = ir.VectorType(ir.DoubleType(), 4)
    fn = vecmath.define_math(module, "exp", v4)
    assert fn.name == "symnet.exp.v4f64"
    assert fn.linkage == "internal"
    assert "alwaysinline" in fn.attributes
    assert fn.ftype == ir.FunctionType(v4, [v4])
    # Second call (even with an equal, distinct type object) returns the same function.
    assert vecmath.define_math(module, "exp", ir.VectorType(ir.DoubleType(), 4)) is fn
    for fname in FUNCS:
        vecmath.define_math(module, fname, v4)
        vecmath.define_math(module, fname, ir.FloatType())
    text = str(module)
    assert "<4 x double>" in text
    assert text.count('define internal <4 x double> @"symnet.exp.v4f64"') == 1
    assert 'define internal float @"symnet.softplus.f32"' in text
    # No libm: only LLVM intrinsics and our own helpers are called.
    callees = set(re.findall(r'call \S+(?: <[^>]*>)? @"?([\w.]+)', text))
    assert callees, "expected calls to intrinsics/helpers"
    assert all(c.startswith(("llvm.", "symnet.")) for c in callees), callees
    # No fast-math flags that would break inf/NaN handling.
    assert not re.search(r"\b(fast|nnan|ninf|reassoc|afn)\b", text)
    llvm.parse_assembly(text).verify()


def test_float32_tables_hold_float32_values():
    # A float32 constant that is not exactly representable would be rounded by
    # llvmlite, silently changing the fitted polynomial.
    def values(v):
        if isinstance(v, float):
            yield v
        elif isinstance(v, tuple):
            for item in v:
                yield from values(item)

    fmt = vecmath._F32
    for name in fmt.__dataclass_fields__:
        for v in values(getattr(fmt, name)):
            assert float(np.float32(v)) == v or not np.isfinite(np.float32(v)), (name, v)
    limit = vecmath._TRIG[32].limit
    assert float(np.float32(limit)) == limit <= 2.0**29 * np.pi


def test_fills_in_existing_declaration_and_rejects_clashes():
    module = ir.Module()
    decl = ir.Function(module, ir.FunctionType(ir.FloatType(), [ir.FloatType()]), "symnet.tanh.f32")
    assert vecmath.define_math(module, "tanh", ir.FloatType()) is decl
    assert not decl.is_declaration
    ir.Function(module, ir.FunctionType(ir.DoubleType(), [ir.FloatType()]), "symnet.log.f32")
    with pytest.raises(TypeError):
        vecmath.define_math(module, "log", ir.FloatType())


def test_rejects_unknown_function_and_type():
    module = ir.Module()
    with pytest.raises(ValueError):
        vecmath.define_math(module, "gamma", ir.DoubleType())
    with pytest.raises(TypeError):
        vecmath.define_math(module, "exp", ir.IntType(64))
    with pytest.raises(TypeError):
        vecmath.define_math(module, "exp", ir.VectorType(ir.IntType(32), 4))


def _scalar_loop_asm(fname: str, elem: ir.Type) -> str:
    """Optimized assembly of a plain scalar loop ``out[i] = f(in[i])``."""
    tm = _target_machine()
    module = _new_module(tm)
    f = vecmath.define_math(module, fname, elem)
    kern = ir.Function(module, _kernel_signature(), name="loop")
    src, dst, n = kern.args
    i64 = ir.IntType(64)
    entry, body, done = (kern.append_basic_block(s) for s in ("entry", "body", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, i64(0)), body, done)
    b.position_at_end(body)
    i = b.phi(i64)
    i.add_incoming(i64(0), entry)
    x = b.load(b.gep(src, [i], inbounds=True, source_etype=elem), typ=elem)
    b.store(b.call(f, [x]), b.gep(dst, [i], inbounds=True, source_etype=elem))
    nxt = b.add(i, i64(1))
    i.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("<", nxt, n), body, done)
    b.position_at_end(done)
    b.ret_void()
    return tm.emit_assembly(_optimize(module, tm))


@pytest.mark.parametrize("elem", [ir.DoubleType(), ir.FloatType()], ids=["f64", "f32"])
@pytest.mark.parametrize("fname", FUNCS)
def test_scalar_loop_autovectorizes(fname, elem):
    if "+avx2" not in llvm.get_host_cpu_features().flatten().split(","):
        pytest.skip("host has no AVX2")
    asm = _scalar_loop_asm(fname, elem)
    assert re.search(r"%[yz]mm\d+", asm), f"{fname}: loop was not vectorized to ymm/zmm"
    # No call instruction at all, hence in particular none to libm's exp/log.
    assert not re.search(r"^\s*call", asm, re.MULTILINE), f"{fname}: emitted a call"
