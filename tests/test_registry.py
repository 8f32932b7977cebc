"""The operation registry: every row compiles on both backends and differentiates
right; a toy operation registered here works end to end; the CLI, README and
IR read the same rows."""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet import registry
from symnet.graph import COLUMN_OPS
from symnet.heads import Activation
from symnet.nn import MLP
from symnet.registry import accuracy

X = sp.Symbol("x", real=True)
ROWS = [r for r in registry.rows() if r.example is not None]


def _points(row: registry.Op, n: int = 9) -> np.ndarray:
    lo, hi = row.domain
    pts = np.linspace(lo, hi, n) + 0.0123  # off the grid of round numbers
    pts = pts[(pts > lo) & (pts < hi)]
    far = np.ones(pts.shape, dtype=bool)
    for k in row.kinks:
        far &= np.abs(pts - k) > 1e-2
    return pts[far]


def _reference(expr: sp.Expr, pts: np.ndarray) -> np.ndarray:
    """Values by SymPy's own arbitrary-precision evaluation (independent of both backends)."""
    return np.array([float(sp.N(expr.subs(X, sp.Float(v, 30)), 30)) for v in pts])


def _derivative(expr: sp.Expr) -> sp.Expr:
    """SymPy's derivative, with the step functions' derivatives (0 almost
    everywhere) written out: frac and Mod through floor first."""
    d = sp.diff(expr.rewrite(sp.floor), X)
    for kind in (sp.Subs, sp.Derivative):
        d = d.replace(lambda a, kind=kind: isinstance(a, kind) and a.has(sp.floor, sp.ceiling),
                      lambda a: sp.S.Zero)
    return d


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_every_row_compiles_and_differentiates(row, backend, dtype):
    expr = row.example(X)
    pts = _points(row)
    k = symnet.compile_grad(expr, [X], [X], backend=backend, dtype=dtype)
    value, grad = k(pts.astype(dtype))
    want = _reference(expr, pts)
    dwant = _reference(_derivative(expr), pts)
    rtol, atol = (1e-12, 1e-13) if dtype == "float64" else (2e-6, 2e-6)
    np.testing.assert_allclose(value, want, rtol=rtol, atol=atol)
    np.testing.assert_allclose(grad, dwant, rtol=rtol * 10, atol=atol * 10)
    if dtype == "float64":
        # Central differences of the compiled value itself.
        h = 1e-6
        up, _ = k(pts + h)
        down, _ = k(pts - h)
        np.testing.assert_allclose(grad, (up - down) / (2 * h), rtol=1e-6, atol=1e-7)


class softsign(Activation):
    """A toy activation x / (1 + |x|), registered only by this test."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return x / (1 + abs(x))
        return None

    def fdiff(self, argindex=1):
        return 1 / (1 + sp.Abs(self.args[0])) ** 2


def _softsign_llvm(b, e, emit):
    """fabs, fadd, fdiv"""
    x = emit(e.args[0])
    return b.div(x, b.add(b.const(1.0), b.intrinsic("fabs", x)))


@pytest.fixture
def toy_op():
    row = registry.register(registry.Op(
        softsign, _softsign_llvm, numpy=lambda x: x / (1 + np.abs(x)), activation=True,
        example=softsign, kinks=(0.0,)))
    try:
        yield row
    finally:
        registry.unregister(softsign)


def test_unregistered_head_is_refused_by_name():
    with pytest.raises(symnet.UnsupportedError, match="softsign"):
        symnet.compile_grad(softsign(X), [X], [X])


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_toy_operation_registered_in_one_place_compiles_on_both_backends(toy_op, backend):
    # The walkthrough of ARCHITECTURE.md: one register() call, nothing else.
    w = sp.Symbol("w", real=True)
    expr = softsign(w * X) ** 2
    k = symnet.compile_grad(expr, [w], [X, w], backend=backend)
    pts = np.array([-2.5, -0.7, 0.3, 1.9])
    for wv in (-1.3, 0.8):
        value, grad = k(pts, wv)
        want = (wv * pts / (1 + np.abs(wv * pts))) ** 2
        # d/dw s(wx)^2 = 2 s(wx) x / (1 + |wx|)^2, written out independently
        dwant = 2 * (wv * pts / (1 + np.abs(wv * pts))) * pts / (1 + np.abs(wv * pts)) ** 2
        np.testing.assert_allclose(value, want, rtol=1e-13)
        np.testing.assert_allclose(grad, dwant, rtol=1e-12)
        h = 1e-6
        fd = (k(pts, wv + h)[0] - k(pts, wv - h)[0]) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=1e-6)
    # An MLP built with it by name trains on both backends through the same rows.
    net = MLP([3, 4, 2], "softsign")
    rng = np.random.default_rng(0)
    Xv = rng.standard_normal((3, 10))
    y = rng.integers(0, 2, 10)
    ps = [rng.standard_normal(tuple(int(d) for d in p.shape)) for p in net.params]
    g = symnet.compile_grad(net.risk(lam=0.0), net.params, [net.X, net.labels(), *net.params],
                            backend=backend)
    assert np.isfinite(g(Xv, y, *ps)[0])


def test_a_changed_user_row_is_a_new_kernel(toy_op):
    k1 = symnet.compile_grad(softsign(X), [X], [X], backend="llvm")
    registry.register(registry.Op(softsign, lambda b, e, emit: b.mul(emit(e.args[0]),
                                                                     b.const(2.0)),
                                  numpy=lambda x: 2 * x))
    k2 = symnet.compile_grad(softsign(X), [X], [X], backend="llvm")
    assert float(k1(1.0)[0]) == pytest.approx(0.5)
    assert float(k2(1.0)[0]) == pytest.approx(2.0)  # not the cached softsign kernel


def test_column_rows_cover_the_ir_column_ops():
    assert [r.op for r in registry.COLUMN_ROWS] == list(COLUMN_OPS)
    with pytest.raises(ValueError, match="not an IR op"):
        registry.register_column(registry.ColumnOp(softsign, "softsign", np.abs,
                                                   derive=lambda *a: []))


def test_readme_support_table_is_the_registry():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert registry.support_table() in readme


@functools.cache
def _accuracy_benchmark():
    """benchmarks/accuracy.py, the script that measured the stored claims."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy.py"
    spec = importlib.util.spec_from_file_location("symnet_accuracy_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ROUTINE_ROWS = [r for r in registry.rows()
                if (getattr(r.llvm, "__doc__", None) or "").startswith("routine")]


def test_accuracy_data_covers_every_row():
    # A row added (or renamed) since the last measurement: rerun benchmarks/accuracy.py.
    bench = _accuracy_benchmark()
    measurable = {r.name for r in registry.rows() if bench.probes(r)}
    assert set(accuracy.ACCURACY) == measurable | {c.op for c in registry.COLUMN_ROWS}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("row", ROUTINE_ROWS, ids=lambda r: r.name)
def test_routine_rows_are_as_accurate_as_the_table_says(row, dtype):
    # The benchmark's own measurement on a subset of its points: the stored
    # claim (the README's accuracy column) must still hold for today's code.
    bench = _accuracy_benchmark()
    claim = accuracy.ACCURACY[row.name][0 if dtype == "float64" else 1]
    measured = bench.measure_row(row, dtype, bench.QUICK)
    assert measured <= claim, f"{row.name} {dtype}: {measured} ulp, the table says {claim}"


def test_cli_lists_the_registry_activations():
    cmd = [sys.executable, "-c", "from symnet.cli import main; main()", "train", "--help"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    flat = " ".join(out.split())
    assert ", ".join(registry.activation_names()) in flat
