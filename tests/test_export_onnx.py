"""export_onnx: models that onnx.checker accepts and onnxruntime runs to the NumPy backend's
numbers (every built-in activation, GELU / SiLU / Mish written in SymPy, a gradient kernel)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet import registry
from symnet.errors import UnsupportedError
from symnet.export import export_onnx, onnx_model
from symnet.nn import MLP

onnx = pytest.importorskip("onnx", reason="ONNX export needs the 'export' extra (onnx)")
ort = pytest.importorskip("onnxruntime",
                          reason="checking ONNX models needs the 'export' extra (onnxruntime)")

t = sp.Symbol("t")
CUSTOM = {
    "gelu": sp.Lambda(t, t / 2 * (1 + sp.erf(t / sp.sqrt(2)))),
    "silu": sp.Lambda(t, t / (1 + sp.exp(-t))),
    "mish": sp.Lambda(t, t * sp.tanh(sp.log(1 + sp.exp(t)))),
}
ACTS = [*registry.activation_names(), *CUSTOM]
TOL = {"float64": 1e-10, "float32": 2e-5}


def _run(model, feeds: dict) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _params(net: MLP, rng) -> list[np.ndarray]:
    return [rng.standard_normal(tuple(int(d) for d in p.shape)) for p in net.params]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act", ACTS)
def test_every_activation_runs_in_onnxruntime(tmp_path, act, dtype):
    net = MLP([5, 7, 3], CUSTOM.get(act, act), output="softmax")
    rng = np.random.default_rng(3)
    params = _params(net, rng)
    path = export_onnx(net, tmp_path / f"{act}.onnx", params, dtype=dtype)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    X = (rng.standard_normal((5, 9)) * 3).astype(dtype)
    (got,) = _run(model, {"X": X})
    k = symnet.compile([net.output_expr], [net.X, *net.params], dtype=dtype)
    (want,) = k(X, *params)
    assert got.dtype == np.dtype(dtype) and got.shape == (3, 9)
    assert _rel(got, want) < TOL[dtype]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_800_logits_stay_finite(dtype):
    net = MLP([3, 4, 3], "relu", output="softmax")
    rng = np.random.default_rng(0)
    params = _params(net, rng)
    model = onnx_model(net, params, dtype=dtype)
    X = (rng.standard_normal((3, 6)) * 800).astype(dtype)
    (got,) = _run(model, {"X": X})
    assert np.isfinite(got).all()
    (want,) = symnet.compile([net.output_expr], [net.X, *net.params], dtype=dtype)(X, *params)
    assert _rel(got, want) < TOL[dtype]


def test_a_gradient_kernel_runs_in_onnxruntime():
    net = MLP([4, 6, 3], "tanh", output="softmax")
    lam = sp.Symbol("lambda")
    R = net.risk(lam=lam)
    k = symnet.compile_grad(R, net.params, [net.X, net.labels(), lam, *net.params])
    model = onnx_model(k)
    onnx.checker.check_model(model, full_check=True)
    rng = np.random.default_rng(8)
    X = rng.standard_normal((4, 10))
    Y = np.eye(3)[:, rng.integers(0, 3, 10)]
    params = [0.5 * p for p in _params(net, rng)]
    by_symbol = {net.X: X, k.inputs[1]: Y, lam: np.array([[1e-3]])}
    by_symbol.update(zip(net.params, params, strict=True))
    feeds = {n: by_symbol[sym] for (n, _), sym in zip(k.program.inputs, k.inputs, strict=True)}
    assert [i.name for i in model.graph.input] == list(feeds)
    got = _run(model, feeds)
    want = k(X, Y, 1e-3, *params)
    for g, w in zip(got, want, strict=True):
        assert _rel(g, w) < 1e-10


def test_a_function_onnx_cannot_express_is_refused_by_name():
    x = sp.Symbol("x")
    k = symnet.compile([sp.gamma(x) + 1], [x])
    with pytest.raises(UnsupportedError, match="tgamma.*gamma"):
        onnx_model(k)


def test_a_missing_parameter_is_named():
    net = MLP([2, 3, 2], "tanh")
    with pytest.raises(ValueError, match="b2"):
        onnx_model(net, {p: np.zeros(tuple(int(d) for d in p.shape)) for p in net.params[:3]})


def test_the_model_documents_opset_ir_and_formula(tmp_path):
    net = MLP([2, 3, 2], "tanh")
    model = onnx_model(net, _params(net, np.random.default_rng(1)))
    assert model.ir_version == 9 and model.opset_import[0].version == 18
    assert "tanh" in model.doc_string and model.producer_name == "symnet"
    batch = model.graph.input[0].type.tensor_type.shape.dim[1]
    assert batch.dim_param == "m"


def test_float64_erf_is_accurate_to_a_few_ulp():
    from scipy.special import erf

    x = sp.Symbol("x")
    model = onnx_model(symnet.compile([sp.erf(x)], [x]))
    xs = np.concatenate([np.linspace(-7, 7, 20001), np.logspace(-300, 0, 400)])
    (got,) = _run(model, {"x": xs[None, :]})
    want = erf(xs)
    assert np.max(np.abs(got.ravel() - want) / np.maximum(np.abs(want), 1e-300)) < 1e-14


def _row_points(row, n: int = 7) -> np.ndarray:
    lo, hi = row.domain
    pts = np.linspace(lo, hi, n + 2)[1:-1] + 0.0123
    for k in row.kinks:
        pts = np.where(np.abs(pts - k) < 1e-2, pts + 2e-2, pts)
    return pts


#: Rows whose compiled form needs a function ONNX has no operator for.
REFUSED = {"atan2", "gamma", "loggamma"}
#: Rows whose ONNX operators onnxruntime implements in float only (checked in float32).
ORT_FLOAT_ONLY = {"atan", "tan", "cot", "asin", "acos", "asinh", "acosh", "atanh"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_registry_row_runs_or_is_refused_by_name(dtype):
    x = sp.Symbol("x")
    refused, no_kernel = set(), set()
    for row in registry.rows():
        if row.example is None:
            continue
        k = symnet.compile([row.example(x)], [x], dtype=dtype)
        try:
            model = onnx_model(k)
        except UnsupportedError as exc:
            assert row.name in str(exc), str(exc)
            refused.add(row.name)
            continue
        onnx.checker.check_model(model, full_check=True)
        try:
            sess = ort.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"])
        except ort.capi.onnxruntime_pybind11_state.NotImplemented:
            no_kernel.add(row.name)
            continue
        pts = _row_points(row).astype(dtype)
        (got,) = sess.run(None, {"x": pts[None, :]})
        (want,) = k(pts)
        rtol, atol = (1e-9, 1e-12) if dtype == "float64" else (1e-5, 1e-6)
        assert np.allclose(got.ravel(), np.broadcast_to(want, pts.shape), rtol=rtol,
                           atol=atol, equal_nan=True), row.name
    assert refused == REFUSED
    assert no_kernel <= (ORT_FLOAT_ONLY if dtype == "float64" else set()), no_kernel


def test_the_export_command_stores_trained_weights(tmp_path, capsys):
    from symnet.cli import main
    from symnet.train import init_params, save_params

    net = MLP([64, 32, 10], "logistic")
    params = init_params(net, 3)
    save_params(tmp_path / "p.npz", net, params)
    assert main(["export", "onnx", "-o", str(tmp_path / "m"), "--params",
                 str(tmp_path / "p.npz")]) == 0
    model = onnx.load(str(tmp_path / "m.onnx"))
    X = np.random.default_rng(0).uniform(0, 1, (64, 5))
    (got,) = _run(model, {"X": X})
    k = symnet.compile([net.output_expr], [net.X, *net.params])
    (want,) = k(X, *[params[str(p)] for p in net.params])
    assert _rel(got, want) < 1e-10
