"""Every script in examples/ runs (as ``python examples/NAME.py``) and prints what it promises."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TIMEOUT = 120  # seconds per script; each takes a few seconds
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _number(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"no match for {pattern!r} in:\n{text}"
    return float(m.group(1))


def check_computational_graph(out: str, tmp: Path) -> None:
    assert re.search(r"^h1\s+w\*x\s+0\s", out, re.M)
    assert re.search(r"^h3\s+logistic\(h2\)\s+0\.5\s", out, re.M)
    assert re.search(r"reverse mode, 1 backward sweep:\s+∂f/∂x = 0, ∂f/∂w = 0\.25, "
                     r"∂f/∂b = 0\.25$", out, re.M)
    assert re.search(r"forward mode, 3 sweeps:\s+∂f/∂x = 0, ∂f/∂w = 0\.25, ∂f/∂b = 0\.25$",
                     out, re.M)
    assert "at the point: ∂f/∂w = 1/4, ∂f/∂b = 1/4" in out
    assert "f: R^2410 -> R^1" in out
    # The finite-difference table: central beats one-sided at Δx = 1e-3.
    m = re.search(r"^1e-03\s+\S+\s+(\S+)\s+\S+\s+(\S+)$", out, re.M)
    assert m and float(m.group(2)) < float(m.group(1)) / 100


def check_xor(out: str, tmp: Path) -> None:
    assert "4/4 correct: XOR solved" in out
    rows = re.findall(r"^\s+([01])\s+([01]) \|.*\|\s+(\S+)\s+([01])\s+([01])\s+ok$", out, re.M)
    assert len(rows) == 4
    for x1, x2, y_hat, cls, target in rows:
        assert int(cls) == int(target) == (int(x1) ^ int(x2))
        assert (float(y_hat) > 0.5) == bool(int(target))


def check_digits(out: str, tmp: Path) -> None:
    assert _number(r"validation accuracy (\d+\.\d)%", out) >= 95.0
    assert "delta1 = HadamardProduct(a1, W2.T*delta2, -a1 + 1)" in out
    assert "confusion matrix" in out


def check_custom_activation(out: str, tmp: Path) -> None:
    assert "Mish'(x) = x*(1 - tanh(softplus(x))**2)*logistic(x) + tanh(softplus(x))" in out
    assert "(agrees with sympy.diff)" in out
    assert re.search(r"^\s+0\.0\s+0\.0000\s+0\.6000$", out, re.M)   # Mish'(0) = tanh(log 2)
    assert "delta1 = " in out and "dL/dW1 = " in out
    assert _number(r"Mish network: validation accuracy (\d+\.\d)%", out) >= 90.0


def check_vanishing_gradients(out: str, tmp: Path) -> None:
    logistic = _number(r"logistic: first layer / output layer = (\S+)", out)
    relu = _number(r"relu: first layer / output layer = (\S+)", out)
    assert logistic < 1e-3 and relu > 0.1
    assert f"plot written to {tmp / 'norms.png'}" in out
    assert (tmp / "norms.png").read_bytes()[:8] == PNG_SIGNATURE


def check_exercises(out: str, tmp: Path) -> None:
    # 4-1: with weights-only penalty the error does not depend on the shift c.
    rows = re.findall(r"^\s+(\S+) \| (weights only|weights \+ biases)\s+\S+\s+(\S+)\s+(\S+)$",
                      out, re.M)
    assert len(rows) == 6
    err = {(float(c), name): float(e) for c, name, _, e in rows}
    bias = {(float(c), name): float(b) for c, name, b, _ in rows}
    assert err[0.0, "weights only"] == err[20.0, "weights only"]
    assert err[20.0, "weights + biases"] > 10 * err[20.0, "weights only"]
    assert abs(bias[20.0, "weights only"] - 20) < 0.1 < abs(bias[20.0, "weights + biases"] - 20)
    # 4-2: zero initialization keeps the hidden units identical and learns little.
    rows = re.findall(r"^\s+(logistic|tanh)\s+(zero|random)\s+\|\s+(\S+)\s+(\d+)\s+(\S+)%$",
                      out, re.M)
    assert len(rows) == 4
    for act, init, spread, distinct, acc in rows:
        if init == "zero":
            assert float(spread) == 0 and int(distinct) == 1 and float(acc) < 50, act
        else:
            assert float(spread) > 0.1 and int(distinct) == 16 and float(acc) >= 90, act


def check_second_order(out: str, tmp: Path) -> None:
    assert "d^2f/dw db = t1*x" in out and "t1 = t0*(1 - 2*t0)*(1 - t0)" in out
    assert "x = 1, w = 0, b = 0: [[0, 0], [0, 0]]" in out
    assert "(σ = 3/4): [[-3/32, -3/32], [-3/32, -3/32]]" in out
    assert "R{delta1} = " in out and "R{dL/dW2} = lambda*v_W2 + delta2*R{a1}.T" in out
    assert "the full 2410 x 2410 Hessian = 2410 products" in out
    assert _number(r"newton-cg: validation accuracy (\d+\.\d)%", out) >= 97.0
    rows = re.findall(r"^\s+(\d+)\s+(\S+) / (\S+)", out, re.M)
    assert len(rows) >= 10 and float(rows[-1][1]) < float(rows[0][1])
    hess = _number(r"largest hessian eigenvalues of the trained network \(2410 parameters\): "
                   r"(\S+),", out)
    gn = _number(r"largest gauss-newton eigenvalues of the trained network \(2410 "
                 r"parameters\): (\S+),", out)
    assert 0 < gn and 0 < hess and abs(hess - gn) < 0.5 * hess   # near a minimum G ~ H


def check_custom_models(out: str, tmp: Path) -> None:
    for backend in ("numpy", "llvm"):
        first = _number(rf"autoencoder \({backend}\): .* \(first epoch (\d+\.\d+)\)", out)
        last = _number(rf"autoencoder \({backend}\): validation reconstruction mse "
                       r"(\d+\.\d+)", out)
        assert last < first
        assert _number(rf"residual MLP \({backend}\): validation accuracy (\d+\.\d)%",
                       out) >= 95.0
        b = _number(rf"Huber regression \({backend}\): .* b = (-?\d+\.\d+)", out)
        assert abs(b - 0.5) < 0.2
    # The two backends print the same numbers.
    lines = {be: [ln.replace(f"({be})", "") for ln in out.splitlines() if f"({be})" in ln]
             for be in ("numpy", "llvm")}
    assert lines["numpy"] == lines["llvm"] and len(lines["numpy"]) == 3
    assert abs(_number(r"least squares for comparison: .* b = (-?\d+\.\d+)", out) - 0.5) > 1


CHECKS = {
    "computational_graph": check_computational_graph,
    "xor": check_xor,
    "digits": check_digits,
    "custom_activation": check_custom_activation,
    "vanishing_gradients": check_vanishing_gradients,
    "exercises_4_1_4_2": check_exercises,
    "second_order": check_second_order,
    "custom_models": check_custom_models,
}
ARGS = {"vanishing_gradients": lambda tmp: [str(tmp / "norms.png")]}


def test_every_example_is_checked():
    assert {p.stem for p in EXAMPLES.glob("*.py")} == set(CHECKS)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start all examples at once (they are independent) and collect their results."""
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
    procs = {}
    for name in CHECKS:
        tmp = tmp_path_factory.mktemp(name)
        argv = [sys.executable, str(EXAMPLES / f"{name}.py"), *ARGS.get(name, lambda t: [])(tmp)]
        procs[name] = (tmp, subprocess.Popen(argv, cwd=ROOT, env=env, text=True,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = {}
    for name, (tmp, proc) in procs.items():
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += f"\n[timed out after {TIMEOUT} s]"
        results[name] = (proc.returncode, out, err, tmp)
    return results


@pytest.mark.parametrize("name", list(CHECKS))
def test_example(runs, name):
    code, out, err, tmp = runs[name]
    assert code == 0, f"examples/{name}.py exited with {code}:\n{err}"
    assert "Traceback" not in err, err
    CHECKS[name](out, tmp)


@pytest.mark.parametrize("name", list(CHECKS))
def test_example_has_docstring(name):
    import ast

    tree = ast.parse((EXAMPLES / f"{name}.py").read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc and f"python examples/{name}.py" in doc
