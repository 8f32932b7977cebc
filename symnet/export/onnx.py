"""export_onnx: a network's forward model, or any compiled kernel, as an ONNX model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import __version__
from ..backends import exporter
from ..lower import plan_kernel
from ..nn import MLP
from ..runtime import Kernel
from .c import _pointwise

__all__ = ["export_onnx", "onnx_model"]


def _forward_kernel(net: MLP, dtype) -> Kernel:
    from ..api import compile as compile_kernel

    return compile_kernel([net.output_expr], [net.X, *net.params], dtype=dtype)


def onnx_model(obj: MLP | Kernel, params: Mapping | Sequence | None = None,
               dtype=None, name: str = "symnet"):
    """The ``onnx.ModelProto`` of a network's forward pass (``params``, by symbol
    or in ``net.params`` order, become initializers: ``X`` is the only input) or
    of a kernel (every input is a graph input unless ``params`` gives it).

    Matrices keep the kernels' layout (``X`` is features x samples); the
    batch is a named axis. A scalar formula's inputs and outputs are
    1 x n rows of points. Opset and IR version: see
    :data:`symnet.backends.onnx.OPSET` / ``IR_VERSION`` (18 and 9).

    >>> import numpy as np
    >>> from symnet.nn import MLP
    >>> net = MLP([2, 3, 2], "tanh", output="softmax")
    >>> model = onnx_model(net, [np.ones((3, 2)), np.zeros((3, 1)), np.ones((2, 3)),
    ...                          np.zeros((2, 1))])
    >>> [i.name for i in model.graph.input], model.opset_import[0].version
    (['X'], 18)
    """
    if isinstance(obj, MLP):
        kernel = _forward_kernel(obj, dtype or "float64")
        symbols = list(obj.params)
    elif isinstance(obj, Kernel):
        kernel = obj
        symbols = list(obj.inputs)
    else:
        raise TypeError(f"export_onnx takes an MLP or a compiled Kernel, got {type(obj).__name__}")
    if dtype is not None and np.dtype(dtype) != kernel.dtype:
        raise ValueError(f"the kernel is {kernel.dtype.name}; compile it with dtype={dtype!r}")
    names = {sym: n for (n, _), sym in zip(kernel.program.inputs, kernel.inputs, strict=True)}
    inits = {}
    if params is not None:
        if isinstance(params, Mapping):
            pairs = list(params.items())
        else:
            pairs = list(zip(symbols, params, strict=True))
        for sym, value in pairs:
            if sym not in names:
                raise ValueError(f"{sym} is not an input of the model")
            inits[names[sym]] = np.asarray(value)
    if isinstance(obj, MLP) and set(inits) != {names[p] for p in obj.params}:
        missing = [str(p) for p in obj.params if names[p] not in inits]
        raise ValueError(f"export_onnx(net) needs every parameter's value; missing {missing}")
    doc = f"symnet {__version__}: " + "; ".join(str(e) for e in kernel.outputs)
    # A scalar formula takes 1 x n rows of points (n a named axis).
    shapes, _ = _pointwise(kernel)
    return exporter("onnx").export_model(plan_kernel(kernel.program, shapes or None), name,
                                         kernel.dtype, shapes, initializers=inits, doc=doc)


def export_onnx(obj: MLP | Kernel, path: str | Path, params: Mapping | Sequence | None = None,
                dtype=None) -> Path:
    """Write :func:`onnx_model` to ``path`` (``.onnx`` added when missing), checked by
    ``onnx.checker``; returns the path."""
    import onnx

    path = Path(path)
    if path.suffix != ".onnx":
        path = path.with_suffix(path.suffix + ".onnx")
    model = onnx_model(obj, params, dtype, name=path.stem)
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
