"""Accuracy, IEEE edge cases and vectorization of symnet's LLVM vector math (vecmath)."""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable

import llvmlite.binding as llvm
import numpy as np
import pytest
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


def reference(fname: str, x: np.ndarray) -> np.ndarray:
    """NumPy's float64 functions for f64; stable long-double formulas otherwise.

    float32 results are the float64/long double value rounded once to float32, which is
    within a hair of correctly rounded.
    """
    dtype = x.dtype
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


def _samples(fname: str, dtype: type[np.floating], seed: int) -> np.ndarray:
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
        """Each point and its k float neighbours on each side."""
        pts = np.asarray(points, dtype=dtype)
        steps = np.arange(-k, k + 1)
        ords = _ordinal(pts)[:, None] + steps[None, :]
        itype = np.int64 if dtype == np.float64 else np.int32
        ords = np.where(ords < 0, np.iinfo(itype).min - ords, ords).astype(itype)
        return ords.view(dtype).ravel()

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
    x = _samples(fname, dtype, seed=10 * FUNCS.index(fname) + width)
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
}
_EDGES_BY_DTYPE: dict[type[np.floating], dict[str, list[tuple[float, float]]]] = {
    np.float64: {
        "exp": [(709.79, _INF), (-745.13, 5e-324), (-745.14, 0.0), (-746.0, 0.0)],
        "log": [],
        "log1p": [(5e-324, 5e-324), (-5e-324, -5e-324)],
        "tanh": [(5e-324, 5e-324), (-5e-324, -5e-324)],
        "logistic": [],
        "softplus": [(1.7976931348623157e308, 1.7976931348623157e308)],
    },
    np.float32: {
        "exp": [(88.73, _INF), (-104.0, 0.0), (-110.0, 0.0)],
        "log": [],
        "log1p": [(1e-45, 1e-45), (-1e-45, -1e-45)],
        "tanh": [(1e-45, 1e-45), (-1e-45, -1e-45)],
        "logistic": [(-110.0, 0.0)],
        "softplus": [(-110.0, 0.0)],
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
        vecmath.define_math(module, "sin", ir.DoubleType())
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
