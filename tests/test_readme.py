"""Every Python block of README.md runs as written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_its_examples():
    assert len(BLOCKS) >= 5


def test_every_python_block_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # blocks may write files (the export's digits.bin)
    ns: dict = {}
    for k, block in enumerate(BLOCKS):
        try:
            exec(compile(block, f"README.md block {k + 1}", "exec"), ns)
        except Exception as exc:  # noqa: BLE001 - name the block that failed
            pytest.fail(f"README.md Python block {k + 1} raised {type(exc).__name__}: {exc}")
    out = capsys.readouterr().out
    assert "delta1" in out and "gradient check OK" in out and "FitResult(" in out
    assert (tmp_path / "digits.bin").stat().st_size == (1797 * 74 + 2410) * 8


def test_the_notebook_runs_and_shows_the_backpropagation_equations(tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat (dev)")
    nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (dev)")
    pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (dev)")
    path = README.parent / "examples" / "notebook.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    latex = [o["data"]["text/latex"] for c in nb.cells if c.cell_type == "code"
             for o in c.outputs if "data" in o and "text/latex" in o["data"]]
    assert latex and r"\delta_{1}" in "".join(latex) and r"\delta_{2}" in "".join(latex)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "best validation error" in text
    images = [o for c in nb.cells for o in c.get("outputs", [])
              if "data" in o and "image/png" in o["data"]]
    assert images and (tmp_path / "curves.png").is_file()
