"""The compiled kernels training uses, cached per network."""

from __future__ import annotations

import numpy as np

from .. import optim
from ..api import compile as compile_kernel
from ..api import compile_grad
from ..curvature import compile_hvp
from ..lru import LRU
from ..model import MODEL_LOSS
from ..nn import LOSSES, MLP
from ..runtime import Kernel
from ..sgd import SGD, compile_sgd

_CACHE_ATTR = "_symnet_train_kernels"


def _cached(net: MLP, key: tuple, make):
    """The kernel ``make()`` builds for ``key``, kept on ``net`` (MLP is an
    unhashable dataclass): at most 32 per network, least recently used first out."""
    cache = net.__dict__.get(_CACHE_ATTR)
    if cache is None:
        cache = net.__dict__[_CACHE_ATTR] = LRU(32)
    hit = cache.get(key)
    if hit is None:
        hit = make()
        cache[key] = hit
    return hit


def _check_loss(loss: str) -> None:
    if loss not in LOSSES and loss != MODEL_LOSS:
        raise ValueError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)} (or a "
                         "symnet.Model's own)")


def training_kernel(net: MLP, loss: str = "cross_entropy", lam: float = 1e-4,
                    backend: str = "numpy", dtype: str = "float64") -> Kernel:
    """The compiled training step: ``k(X, Y, *params) -> [risk, dR/dparam, ...]``.

    The risk is ``net.risk(loss, lam)``; the batch size m stays symbolic, so
    one kernel serves every batch size (columns of X). Kernels are cached
    on ``net``.

    >>> net = MLP([2, 3, 2], 'tanh', output='softmax')
    >>> k = training_kernel(net)
    >>> [str(s) for s in k.inputs]
    ['X', 'Y', 'W1', 'b1', 'W2', 'b2']
    """
    _check_loss(loss)
    key = ("step", loss, float(lam), backend, str(np.dtype(dtype)))
    return _cached(net, key, lambda: compile_grad(
        net.risk(loss, lam), net.params, [net.X, net.labels(loss), *net.params],
        backend=backend, dtype=dtype, name="train_step"))


def training_sgd(net: MLP, loss: str = "cross_entropy", lam: float = 1e-4,
                 backend: str = "numpy", dtype: str = "float64",
                 batch_size: int | None = None, optimizer=None) -> SGD:
    """The compiled SGD epoch for ``net.risk(loss, lam)`` (cached on ``net``).

    With the LLVM backend a whole epoch, batches gathered in the shuffled
    order and parameters updated in place, is one native call; given
    ``batch_size``, its native code is generated now (otherwise on the
    first epoch).

    >>> sgd = training_sgd(MLP([2, 3, 2], 'tanh'))
    >>> [str(p) for p in sgd.params]
    ['W1', 'b1', 'W2', 'b2']
    """
    _check_loss(loss)
    opt = optim.get(optimizer)
    key = ("sgd", loss, float(lam), backend, str(np.dtype(dtype)), opt.name, str(opt))
    sgd = _cached(net, key, lambda: compile_sgd(
        net.risk(loss, lam), net.params, net.X, net.labels(loss), backend=backend,
        dtype=dtype, track_loss=False, optimizer=opt))
    if batch_size is not None:
        sgd.compile_for(batch_size)
    return sgd


def _eval_kernel(net: MLP, loss: str, backend: str, dtype) -> Kernel:
    key = ("eval", loss, backend, str(np.dtype(dtype)))
    return _cached(net, key, lambda: compile_kernel(
        [net.loss(loss), net.output_expr], [net.X, net.labels(loss), *net.params],
        backend=backend, dtype=dtype, name="evaluate"))


def _predict_kernel(net: MLP, backend: str, dtype) -> Kernel:
    key = ("predict", backend, str(np.dtype(dtype)))
    return _cached(net, key, lambda: compile_kernel(
        [net.output_expr], [net.X, *net.params], backend=backend, dtype=dtype,
        name="predict"))


def training_curvature(net: MLP, loss: str = "cross_entropy", lam: float = 1e-4,
                       kind: str = "hessian", backend: str = "numpy",
                       dtype: str = "float64") -> Kernel:
    """The compiled curvature product of the risk (cached on ``net``):
    ``k(X, Y, *params, *v) -> [H v per parameter]`` for ``kind="hessian"``,
    or the Gauss-Newton product with the output layer's pre-activation as
    the network output for ``kind="gauss-newton"``.

    >>> k = training_curvature(MLP([2, 3, 2], 'tanh'), kind='gauss-newton')
    >>> [str(s) for s in k.inputs][-2:], len(k.outputs)
    (['v_W2', 'v_b2'], 4)
    """
    _check_loss(loss)
    key = ("curvature", kind, loss, float(lam), backend, str(np.dtype(dtype)))
    output = net.layers[-1].z[0] if kind == "gauss-newton" else None
    return _cached(net, key, lambda: compile_hvp(
        net.risk(loss, lam), net.params, [net.X, net.labels(loss), *net.params], kind=kind,
        output=output, value=False, backend=backend, dtype=dtype,
        name=kind.replace("-", "_") + "_product"))
