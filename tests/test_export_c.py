"""export_c: exported C compiled by the system compiler (strict warnings, sanitizers), run from
a C driver and through ctypes, against the NumPy backend."""

from __future__ import annotations

import ctypes
import subprocess

import numpy as np
import pytest
import sympy as sp
from cexport import CC, STRICT, call_ctypes, compile_so, run_driver

import symnet
from symnet import registry
from symnet.data import load_digits
from symnet.export import c_export, export_c
from symnet.nn import MLP
from symnet.sgd import compile_sgd
from symnet.train import init_params

pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (cc/gcc) on PATH")

TOL = {"float64": 1e-12, "float32": 1e-5}
CTYPE = {"float64": "double", "float32": "float"}
PAIRS = [("softmax", "cross_entropy"), ("logistic", "binary_cross_entropy"),
         ("linear", "squared_error"), ("logistic", "squared_error")]


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _labels(loss: str, rows: int, m: int, rng) -> np.ndarray:
    if loss == "cross_entropy":
        return np.eye(rows)[:, rng.integers(0, rows, m)]
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (rows, m)).astype(float)
    return rng.standard_normal((rows, m))


def _grad_case(act: str, output: str, loss: str, dtype: str, m: int = 6):
    net = MLP([4, 5, 3], act, output=output)
    lam = sp.Symbol("lambda")
    R = net.risk(loss, lam)
    ins = [net.X, net.labels(loss), lam, *net.params]
    k = symnet.compile_grad(R, net.params, ins, dtype=dtype)
    rng = np.random.default_rng(11)
    values = [rng.standard_normal((4, m)), _labels(loss, 3, m, rng), np.float64(1e-2)]
    values += [0.5 * rng.standard_normal(tuple(int(d) for d in p.shape)) for p in net.params]
    return k, values, {"m": m}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act", registry.activation_names())
def test_every_activation_from_a_sanitized_c_driver(tmp_path, act, dtype):
    k, values, dims = _grad_case(act, "softmax", "cross_entropy", dtype)
    c_path, _ = export_c(k, tmp_path / "grad")
    fn = c_export(k, "grad").functions[0]
    got = run_driver(tmp_path, c_path, fn, CTYPE[dtype], dims, values)
    want = k(*values)
    for g, w in zip(got, want, strict=True):
        assert _rel(g, w) < TOL[dtype]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("output", "loss"), PAIRS)
def test_every_loss_from_a_sanitized_c_driver(tmp_path, output, loss, dtype):
    k, values, dims = _grad_case("tanh", output, loss, dtype)
    c_path, _ = export_c(k, tmp_path / "grad")
    fn = c_export(k, "grad").functions[0]
    got = run_driver(tmp_path, c_path, fn, CTYPE[dtype], dims, values)
    for g, w in zip(got, k(*values), strict=True):
        assert _rel(g, w) < TOL[dtype]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_forward_pass_through_ctypes_with_800_logits(tmp_path, dtype):
    net = MLP([3, 4, 3], "relu", output="softmax")
    k = symnet.compile([net.output_expr], [net.X, *net.params], dtype=dtype)
    rng = np.random.default_rng(2)
    values = [rng.standard_normal((3, 5)) * 800]
    values += [rng.standard_normal(tuple(int(d) for d in p.shape)) for p in net.params]
    c_path, _ = export_c(k, tmp_path / "predict")
    lib = compile_so(c_path, tmp_path / "predict.so")
    (got,) = call_ctypes(lib, c_export(k, "predict").functions[0], CTYPE[dtype], {"m": 5},
                         values)
    (want,) = k(*values)
    assert np.isfinite(got).all()
    assert _rel(got, want) < TOL[dtype]


def _points(row, n: int = 9) -> np.ndarray:
    """n points inside the row's domain, away from its kinks (as tests/test_registry.py)."""
    lo, hi = row.domain
    pts = np.linspace(lo, hi, n + 2)[1:-1] + 0.0123
    pts = np.clip(pts, lo + 1e-3, hi - 1e-3)
    for k in row.kinks:
        pts = np.where(np.abs(pts - k) < 1e-2, pts + 2e-2, pts)
    return pts


def test_every_registry_row_and_its_derivative_over_points(tmp_path):
    rows = [r for r in registry.rows() if r.example is not None]
    assert len(rows) > 40
    xs = [sp.Symbol(f"x{k}") for k in range(len(rows))]
    values = [row.example(x) for row, x in zip(rows, xs, strict=True)]
    grads = symnet.grad(sp.Add(*values), xs)
    kern = symnet.compile([*values, *grads], xs)
    samples = [_points(row) for row in rows]
    want = kern(*samples)
    c_path, _ = export_c(kern, tmp_path / "rows")
    fn = c_export(kern, "rows").functions[0]
    got = run_driver(tmp_path, c_path, fn, "double", {"n": 9}, samples)
    for j, (g, w) in enumerate(zip(got, want, strict=True)):
        row = rows[j % len(rows)]
        w = np.broadcast_to(np.asarray(w, float), (9,))
        assert np.allclose(g.ravel(), w, rtol=1e-12, atol=1e-14, equal_nan=True), \
            (row.name, "derivative" if j >= len(rows) else "value", g.ravel(), w)


def _digits_epoch_case(dtype: str):
    X, y = load_digits()
    net = MLP([64, 16, 10], "logistic")
    lam = sp.Symbol("lambda")
    sgd = compile_sgd(net.risk(lam=lam), net.params, net.X, net.labels(), [lam], dtype=dtype)
    start = [np.ascontiguousarray(v) for v in init_params(net, 0).values()]
    return X, y, sgd, start


EPOCH_DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "epoch.h"

int main(int argc, char **argv)
{
    /* digits.bin: X (n x 64), Y (n x 10), then the parameters W1 b1 W2 b2. */
    enum { N = %(n)d, P = %(p)d };
    static T X[N * 64], Y[N * 10], theta[P];
    int64_t order[N];
    FILE *in = fopen(argv[1], "rb");
    if (argc != 3 || !in) return 9;
    if (fread(X, sizeof(T), N * 64, in) != N * 64 || fread(Y, sizeof(T), N * 10, in) != N * 10
        || fread(theta, sizeof(T), P, in) != P || fread(order, sizeof(int64_t), N, in) != N)
        return 8;
    fclose(in);
    T *W1 = theta, *b1 = W1 + 16 * 64, *W2 = b1 + 16, *b2 = W2 + 10 * 16;
    T *work = malloc(sizeof(T) * epoch_work_size(1));
    T lam = (T)1e-4, loss = 0;
    for (int e = 0; e < 3; ++e) {
        int status = epoch(X, Y, order, N, 1, (T)0.1, &lam, W1, b1, W2, b2, work, &loss);
        if (status) return status;
        printf("epoch %%d: mean loss %%.17g\n", e + 1, (double)loss);
    }
    FILE *out = fopen(argv[2], "wb");
    fwrite(theta, sizeof(T), P, out);
    fclose(out);
    free(work);
    return 0;
}
"""


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_exported_epoch_reproduces_algorithm_4_1_on_the_digits(tmp_path, dtype):
    X, y, sgd, start = _digits_epoch_case(dtype)
    n = X.shape[0]
    order = np.random.default_rng(0).permutation(n)
    params = [p.astype(dtype) for p in start]
    losses = [sgd.epoch(X.T, y, order, 1, 0.1, params, extra=[1e-4]) for _ in range(3)]
    export_c(sgd, tmp_path / "epoch")
    T = CTYPE[dtype]
    theta = np.concatenate([p.ravel() for p in start]).astype(dtype)
    (tmp_path / "drv.c").write_text(EPOCH_DRIVER % {"n": n, "p": theta.size})
    exe = tmp_path / "drv"
    subprocess.run([CC, *STRICT, f"-DT={T}", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", str(tmp_path / "drv.c"),
                    str(tmp_path / "epoch.c"), "-o", str(exe), "-lm"], check=True,
                   capture_output=True, text=True)
    Y = np.eye(10)[y]
    blob = (X.astype(dtype).tobytes() + Y.astype(dtype).tobytes() + theta.tobytes()
            + order.astype(np.int64).tobytes())
    (tmp_path / "digits.bin").write_bytes(blob)
    run = subprocess.run([str(exe), str(tmp_path / "digits.bin"), str(tmp_path / "out.bin")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    c_losses = [float(line.split()[-1]) for line in run.stdout.splitlines()]
    got = np.frombuffer((tmp_path / "out.bin").read_bytes(), dtype=dtype)
    want = np.concatenate([p.ravel() for p in params])
    tol = 1e-9 if dtype == "float64" else 1e-3
    assert _rel(got, want) < tol
    assert np.allclose(c_losses, losses, rtol=tol)
    assert c_losses[-1] < c_losses[0]
    assert _rel(got, theta) > 1e-3  # it trained


def test_bad_arguments_get_a_status_before_memory_is_touched(tmp_path):
    X, y, sgd, start = _digits_epoch_case("float64")
    export_c(sgd, tmp_path / "epoch")
    lib = ctypes.CDLL(str(compile_so(tmp_path / "epoch.c", tmp_path / "epoch.so")))
    lib.epoch.restype = ctypes.c_int
    lib.epoch_work_size.restype = ctypes.c_size_t
    n = 20
    Xc = np.ascontiguousarray(X[:n])
    Y = np.eye(10)[y[:n]]
    params = [p.copy() for p in start]
    work = np.empty(lib.epoch_work_size(ctypes.c_int64(1)))
    lam = np.array([1e-4])
    loss = np.zeros(1)

    def call(order, nn=n, batch=1, ptr=True):
        ps = [a.ctypes.data_as(ctypes.c_void_p) for a in params]
        return lib.epoch(Xc.ctypes.data_as(ctypes.c_void_p), Y.ctypes.data_as(ctypes.c_void_p),
                         order.ctypes.data_as(ctypes.c_void_p) if ptr else None,
                         ctypes.c_int64(nn), ctypes.c_int64(batch), ctypes.c_double(0.1),
                         lam.ctypes.data_as(ctypes.c_void_p), *ps,
                         work.ctypes.data_as(ctypes.c_void_p),
                         loss.ctypes.data_as(ctypes.c_void_p))

    before = [p.copy() for p in params]
    assert call(np.arange(n, dtype=np.int64), ptr=False) == 1
    assert call(np.arange(n, dtype=np.int64), batch=0) == 2
    bad = np.arange(n, dtype=np.int64)
    bad[7] = n
    assert call(bad) == 3
    assert all(np.array_equal(a, b) for a, b in zip(params, before, strict=True))
    assert call(np.arange(n, dtype=np.int64)) == 0
    assert not np.array_equal(params[0], before[0])


def test_exported_text_is_deterministic_and_names_the_textbook_values(tmp_path):
    k, _, _ = _grad_case("tanh", "softmax", "cross_entropy", "float64")
    a, b = c_export(k, "grad"), c_export(k, "grad")
    assert a.source == b.source and a.header == b.header
    for name in ("z1", "a1", "delta1", "dW1", "db2", "grad_work_size"):
        assert name in a.source
    assert "#include <math.h>" in a.source
    includes = [ln for ln in a.source.splitlines() + a.header.splitlines()
                if ln.startswith("#include <")]
    assert sorted(set(includes)) == ["#include <math.h>", "#include <stddef.h>",
                                     "#include <stdint.h>"]


def test_names_that_are_c_keywords_or_math_functions_are_renamed(tmp_path):
    W = sp.MatrixSymbol("double", 2, 2)
    x = sp.MatrixSymbol("exp", 2, 1)
    k = symnet.compile([W * x], [W, x])
    c_path, h_path = export_c(k, tmp_path / "kw")
    fn = c_export(k, "kw").functions[0]
    assert [c for _, c, _ in fn.inputs] == ["double_", "exp_"]
    vals = [np.arange(4.0).reshape(2, 2), np.array([[1.0], [-2.0]])]
    (got,) = run_driver(tmp_path, c_path, fn, "double", {}, vals)
    assert np.array_equal(got, vals[0] @ vals[1])


def test_a_name_that_is_not_a_c_identifier_is_refused():
    x = sp.Symbol("x")
    with pytest.raises(ValueError, match="C identifier"):
        c_export(symnet.compile([x + 1], [x]), "not-a-name")
    with pytest.raises(TypeError, match="Kernel or an SGD"):
        c_export(lambda v: v, "f")


def _readme_blocks(lang: str) -> list[str]:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = text.split("## Export\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


def test_the_readme_c_program_trains_the_digits_like_compile_sgd(tmp_path, monkeypatch):
    from symnet.cli import main

    (py,), (c_prog,) = _readme_blocks("python"), _readme_blocks("c")
    assert len(c_prog.strip().splitlines()) <= 17
    monkeypatch.chdir(tmp_path)
    exec(compile(py, "README.md", "exec"), {})
    assert main(["export", "c", "-o", "digits"]) == 0
    (tmp_path / "train.c").write_text(c_prog)
    subprocess.run([CC, *STRICT, "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                    "train.c", "digits.c", "-o", "train", "-lm"], check=True,
                   capture_output=True, text=True)
    run = subprocess.run(["./train"], capture_output=True, text=True, check=True)
    c_losses = [float(line.split()[-1]) for line in run.stdout.splitlines()]
    assert len(c_losses) == 15 and c_losses[-1] < 0.5 * c_losses[0]
    X, y = load_digits()
    net = MLP([64, 32, 10], "logistic")
    sgd = compile_sgd(net.risk(lam=1e-4), net.params, net.X, net.labels())
    params = [np.ascontiguousarray(v) for v in init_params(net, 0).values()]
    want = [sgd.epoch(X.T, y, np.arange(len(y)), 1, 0.1, params) for _ in range(3)]
    # The program prints 6 decimals.
    assert np.allclose(c_losses[:3], want, rtol=0, atol=6e-7)


def test_the_export_command_writes_each_format_and_names_bad_requests(tmp_path, capsys):
    from symnet.cli import main

    assert main(["export", "c", "-o", str(tmp_path / "g"), "--kernel", "grad", "--sizes",
                 "4,3,2", "--activation", "relu"]) == 0
    assert "grad of the 4-3-2 network" in capsys.readouterr().out
    header = (tmp_path / "g.h").read_text()
    assert "int g(const double *restrict X, const double *restrict Y" in header
    assert main(["export", "library", "-o", str(tmp_path / "p"), "--kernel", "predict",
                 "--sizes", "4,3,2", "--dtype", "float32"]) == 0
    assert (tmp_path / "p.so").is_file() and "float *restrict" in (tmp_path / "p.h").read_text()
    capsys.readouterr()
    assert main(["export", "onnx", "-o", str(tmp_path / "m"), "--sizes", "4,3,2"]) == 1
    assert "give --params" in capsys.readouterr().err
    assert main(["export", "onnx", "-o", str(tmp_path / "m"), "--kernel", "epoch"]) == 1
    assert "not a training epoch" in capsys.readouterr().err
    assert main(["export", "c", "-o", str(tmp_path / "x"), "--name", "not-c"]) == 1
    assert "C identifier" in capsys.readouterr().err


def test_an_exported_adam_epoch_carries_its_state(tmp_path):
    net = MLP([4, 5, 3], "tanh")
    sgd = compile_sgd(net.risk(lam=1e-3), net.params, net.X, net.labels(), optimizer="adam")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 30))
    y = rng.integers(0, 3, 30)
    start = [np.ascontiguousarray(v) for v in init_params(net, 0).values()]
    want = [p.copy() for p in start]
    losses = [sgd.epoch(X, y, np.arange(30), 1, 0.01, want) for _ in range(2)]
    export_c(sgd, tmp_path / "adam")
    lib = ctypes.CDLL(str(compile_so(tmp_path / "adam.c", tmp_path / "adam.so")))
    lib.adam_work_size.restype = ctypes.c_size_t
    fn = c_export(sgd, "adam").functions[0]
    assert [c for _, c, _ in fn.outputs][-1] == "t_steps"  # m, v per parameter, then t
    got = [p.copy() for p in start]
    states = [np.zeros(tuple(int(d) for d in s.shape)) for s in sgd.states]
    work = np.empty(lib.adam_work_size(ctypes.c_int64(1)))
    Xc, Yc, loss = np.ascontiguousarray(X.T), np.eye(3)[y], np.zeros(1)
    order = np.arange(30, dtype=np.int64)
    c_losses = []
    for _ in range(2):
        assert lib.adam(Xc.ctypes.data_as(ctypes.c_void_p), Yc.ctypes.data_as(ctypes.c_void_p),
                        order.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(30),
                        ctypes.c_int64(1), ctypes.c_double(0.01),
                        *[a.ctypes.data_as(ctypes.c_void_p) for a in got + states],
                        work.ctypes.data_as(ctypes.c_void_p),
                        loss.ctypes.data_as(ctypes.c_void_p)) == 0
        c_losses.append(float(loss[0]))
    for g, w in zip(got, want, strict=True):
        assert _rel(g, w) < 1e-12
    assert np.allclose(c_losses, losses, rtol=1e-12) and states[-1][0, 0] == 60
