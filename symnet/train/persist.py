"""Saving and loading parameters with the model's formula hash."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import sympy as sp

from ..nn import MLP
from .params import Params, _param_list

_HASH_KEY = "__symnet_model_hash__"
_FORMULA_KEY = "__symnet_model__"


def _formula(net: MLP) -> str:
    # Dummy symbols (inside Elementwise lambdas) carry a process-global counter:
    # renumber them in order of appearance so the text is reproducible.
    text = sp.srepr(net.output_expr)
    seen: dict[str, int] = {}

    def renumber(m: re.Match) -> str:
        return f"dummy_index={seen.setdefault(m.group(1), len(seen))}"

    return re.sub(r"dummy_index=(\d+)", renumber, text)


def model_hash(net: MLP) -> str:
    """sha256 of the model's output formula (``srepr``) and its parameter names and shapes.

    >>> model_hash(MLP([4, 3, 2])) == model_hash(MLP([4, 3, 2]))
    True
    >>> model_hash(MLP([4, 3, 2])) == model_hash(MLP([4, 5, 2]))
    False
    """
    shapes = ";".join(f"{p}:{p.shape[0]}x{p.shape[1]}" for p in net.params)
    return hashlib.sha256(f"{_formula(net)}\n{shapes}".encode()).hexdigest()


def save_params(path: str | Path, net: MLP, params: Mapping[str, np.ndarray]) -> Path:
    """Write ``params`` to an .npz file with the model's hash; returns the path written.

    >>> import tempfile, os
    >>> from symnet.train import init_params
    >>> net = MLP([2, 2], output='softmax')
    >>> p = init_params(net)
    >>> f = save_params(os.path.join(tempfile.mkdtemp(), 'net.npz'), net, p)
    >>> bool(np.array_equal(load_params(f, net)['W1'], p['W1']))
    True
    """
    arrays = _param_list(net, params, None)
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    np.savez(path, **{str(p): a for p, a in zip(net.params, arrays, strict=True)},
             **{_HASH_KEY: np.array(model_hash(net)), _FORMULA_KEY: np.array(_describe(net))})
    return path


def _describe(net: MLP) -> str:
    shapes = ", ".join(f"{p} {p.shape[0]}x{p.shape[1]}" for p in net.params)
    return f"{net.output_expr} [{shapes}]"


def load_params(path: str | Path, net: MLP) -> Params:
    """Read parameters written by :func:`save_params` for this model.

    Raises ValueError if the file was saved for a different model (another
    formula, or other parameter names or shapes).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a symnet parameter file ({exc})") from None
    if _HASH_KEY not in data:
        raise ValueError(f"{path}: not a symnet parameter file (no model hash)")
    if str(data[_HASH_KEY]) != model_hash(net):
        saved = str(data.get(_FORMULA_KEY, "an unknown model"))
        raise ValueError(f"{path} holds parameters of a different model: saved for {saved}, "
                         f"but this model is {_describe(net)}")
    return dict(zip([str(p) for p in net.params],
                    _param_list(net, data, None), strict=True))
