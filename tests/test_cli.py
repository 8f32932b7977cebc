"""The `symnet` command line: train, grad, show, and one-line errors on bad input."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symnet.cli import main
from symnet.nn import MLP
from symnet.train import load_params


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, match):
    assert code != 0
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("symnet: error: ")
    assert re.search(match, lines[0]), lines[0]


def test_train_digits_algorithm_41(capsys):
    code, out, err = run(capsys, "train", "--epochs", "2", "--hidden", "16", "--no-progress")
    assert code == 0, err
    assert "Algorithm 4.1" in out and "1437 training / 360 validation" in out
    assert re.search(r"^\s+2\s+\d+\.\d{4}\s+\d+\.\d{4}\s+0\.\d{4}\s+\d+\.\d\d$", out, re.M)
    m = re.search(r"validation accuracy: (\d+\.\d+)% \((\d+)/360\)", out)
    assert m and float(m.group(1)) >= 90.0
    assert err == ""


@pytest.fixture
def blobs_csv(tmp_path):
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 3.0], [3.0, 0.0], [-3.0, -3.0]])
    y = rng.integers(0, 3, 60)
    X = centers[y] + 0.5 * rng.normal(size=(60, 2))
    path = tmp_path / "blobs.csv"
    rows = "\n".join(f"{a:.6f},{b:.6f},{c}" for (a, b), c in zip(X, y, strict=True))
    path.write_text("x1,x2,label\n" + rows + "\n")
    return path


def test_train_on_csv_with_save(capsys, tmp_path, blobs_csv):
    save = tmp_path / "out.npz"
    code, out, err = run(capsys, "train", "--data", str(blobs_csv), "--hidden", "5",
                         "--activation", "relu", "--batch-size", "4", "--epochs", "5",
                         "--alpha", "0.3", "--no-progress", "--save", str(save))
    assert code == 0, err
    assert "2-5-3 network" in out and "minibatch SGD" in out
    m = re.search(r"validation accuracy: (\d+\.\d+)% \(\d+/12\)", out)
    assert m and float(m.group(1)) >= 75.0
    params = load_params(save, MLP([2, 5, 3], "relu", output="softmax"))
    assert params["W1"].shape == (5, 2)
    code, out, err = run(capsys, "train", "--data", str(blobs_csv), "--sizes", "2,4,3",
                         "--epochs", "1", "--no-progress")
    assert code == 0 and "2-4-3 network" in out


def test_train_plot_needs_matplotlib_or_writes_png(capsys, tmp_path, blobs_csv, monkeypatch):
    png = tmp_path / "curves.png"
    args = ["train", "--data", str(blobs_csv), "--epochs", "2", "--no-progress", "--plot",
            str(png)]
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert_one_line_error(*run(capsys, *args), r"pip install symnet\[plot\]")
    assert not png.exists()
    monkeypatch.undo()
    if importlib.util.find_spec("matplotlib") is not None:
        code, out, err = run(capsys, *args)
        assert code == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_grad_text_and_latex(capsys):
    code, out, _ = run(capsys, "grad")
    assert code == 0
    assert "delta2 = 1/m*(a2 - Y)" in out and "a2 = softmax(z2)" in out
    assert "dL/dW1 = lambda*W1 + delta1*X.T" in out
    code, out, _ = run(capsys, "grad", "--latex")
    assert code == 0 and r"\delta_{1}" in out and r"\operatorname{softmax}" in out
    assert out.startswith(r"\begin{aligned}")
    code, out, _ = run(capsys, "grad", "--pretty", "--sizes", "64,32,10", "--lam", "0")
    assert code == 0 and "δ₂" in out and "λ" not in out


def test_grad_prints_second_order_products(capsys):
    code, out, _ = run(capsys, "grad", "--product", "hvp", "--activation", "tanh")
    assert code == 0
    assert "R{z1} = v_W1*X + v_b1*1" in out
    assert "R{dL/dW2} = lambda*v_W2 + delta2*R{a1}.T + R{delta2}*a1.T" in out
    code, out, _ = run(capsys, "grad", "--product", "gnvp", "--latex")
    assert code == 0 and r"\left(G v\right)_{W_{1}}" in out
    assert r"\tilde{\mathcal{R}}\left\{\delta_{1}\right\}" in out


def test_grad_symbolic_and_other_heads(capsys):
    code, out, _ = run(capsys, "grad", "--sizes", "5,4,3,2", "--activation", "relu,tanh",
                       "--symbolic")
    assert code == 0 and "delta3" in out and "Heaviside" in out
    code, out, _ = run(capsys, "grad", "--output", "logistic", "--sizes", "4,3,2")
    assert code == 0 and "a1 = logistic(z1)" in out and "delta2 = " in out
    assert "softmax" not in out


@pytest.mark.parametrize("stage, expect", [
    ("graph", r"delta1 +ew +32 x m[\s\S]*<- output"),
    ("program", r"^program\(X, Y, W1, b1, W2, b2\):"),
    ("numpy", r"^def train_step\(X, Y, W1, b1, W2, b2, .*\):[\s\S]*@"),
])
def test_show_stages(capsys, stage, expect):
    code, out, err = run(capsys, "show", stage, "--sizes", "64,32,10")
    assert code == 0, err
    assert re.search(expect, out, re.M), out


def test_help_and_version(capsys):
    assert main(["--help"]) == 0
    assert "train" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert "symnet" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["train", "--activation", "bogus"], "unknown activation 'bogus'"),
    (["grad", "--activation", "bogus"], "unknown activation 'bogus'"),
    (["train", "--sizes", "64,abc,10"], "size 'abc' is not a positive integer"),
    (["train", "--sizes", "64,,10"], "size '' is not"),
    (["train", "--sizes", "64"], "at least 2"),
    (["train", "--sizes", "64,0,10"], "at least 1"),
    (["train", "--sizes", "64,32,3"], "does not fit the data"),
    (["grad", "--sizes", "4,3-1,2"], "size '3-1'"),
    (["train", "--epochs", "-1"], "must be positive"),
    (["train", "--output", "tanh"], "invalid choice: 'tanh'"),
    (["train", "--loss", "hinge"], "invalid choice: 'hinge'"),
    (["show", "llvm_ir"], "invalid choice: 'llvm_ir'"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
    (["grad", "--activation", "relu,tanh"], "1 hidden layers but 2 activations"),
    (["train", "--data", "/nonexistent/x.csv"], "No such file"),
])
def test_error_paths(capsys, argv, match):
    assert_one_line_error(*run(capsys, *argv), match)


@pytest.mark.parametrize("text, match", [
    ("1,2,0\n3,nan,1\n", "NaN"),
    ("1,2,0\n3,4,dog\n", "target 'dog' is not a finite number"),
    ("1,2,0\n3,4\n", "2 columns, expected 3"),
    ("", "empty"),
    ("1,2,0\n3,4,0\n", "at least two classes"),
])
def test_bad_data_files(capsys, tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert_one_line_error(*run(capsys, "train", "--data", str(path), "--no-progress"), match)


def test_console_script_subprocess():
    script = Path(sys.executable).with_name("symnet")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "symnet.cli"]
    done = subprocess.run([*cmd, "grad"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "delta1" in done.stdout and "softmax" in done.stdout
    done = subprocess.run([sys.executable, "-m", "symnet.cli", "grad", "--sizes", "x,,1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("symnet: error:")
