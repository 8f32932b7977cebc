"""Saving and loading parameters with the model's formula hash."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import sympy as sp

from ..nn import MLP
from .params import Params, _param_list

_HASH_KEY = "__symnet_model_hash__"
_FORMULA_KEY = "__symnet_model__"
_SPEC_KEY = "__symnet_mlp__"


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
    text = f"{_formula(net)}\n{shapes}"
    if not isinstance(net, MLP):  # a symnet.Model: its own loss is part of what it is
        text += "\n" + sp.srepr(net.loss())
    return hashlib.sha256(text.encode()).hexdigest()


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
    extra = {_HASH_KEY: np.array(model_hash(net)), _FORMULA_KEY: np.array(_describe(net))}
    spec = _spec(net)
    if spec is not None:
        extra[_SPEC_KEY] = np.array(json.dumps(spec, sort_keys=True))
    np.savez(path, **{str(p): a for p, a in zip(net.params, arrays, strict=True)}, **extra)
    return path


def _spec(net: MLP) -> dict | None:
    """The MLP's architecture as JSON data, when every activation is a registry name."""
    if not isinstance(net, MLP):
        return None
    if not all(isinstance(a, str) for a in net.acts) or not all(
            sp.sympify(n).is_Integer for n in net.sizes):
        return None
    return {"sizes": [int(n) for n in net.sizes], "activations": list(net.acts),
            "output": net.output, "pieces": int(net.pieces)}


def load_model(path: str | Path) -> tuple[MLP, Params]:
    """The network and parameters of a file :func:`save_params` wrote for an MLP
    whose activations are registry names (the architecture is stored with them).

    >>> import tempfile, os
    >>> from symnet.train import init_params
    >>> net = MLP([3, 4, 2], 'tanh')
    >>> f = save_params(os.path.join(tempfile.mkdtemp(), 'net.npz'), net, init_params(net))
    >>> again, params = load_model(f)
    >>> [int(n) for n in again.sizes], again.acts, sorted(params)
    ([3, 4, 2], ['tanh'], ['W1', 'W2', 'b1', 'b2'])
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = str(z[_SPEC_KEY]) if _SPEC_KEY in z.files else None
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a symnet parameter file ({exc})") from None
    if raw is None:
        raise ValueError(f"{path} does not record its network's architecture (saved by an "
                         "older symnet, or with a custom activation): build the MLP and use "
                         "load_params")
    spec = json.loads(raw)
    acts = spec["activations"]
    net = MLP(spec["sizes"], acts[0] if len(set(acts)) == 1 else acts, output=spec["output"],
              pieces=spec["pieces"])
    return net, load_params(path, net)


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
