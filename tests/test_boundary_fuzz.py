"""Fuzzing the kernel boundary: wrong shapes, dtypes, views, empty, NaN/inf, big.

Both backends go through the same checks; the LLVM kernel must never crash
or write out of bounds, and must agree with the NumPy kernel (or raise the
same clear error) on every case.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symnet
from symnet.nn import MLP

NET = MLP([3, 4, 2], "tanh")
R = NET.risk(lam=0.01)
INPUTS = [NET.X, NET.labels(), *NET.params]
KERNELS = {be: symnet.compile_grad(R, NET.params, INPUTS, backend=be) for be in ("numpy", "llvm")}
SHAPES = [(3, None), (2, None), (4, 3), (4, 1), (2, 4), (2, 1)]


def _call(backend, args):
    try:
        return "ok", KERNELS[backend](*args)
    except (TypeError, ValueError) as exc:  # ShapeError is a ValueError
        return type(exc).__name__, str(exc)


def _same(a, b) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] != "ok":
        return a[1] == b[1]
    # Sums that cancel to ~0 differ by rounding at the scale of their terms.
    scale = max(_scale(x) for x in a[1])
    return all(np.allclose(x, y, rtol=1e-12, equal_nan=True, atol=1e-12 * scale)
               for x, y in zip(a[1], b[1], strict=True))


def _scale(x) -> float:
    finite = np.abs(np.asarray(x))[np.isfinite(x)]
    return float(finite.max()) if finite.size else 0.0


def _mutate(arr: np.ndarray, how: str, rng: np.random.Generator):
    if how == "transpose":
        return arr.T
    if how == "extra_row":
        return np.concatenate([arr, arr[:1]]) if arr.ndim == 1 else np.vstack([arr, arr[:1]])
    if how == "flatten":
        return arr.ravel()
    if how == "3d":
        return arr[..., None]
    if how == "complex":
        return arr.astype(complex)
    if how == "strings":
        return arr.astype(str)
    if how == "object":
        return arr.astype(object)
    if how == "int":
        return np.round(arr).astype(np.int64)
    if how == "bool":
        return arr > 0
    if how == "view":
        if arr.ndim == 1:
            return np.repeat(arr, 2)[::2]
        big = np.repeat(np.repeat(arr, 2, axis=0), 2, axis=1)
        return big[::2, ::2]
    if how == "fortran":
        return np.asfortranarray(arr)
    if how == "nan":
        out = arr.astype(float).copy()
        out.flat[rng.integers(0, out.size)] = np.nan
        return out
    if how == "inf":
        out = arr.astype(float).copy()
        out.flat[rng.integers(0, out.size)] = rng.choice([np.inf, -np.inf])
        return out
    if how == "huge_values":
        return arr * 1e300
    if how == "empty":
        return arr[:, :0] if arr.ndim == 2 else arr[:0]
    if how == "list":
        return arr.tolist()
    if how == "scalar":
        return 1.5
    raise AssertionError(how)


MUTATIONS = ["transpose", "extra_row", "flatten", "3d", "complex", "strings", "object", "int",
             "bool", "view", "fortran", "nan", "inf", "huge_values", "empty", "list", "scalar"]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=st.integers(1, 9), which=st.integers(0, len(SHAPES) - 1),
       how=st.sampled_from(MUTATIONS + ["none"]), labels_as_int=st.booleans(),
       seed=st.integers(0, 10_000))
def test_fuzz_boundary(m, which, how, labels_as_int, seed):
    rng = np.random.default_rng(seed)
    args = []
    for r, c in SHAPES:
        shape = (r, m if c is None else c)
        args.append(rng.standard_normal(shape))
    args[1] = np.eye(2)[:, rng.integers(0, 2, m)]
    if labels_as_int:
        args[1] = rng.integers(0, 2, m)
    two_d = np.ndim(args[which]) == 2
    if how != "none":
        args[which] = _mutate(np.asarray(args[which]), how, rng)
    a = _call("numpy", args)
    b = _call("llvm", args)
    assert _same(a, b), (how, which, a[0], b[0])
    if how in ("strings", "object", "complex"):
        assert a[0] == "TypeError"
    r, c = SHAPES[which]
    if how in ("extra_row", "3d", "empty") or (
            how == "transpose" and two_d and c is None and m != r):
        assert a[0] in ("ShapeError", "ValueError")


def test_big_batch():
    rng = np.random.default_rng(0)
    m = 200_000
    args = [rng.standard_normal((3, m)), rng.integers(0, 2, m)]
    args += [rng.standard_normal(s) for s in SHAPES[2:]]
    a, b = KERNELS["numpy"](*args), KERNELS["llvm"](*args)
    assert all(np.allclose(x, y, rtol=1e-10) for x, y in zip(a, b, strict=True))


def test_outputs_do_not_alias_inputs_or_each_other():
    rng = np.random.default_rng(1)
    args = [rng.standard_normal((3, 5)), rng.integers(0, 2, 5)]
    args += [rng.standard_normal(s) for s in SHAPES[2:]]
    before = [np.array(a, copy=True) for a in args]
    out1 = KERNELS["llvm"](*args)
    out2 = KERNELS["llvm"](*args)
    for a, b in zip(args, before, strict=True):
        assert np.array_equal(a, b)  # inputs untouched
    out1[1][...] = 123.0
    assert not np.array_equal(out1[1], out2[1])  # fresh output arrays


def test_points_of_different_lengths_rejected():
    x, y = sp.symbols("x y")
    k = symnet.compile([x * y], [x, y], backend="llvm")
    with pytest.raises(symnet.ShapeError, match="3 points, but earlier arguments have 2"):
        k(np.ones(2), np.ones(3))
    assert k(np.ones(0), 2.0)[0].shape == (0,)
