"""Data sets: the bundled digits, the reference split, and users' CSV / NPZ files."""

from __future__ import annotations

import csv
import io
import math
import zipfile
from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["DataError", "infer_task", "load_array_file", "load_digits", "read_table",
           "reference_split"]

#: Samples in the bundled digits set and in its reference training part.
DIGITS_SAMPLES = 1797
DIGITS_TRAIN = 1437


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled UCI digits: X (1797, 64) in [0, 1] (images / 16), y (1797,) digits 0..9.

    Rows are samples. Source: UCI "Optical Recognition of Handwritten Digits"
    test set as distributed with scikit-learn (CC BY 4.0).

    >>> X, y = load_digits()
    >>> X.shape, X.dtype, y.shape, int(y.max()), float(X.max())
    ((1797, 64), dtype('float64'), (1797,), 9, 1.0)
    """
    from importlib import resources  # on first use: it costs milliseconds of import

    ref = resources.files("symnet").joinpath("data", "digits.npz")
    with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as z:
        images, labels = z["images"], z["labels"]
    return images.astype(np.float64) / 16.0, labels.astype(np.int64)


def reference_split(X: np.ndarray, y: np.ndarray, *, train_fraction: float = 0.8,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle with ``numpy.random.default_rng(seed).permutation(n)`` and split.

    The first ``floor(train_fraction * n)`` samples of the permutation train,
    the rest validate; on the digits this is the reference split (1437 / 360).
    Returns ``(X_train, y_train, X_val, y_val)`` (rows are samples).

    >>> X, y = load_digits()
    >>> X_tr, y_tr, X_va, y_va = reference_split(X, y)
    >>> X_tr.shape, X_va.shape
    ((1437, 64), (360, 64))
    """
    X, y = np.asarray(X), np.asarray(y)
    n = X.shape[0]
    if y.shape[0] != n:
        raise DataError(f"X has {n} samples but y has {y.shape[0]} labels")
    if not 0.0 < train_fraction < 1.0:
        raise DataError(f"train_fraction must lie strictly between 0 and 1, got {train_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    k = int(math.floor(train_fraction * n))
    if k == 0 or k == n:
        raise DataError(f"{n} samples are too few to split into training and validation parts")
    tr, va = perm[:k], perm[k:]
    return X[tr], y[tr], X[va], y[va]


def load_array_file(path: str | Path, task: str | None = "classification"
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Read features X (n, d) float64 and targets y (n,) from a CSV/TSV or NPZ file.

    Text: one sample per line, the last column is the target and all other
    columns are features; the delimiter (comma, tab, semicolon or spaces)
    is sniffed, and a header line is optional (detected when its cells are
    not all numbers). NPZ: arrays ``X`` (n, d) and ``y`` (n,).
    ``task="classification"``: labels must be integers >= 0 (class indices,
    returned as int64); ``"regression"``: any finite numbers (float64);
    ``None``: whichever :func:`infer_task` says. Problems raise
    :class:`DataError` with a one-line message.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> p = os.path.join(d, "tiny.csv")
    >>> _ = open(p, "w").write("x1,x2,label\\n0.5,1,0\\n2,3,1\\n")
    >>> X, y = load_array_file(p)
    >>> X.tolist(), y.tolist()
    ([[0.5, 1.0], [2.0, 3.0]], [0, 1])
    >>> _ = open(p, "w").write("x1\\tprice\\n0.5\\t1.25\\n2\\t3.5\\n")
    >>> load_array_file(p, task=None)[1].tolist()
    [1.25, 3.5]
    """
    if task not in (None, "classification", "regression"):
        raise ValueError(f"task must be 'classification', 'regression' or None, got {task!r}")
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(4)
    if path.suffix.lower() == ".npz" or head.startswith(b"PK\x03\x04"):
        X, y = _read_npz(path)
    else:
        X, y = _read_csv(path)
    task = task or infer_task(y)
    if task == "classification":
        return X, _check_labels(y, path)
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise DataError(f"{path}: targets must be numbers, got dtype {y.dtype}")
    y = y.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise DataError(f"{path}: target {y[bad[0]].item()!r} of sample {bad[0]} is not finite")
    return X, y


def infer_task(y) -> str:
    """``"classification"`` when every target is a whole number >= 0 with few
    distinct values (at most 10, or at most half the samples, and never more
    than 1000), else ``"regression"``.

    >>> infer_task([0, 2, 1, 1]), infer_task([0.5, 1.25, 3.0])
    ('classification', 'regression')
    """
    y = np.asarray(y)
    if y.dtype.kind == "b":
        return "classification"
    if y.dtype.kind not in "iuf" or y.size == 0:
        return "classification"
    yf = y.astype(np.float64)
    whole = bool(np.all(np.isfinite(yf)) and np.all(yf == np.round(yf)) and yf.min() >= 0)
    distinct = np.unique(yf).size
    if whole and distinct <= min(max(10, y.size // 2), 1000):
        return "classification"
    return "regression"


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = sorted(z.files)
            if "X" not in keys or "y" not in keys:
                found = ", ".join(keys) or "no arrays"
                raise DataError(f"{path}: an NPZ file needs arrays 'X' and 'y'; found {found}")
            X, y = z["X"], z["y"]
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a valid .npz file ({exc})") from None
    except ValueError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: cannot read the arrays ({exc})") from None
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: X must hold numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise DataError(f"{path}: X must be 2-D (samples x features), got shape {X.shape}")
    if y.ndim != 1:
        raise DataError(f"{path}: y must be 1-D (one label per sample), got shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise DataError(f"{path}: X has {X.shape[0]} samples but y has {y.shape[0]} labels")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{path}: no data (X has shape {X.shape})")
    X = X.astype(np.float64)
    bad = np.argwhere(~np.isfinite(X))
    if bad.size:
        i, j = bad[0]
        raise DataError(f"{path}: X[{i}, {j}] is {X[i, j]}; NaN and infinite values are not "
                        "allowed")
    return X, y


def _check_labels(y: np.ndarray, path: Path) -> np.ndarray:
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.dtype.kind not in "iuf":
        raise DataError(f"{path}: labels must be integers, got dtype {y.dtype}")
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if bad.size:
            raise DataError(f"{path}: label {y[bad[0]].item()!r} of sample {bad[0]} is not an "
                            "integer")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        i = int(np.argmin(y))
        raise DataError(f"{path}: label {y[i]} of sample {i} is negative; labels are class "
                        "indices 0, 1, ...")
    return y


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _delimiter(text: str) -> str:
    """The column delimiter of a text table: comma, tab, semicolon or spaces."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t; ").delimiter
    except csv.Error:
        return ","


def read_table(path: str | Path) -> np.ndarray:
    """Every column of a CSV/TSV file as a float64 (n, columns) matrix (delimiter
    sniffed, optional header line skipped, every cell a finite number).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.tsv")
    >>> _ = open(p, "w").write("a\\tb\\n1\\t2\\n3\\t4\\n")
    >>> read_table(p).tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text (CSV) file") from None
    delim = _delimiter(text)
    reader = csv.reader(io.StringIO(text), delimiter=delim, skipinitialspace=delim == " ")
    rows = [(n, [c.strip() for c in row if delim != " " or c.strip()])
            for n, row in enumerate(reader, start=1)
            if any(c.strip() for c in row)]
    if not rows:
        raise DataError(f"{path}: the file is empty")
    if any(_number(c) is None for c in rows[0][1]):
        rows = rows[1:]  # a header line
        if not rows:
            raise DataError(f"{path}: the file has a header line but no data")
    width = len(rows[0][1])
    out = np.empty((len(rows), width))
    for k, (line, cells) in enumerate(rows):
        if len(cells) != width:
            raise DataError(f"{path}: line {line} has {len(cells)} columns, expected {width}")
        for j, cell in enumerate(cells):
            v = _number(cell)
            last = j == width - 1 and width > 1
            if v is None or (last and not math.isfinite(v)):
                what = (f"target {cell!r} is not a finite number (the last column holds the "
                        "label or target)") if last else f"column {j + 1}: {cell!r} is not a number"
                raise DataError(f"{path}: line {line}{':' if last else ','} {what}")
            if not math.isfinite(v):
                raise DataError(f"{path}: line {line}, column {j + 1}: {cell!r}; NaN and "
                                "infinite values are not allowed")
            out[k, j] = v
    return out


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = read_table(path)
    if table.shape[1] < 2:
        raise DataError(f"{path}: line 1 has {table.shape[1]} column; need at least one "
                        "feature column and a label column")
    return np.ascontiguousarray(table[:, :-1]), table[:, -1].copy()
