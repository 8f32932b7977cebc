"""Optimizer steps alone: the update rules as a kernel of parameters and given gradients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import sympy as sp

from . import optim
from .api import build_kernel
from .formulas import name_nodes
from .graph import VARS, Graph
from .ops import is_matrix
from .passes import LOWERING_PASSES, run_passes
from .programs import cached_program, check_dtype
from .runtime import Kernel
from .schedule import Program, schedule
from .sgd import ALPHA, _rule_nodes

__all__ = ["Update", "compile_update"]


class Update:
    """One optimizer step for gradients computed elsewhere (data-parallel training
    sums them over workers): theta and the optimizer's state <- the rules of
    :mod:`symnet.optim`, compiled from the same rule nodes as the fused SGD epoch.

    The state (zeros until the first step) lives in this object, next to the
    parameters that :meth:`apply` updates in place; ``state`` / ``set_state``
    read and restore it (checkpoints).
    """

    def __init__(self, params: Sequence[sp.MatrixSymbol], optimizer, backend: str, dtype,
                 program: Program | None = None, kernel: Kernel | None = None):
        self.params = list(params)
        self.optimizer = opt = optim.get(optimizer)
        self.dtype = check_dtype(dtype)
        self.grads = [sp.MatrixSymbol(f"g_{p}", *p.shape) for p in self.params]
        self.states = opt.state_symbols(self.params)
        self.inputs = [ALPHA, *self.params, *self.grads, *self.states]
        news = [sp.MatrixSymbol(f"{s}_new", *s.shape) for s in self.params + self.states]

        def derive_program():
            g = Graph()
            leaves = [g.leaf(s) for s in self.inputs]
            n = len(self.params)
            step = None
            if opt.counts_steps:
                step = g.ew(VARS[0] + 1, [g.leaf(self.states[-1])], (1, 1))
            new, new_states = _rule_nodes(g, opt, leaves[1:1 + n], leaves[1 + n:1 + 2 * n],
                                          leaves[0], self.states, step)
            if step is not None:
                new_states.append(step)
            g.outputs = new + new_states
            g = run_passes(g, LOWERING_PASSES)
            name_nodes(g, g.outputs, [str(s) for s in news])
            return schedule(g, self.inputs), news

        # A program shipped as data (symnet.distributed) is used as it is.
        if program is None:
            program, news = cached_program(
                ("update", tuple(self.params),
                 sp.Tuple(*[sp.Tuple(t, e) for t, e in opt.rules])), derive_program)
        self.program = program
        self.kernel = kernel if kernel is not None else build_kernel(
            program, self.inputs, news, backend, self.dtype, "update")
        self._state: list[np.ndarray] = []
        self.reset_state()

    def reset_state(self) -> None:
        """Zero the optimizer's state (momentum, moments, step count)."""
        self._state = [np.zeros(tuple(int(d) for d in s.shape), dtype=self.dtype)
                       for s in self.states]

    @property
    def state(self) -> dict[str, np.ndarray]:
        """The state buffers by name (``v_W1``, ``m_b2``, ``t_steps``)."""
        return {str(s): v for s, v in zip(self.states, self._state, strict=True)}

    def set_state(self, values: Mapping[str, np.ndarray]) -> None:
        """Restore the state saved from :attr:`state` (every buffer, by name)."""
        missing = [str(s) for s in self.states if str(s) not in values]
        if missing:
            raise ValueError(f"optimizer state lacks {', '.join(missing)}")
        for k, s in enumerate(self.states):
            v = np.asarray(values[str(s)], dtype=self.dtype)
            if v.shape != self._state[k].shape:
                raise ValueError(f"optimizer state {s} has shape {v.shape}, expected "
                                 f"{self._state[k].shape}")
            self._state[k] = v.copy()

    def apply(self, alpha: float, params: Sequence[np.ndarray],
              grads: Sequence[np.ndarray]) -> None:
        """One step: ``params`` (arrays of this dtype) and the state updated in place.

        >>> from symnet.nn import MLP
        >>> net = MLP([2, 3, 2], 'tanh')
        >>> up = compile_update(net.params, 'momentum')
        >>> ps = [np.ones((3, 2)), np.zeros((3, 1)), np.ones((2, 3)), np.zeros((2, 1))]
        >>> up.apply(0.5, ps, [np.ones_like(p) for p in ps])
        >>> float(ps[0][0, 0]), float(up.state['v_W1'][0, 0])
        (0.5, -0.5)
        """
        for p, arr in zip(self.params, params, strict=True):
            if not isinstance(arr, np.ndarray) or arr.dtype != self.dtype:
                raise TypeError(f"parameter {p}: updated in place, so it must be a "
                                f"{self.dtype} array")
        new = self.kernel(alpha, *params, *grads, *self._state)
        for dst, value in zip([*params, *self._state], new, strict=True):
            dst[...] = value


def compile_update(params: Sequence[sp.MatrixSymbol], optimizer=None, backend: str = "numpy",
                   dtype="float64") -> Update:
    """The optimizer's step (:mod:`symnet.optim`, default plain SGD) over ``params``
    as one kernel taking the learning rate, the parameters, their gradients and
    the state: what a data-parallel step applies after summing the gradients.

    >>> from symnet.nn import MLP
    >>> up = compile_update(MLP([2, 3, 2], 'tanh').params, 'adam')
    >>> sorted(up.state)[:3]
    ['m_W1', 'm_W2', 'm_b1']
    """
    for p in params:
        if not is_matrix(p) or not isinstance(p, sp.MatrixSymbol):
            raise TypeError(f"updated parameters are MatrixSymbols, got {p!r}")
    return Update(params, optimizer, backend, dtype)
