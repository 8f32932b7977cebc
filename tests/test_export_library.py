"""export_library: LLVM object code in a shared library with the exported header's C ABI,
called with llvmlite out of reach, against the NumPy backend."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from cexport import CC, STRICT, call_ctypes

import symnet
from symnet.data import load_digits
from symnet.export import c_export, export_library
from symnet.nn import MLP
from symnet.sgd import compile_sgd
from symnet.train import init_params

pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (cc/gcc) on PATH")

CTYPE = {"float64": "double", "float32": "float"}
TOL = {"float64": 1e-12, "float32": 1e-5}


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _grad_kernel(act: str, dtype: str):
    net = MLP([4, 6, 3], act, output="softmax")
    R = net.risk(lam=1e-3)
    k = symnet.compile_grad(R, net.params, [net.X, net.labels(), *net.params], dtype=dtype)
    rng = np.random.default_rng(4)
    m = 37
    values = [rng.standard_normal((4, m)), np.eye(3)[:, rng.integers(0, 3, m)]]
    values += [0.5 * rng.standard_normal(tuple(int(d) for d in p.shape)) for p in net.params]
    return k, values, {"m": m}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act", ["tanh", "relu", "softplus", "logistic"])
def test_the_library_gives_the_numpy_backends_numbers(tmp_path, act, dtype):
    k, values, dims = _grad_kernel(act, dtype)
    so = export_library(k, tmp_path / "grad")
    fn = c_export(k, "grad").functions[0]
    got = call_ctypes(so, fn, CTYPE[dtype], dims, values)
    for g, w in zip(got, k(*values), strict=True):
        assert _rel(g, w) < TOL[dtype]


LOADER = r"""
import ctypes, json, sys
sys.modules["llvmlite"] = None  # any import of llvmlite now fails
try:
    import llvmlite  # noqa: F401
except ImportError:
    blocked = True
else:
    blocked = False
import numpy as np
args = json.loads(sys.argv[1])
lib = ctypes.CDLL(args["so"])
lib.grad_work_size.restype = ctypes.c_size_t
m = ctypes.c_int64(args["m"])
work = np.empty(lib.grad_work_size(m))
ins = [np.ascontiguousarray(np.array(v, dtype=np.float64)) for v in args["inputs"]]
outs = [np.empty(s) for s in args["out_shapes"]]
status = lib.grad(*[a.ctypes.data_as(ctypes.c_void_p) for a in ins + outs],
                  work.ctypes.data_as(ctypes.c_void_p), m)
print(json.dumps({"blocked": blocked, "status": status,
                  "llvmlite_loaded": any(k.startswith("llvmlite.") for k in sys.modules),
                  "outs": [o.tolist() for o in outs]}))
"""


def test_the_library_loads_where_llvmlite_cannot_be_imported(tmp_path):
    k, values, dims = _grad_kernel("tanh", "float64")
    so = export_library(k, tmp_path / "grad")
    fn = c_export(k, "grad").functions[0]
    shapes = [[int(sp.sympify(e).subs({d: dims[str(d)] for d, _ in fn.dims})) for e in sh]
              for _, _, sh in fn.outputs]
    args = {"so": str(so), "m": dims["m"], "inputs": [np.asarray(v).tolist() for v in values],
            "out_shapes": shapes}
    run = subprocess.run([sys.executable, "-I", "-c", LOADER, json.dumps(args)],
                         capture_output=True, text=True, check=True)
    res = json.loads(run.stdout)
    assert res["blocked"] and not res["llvmlite_loaded"] and res["status"] == 0
    for g, w in zip(res["outs"], k(*values), strict=True):
        assert _rel(g, w) < 1e-12


def test_the_library_epoch_reproduces_compile_sgd_on_the_digits(tmp_path):
    import ctypes

    X, y = load_digits()
    X, y = X[:400], y[:400]
    net = MLP([64, 12, 10], "tanh")
    lam = sp.Symbol("lambda")
    sgd = compile_sgd(net.risk(lam=lam), net.params, net.X, net.labels(), [lam])
    start = [np.ascontiguousarray(v) for v in init_params(net, 1).values()]
    orders = [np.random.default_rng(e).permutation(len(y)) for e in range(3)]
    want = [p.copy() for p in start]
    want_losses = [sgd.epoch(X.T, y, o, 1, 0.05, want, extra=[1e-4]) for o in orders]
    so = export_library(sgd, tmp_path / "epoch")
    lib = ctypes.CDLL(str(so))
    lib.epoch_work_size.restype = ctypes.c_size_t
    work = np.empty(lib.epoch_work_size(ctypes.c_int64(1)))
    got = [p.copy() for p in start]
    Xc, Yc = np.ascontiguousarray(X), np.eye(10)[y]
    lam_v, loss = np.array([1e-4]), np.zeros(1)
    losses = []
    for o in orders:
        o = o.astype(np.int64)
        status = lib.epoch(Xc.ctypes.data_as(ctypes.c_void_p), Yc.ctypes.data_as(ctypes.c_void_p),
                           o.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(len(y)),
                           ctypes.c_int64(1), ctypes.c_double(0.05),
                           lam_v.ctypes.data_as(ctypes.c_void_p),
                           *[p.ctypes.data_as(ctypes.c_void_p) for p in got],
                           work.ctypes.data_as(ctypes.c_void_p),
                           loss.ctypes.data_as(ctypes.c_void_p))
        assert status == 0
        losses.append(float(loss[0]))
    for g, w in zip(got, want, strict=True):
        assert _rel(g, w) < 1e-9
    assert np.allclose(losses, want_losses, rtol=1e-9)
    assert losses[-1] < losses[0]


def test_a_c_program_links_against_the_library(tmp_path):
    x = sp.Symbol("x")
    k = symnet.compile([sp.erf(x) * sp.exp(-x), sp.log(1 + x ** 2)], [x])
    assert export_library(k, tmp_path / "f").name == "f.so"
    (tmp_path / "main.c").write_text(r"""
#include <stdio.h>
#include "f.h"
int main(void)
{
    double x[3] = {-1.5, 0.25, 2.0}, a[3], b[3], work[64];
    if (f_work_size(3) > 64) return 5;
    int status = f(x, a, b, work, 3);
    for (int k = 0; k < 3; ++k) printf("%.17g %.17g\n", a[k], b[k]);
    return status;
}
""")
    exe = tmp_path / "main"
    subprocess.run([CC, *STRICT, str(tmp_path / "main.c"), "-o", str(exe), f"-L{tmp_path}",
                    f"-Wl,-rpath,{tmp_path}", "-l:f.so", "-lm"], check=True,
                   capture_output=True, text=True, cwd=tmp_path)
    run = subprocess.run([str(exe)], capture_output=True, text=True, check=True)
    got = np.array([[float(v) for v in line.split()] for line in run.stdout.splitlines()])
    a, b = k(np.array([-1.5, 0.25, 2.0]))
    assert np.allclose(got[:, 0], a, rtol=1e-12) and np.allclose(got[:, 1], b, rtol=1e-12)


def test_a_foreign_target_gets_an_object_and_its_abi_source(tmp_path):
    k, _, _ = _grad_kernel("tanh", "float64")
    o = export_library(k, tmp_path / "grad", triple="aarch64-unknown-linux-gnu",
                       cpu="cortex-a72")
    data = o.read_bytes()
    assert data[:4] == b"\x7fELF" and int.from_bytes(data[18:20], "little") == 183  # EM_AARCH64
    abi = (tmp_path / "grad_abi.c").read_text()
    assert "extern void grad_native(double **bufs, int64_t *dims);" in abi
    with pytest.raises(ValueError, match="unknown target triple"):
        export_library(k, tmp_path / "bad", triple="nonsense-cpu-none")
