"""A compiled kernel's identity: derived from the whole request, in one place.

Kernels that differ in any single dimension of any input, in a shape the
program text does not print (the inner dimension of a product), in dtype,
in point-wise pattern or in any emitter option must get different
identities; programs stored as data must come back exactly; the reader of
stored data must refuse anything but SymPy/symnet values."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet import serialize
from symnet.backends.llvm import GEMM_SLOT, ModuleRequest
from symnet.identity import kernel_identity
from symnet.nn import MLP

m = sp.Symbol("m", integer=True, positive=True)


def _request(prog, dtype="float64", shapes=(), **changes) -> ModuleRequest:
    req = ModuleRequest(prog, "symnet_k", dtype, tuple(shapes), tuple(prog.dims),
                        GEMM_SLOT[np.dtype(dtype)], 32768, 0, "host")
    return dataclasses.replace(req, **changes)


def _program(dims: dict[str, tuple]):
    """A kernel over inputs W (a x b), X (b x m), V (c x a) with the given
    concrete sizes: products whose inner dimensions are b and a."""
    W = sp.MatrixSymbol("W", *dims["W"])
    X = sp.MatrixSymbol("X", *dims["X"])
    V = sp.MatrixSymbol("V", *dims["V"])
    return symnet.compile([symnet.logistic(V * (W * X))], [W, X, V]).program


def test_every_single_dimension_of_every_input_changes_the_identity():
    base = {"W": (3, 4), "X": (4, m), "V": (2, 3)}
    digests = {"base": _request(_program(base)).identity().digest}
    # Change one dimension at a time (keeping the products well-formed: a
    # dimension shared by two inputs changes in both, which is still one size).
    for name, axis, shared in [("W", 0, ("V", 1)), ("W", 1, ("X", 0)), ("V", 0, None)]:
        dims = {k: list(v) for k, v in base.items()}
        dims[name][axis] += 1
        if shared is not None:
            dims[shared[0]][shared[1]] += 1
        key = f"{name}[{axis}]"
        digests[key] = _request(_program({k: tuple(v) for k, v in dims.items()})).identity().digest
    assert len(set(digests.values())) == len(digests), digests


def test_the_program_text_alone_would_not_tell_them_apart():
    # The bug this identity fixes: str(program) lists only each step's output
    # shape, so the inner dimension of W*X never showed.
    p5 = symnet.compile([sp.MatrixSymbol("W", 3, 5) * sp.MatrixSymbol("X", 5, m)],
                        [sp.MatrixSymbol("W", 3, 5), sp.MatrixSymbol("X", 5, m)]).program
    p4 = symnet.compile([sp.MatrixSymbol("W", 3, 4) * sp.MatrixSymbol("X", 4, m)],
                        [sp.MatrixSymbol("W", 3, 4), sp.MatrixSymbol("X", 4, m)]).program
    assert [s.shape for s in p5.steps] == [s.shape for s in p4.steps]
    assert _request(p5).identity().digest != _request(p4).identity().digest


def test_every_step_field_enters_the_identity():
    W, X = sp.MatrixSymbol("W", 3, 4), sp.MatrixSymbol("X", 4, m)
    prog = symnet.compile([symnet.logistic(W * X)], [W, X]).program
    base = _request(prog).identity().digest
    step = prog.steps[0]
    variants = {
        "shape": dataclasses.replace(step, shape=(step.shape[0] + 1, step.shape[1])),
        "arg_shapes": dataclasses.replace(step, arg_shapes=((3, 5), (5, m))),
        "views": dataclasses.replace(step, views=(None, (1, m))),
        "attr": dataclasses.replace(step, attr=(True, False)),
        "args": dataclasses.replace(step, args=tuple(reversed(step.args))),
    }
    seen = {base}
    for field, changed in variants.items():
        other = dataclasses.replace(prog, steps=[changed, *prog.steps[1:]])
        digest = _request(other).identity().digest
        assert digest not in seen, field
        seen.add(digest)


def test_every_request_option_enters_the_identity():
    prog = _program({"W": (3, 4), "X": (4, m), "V": (2, 3)})
    base = _request(prog)
    changes = {"name": "symnet_other", "dtype": "float32", "dims": (), "gemm": "other_ptr",
               "blas_threshold": 1, "parts": 1, "target": "another host",
               "shapes": (("W", (1, sp.Symbol("n"))),)}
    fields = {f.name for f in dataclasses.fields(ModuleRequest)} - {"program", "epoch"}
    assert set(changes) == fields  # a new field must be added to this test
    digests = {base.identity().digest}
    for name, value in changes.items():
        digests.add(dataclasses.replace(base, **{name: value}).identity().digest)
    assert len(digests) == len(changes) + 1


def test_identity_is_deterministic_across_processes():
    code = ("import sympy as sp, symnet\n"
            "from symnet.nn import MLP\n"
            "from symnet.identity import kernel_identity\n"
            "net = MLP([5, 4, 3], 'relu')\n"
            "k = symnet.compile_grad(net.risk(), net.params, [net.X, net.labels(), "
            "sp.Symbol('lambda'), *net.params])\n"
            "print(kernel_identity('t', {'p': k.program, 'o': k.outputs}).digest)\n")
    env = dict(os.environ, PYTHONHASHSEED="random")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, check=True).stdout for _ in range(2)}
    assert len(outs) == 1


@pytest.mark.parametrize("act", ["logistic", "relu", "maxout", "prelu", "leaky_relu", "tanh",
                                 "softplus", "hard_tanh", "hard_logistic"])
def test_programs_and_outputs_round_trip_exactly(act):
    net = MLP([4, 5, 3], act)
    lam = sp.Symbol("lambda")
    k = symnet.compile_grad(net.risk(), net.params, [net.X, net.labels(), lam, *net.params])
    text = serialize.dumps([k.program, k.outputs])
    prog, outs = serialize.loads(text)
    assert prog.steps == k.program.steps and prog.inputs == k.program.inputs
    assert prog.dims == k.program.dims and prog.outputs == k.program.outputs
    assert str(prog) == str(k.program)
    assert outs == k.outputs
    assert serialize.dumps([prog, outs]) == text


def test_values_round_trip():
    d = sp.Dummy("d", positive=True)
    f = sp.Function("f")
    values = [sp.Float("0.1", 30), sp.Rational(-7, 3), sp.Integer(2) ** 70, sp.pi, sp.E,
              sp.S.Half, sp.oo, sp.nan, d + 1, f(sp.Symbol("x")) ** 2, sp.true,
              sp.Lambda(sp.Symbol("u"), symnet.relu(sp.Symbol("u"))),
              (1, True, None, "s", 2.5), {"a": [1, 2]}, symnet.OneHot("Y", 3, m)]
    for v in values:
        back = serialize.loads(serialize.dumps(v))
        assert back == v or (v is sp.nan and back is sp.nan), v
        assert type(back) is type(v)


BAD = [
    '{"exprs": [{"cls": "os:system", "args": []}], "value": {"e": 0}}',
    '{"exprs": [{"cls": "builtins:eval", "args": []}], "value": {"e": 0}}',
    '{"exprs": [{"cls": "sympy:Symbol.__init__", "args": []}], "value": {"e": 0}}',
    '{"exprs": [{"cls": "sympy:sympify", "args": []}], "value": {"e": 0}}',
    '{"exprs": [{"cls": "sympy.nonexistent_module:Foo", "args": []}], "value": {"e": 0}}',
    '{"exprs": [{"int": "1"}], "value": {"e": 5}}',
    '{"exprs": [{"cls": "sympy.core.add:Add", "args": [0]}], "value": {"e": 0}}',
    '{"exprs": [], "value": {"pickle": "gASV"}}',
    '{"exprs": [{"int": "1e5"}], "value": {"e": 0}}',
    '{"exprs": [], "value": {"step": {"out": {"s": "a"}}}}',
    'not json',
    '[1, 2]',
    # a user's head is written for identities but never read back as a class
    '{"exprs": [{"cls": "mymodule:softsign", "args": [], "foreign": true}], "value": {"e": 0}}',
]


@pytest.mark.parametrize("text", BAD)
def test_the_reader_refuses_anything_else(text):
    with pytest.raises(serialize.SerializeError):
        serialize.loads(text)


def test_values_that_cannot_be_stored_say_so():
    with pytest.raises(serialize.SerializeError, match="cannot store"):
        serialize.dumps(object())
    with pytest.raises(serialize.SerializeError):
        serialize.dumps(sp.Wild("w"))


def test_kernel_identity_records_versions():
    ident = kernel_identity("x", {"a": 1})
    data = json.loads(ident.text)
    text = json.dumps(data)
    for part in ("sympy", "numpy", "llvmlite", "sources"):
        assert part in text


def test_sources_digest_follows_every_edit_through_the_cache(tmp_path, monkeypatch):
    """The sources' digest is kept in the cache under the files' (path,
    mtime, size) list: a second read gives the same digest, and an edit
    that keeps a file's size, or a new file, gives the digest of the new
    contents, never the stored one."""
    import hashlib

    from symnet.identity import sources_digest

    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "pkg"
    (src / "sub").mkdir(parents=True)
    (src / "a.py").write_text("x = 1\n")
    (src / "sub" / "b.py").write_text("y = 2\n")
    (src / "notes.txt").write_text("not a source")

    def direct() -> str:
        h = hashlib.sha256()
        for path in sorted(str(p) for p in src.rglob("*.py")):
            h.update(os.path.relpath(path, src).encode() + b"\0")
            h.update(open(path, "rb").read() + b"\0")
        return h.hexdigest()

    first = sources_digest(src)
    assert first == direct()
    assert any(p.suffix == ".sources" for p in (tmp_path / "cache").iterdir())
    assert sources_digest(src) == first                      # from the cache
    (src / "a.py").write_text("x = 7\n")                     # same size, new mtime
    os.utime(src / "a.py", ns=(1, 1))
    edited = sources_digest(src)
    assert edited != first and edited == direct()
    (src / "sub" / "c.py").write_text("")
    assert sources_digest(src) not in (first, edited)
    assert sources_digest(src) == direct()
