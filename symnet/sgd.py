"""SGD kernels: one compiled step with in-place updates, run over a whole epoch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy as sp

from . import aligned, backends, optim, targets
from .api import lower
from .formulas import name_nodes
from .graph import VARS
from .lower import EpochData, EpochSpec
from .ops import is_matrix
from .passes import LOWERING_PASSES, run_passes
from .programs import cached_program, check_dtype, check_inputs
from .runtime import bind_arguments
from .schedule import schedule

__all__ = ["ALPHA", "SGD", "Data", "compile_sgd"]

#: The learning rate symbol of an SGD step.
ALPHA = sp.Symbol("alpha")


class SGD:
    """Stochastic gradient descent on ``risk`` over ``params``.

    :meth:`epoch` runs every (mini)batch of one epoch, updating the
    parameter arrays in place: theta <- theta - alpha * dR/dtheta after
    each batch. With the LLVM backend the whole epoch (gathering batches in
    the given order included) is one native call; with NumPy it is one
    generated Python function (``source``) looping over the batches with the
    step's statements inlined and the parameters updated in place (the step
    alone is ``step`` / ``step_source``). Both do the same arithmetic.
    """

    def __init__(self, risk, params, X, Y, inputs, backend, dtype, track_loss, optimizer=None):
        self.track_loss = track_loss
        self.risk = risk
        self.params = list(params)
        self.X, self.Y = X, Y
        self.extra = list(inputs)
        self.backend = backend
        self.dtype = check_dtype(dtype)
        #: The update rules (:mod:`symnet.optim`); ``str(sgd.optimizer)`` prints them.
        self.optimizer = optim.get(optimizer)
        opt = self.optimizer
        #: Per parameter, its state buffers (zeros before the first step), then
        #: the step counter when a rule reads ``t``: inputs the epoch updates in place.
        self.states = opt.state_symbols(self.params)
        self.inputs = [X, Y, ALPHA, *self.extra, *self.params, *self.states]
        self._names = [str(s) for s in self.inputs]
        self._state_values: list[np.ndarray] | None = None

        def derive_program():
            g, loss, grads = lower(risk, self.params)
            # Only the loss: a named gradient would stay a node of its own
            # instead of fusing into its parameter's update.
            name_nodes(g, [loss], ["loss"])
            alpha = g.leaf(ALPHA)
            step = None
            if opt.counts_steps:
                step = g.ew(VARS[0] + 1, [g.leaf(self.states[-1])], (1, 1))
            new, new_states = _rule_nodes(g, opt, [g.find_leaf(p) for p in self.params],
                                          grads, alpha, self.states, step)
            if step is not None:
                new_states.append(step)
            # Untracked, the loss (and its penalty sums) is dead code per step.
            g.outputs = ([loss] if track_loss else []) + new + new_states
            g = run_passes(g, LOWERING_PASSES)
            check_inputs(g, self.inputs)
            updates = g.outputs[1:] if track_loss else g.outputs
            name_nodes(g, updates, [f"{p}_new" for p in self.params + self.states])
            return schedule(g, self.inputs), []

        # Derived once per machine, like compile_grad's programs.
        self.program = cached_program(
            ("sgd", risk, tuple(self.params), tuple(self.inputs), sp.true if track_loss
             else sp.false, sp.Tuple(*[sp.Tuple(t, e) for t, e in opt.rules])),
            derive_program)[0]
        if X.shape[1] != Y.shape[1] or not isinstance(X.shape[1], sp.Symbol):
            raise ValueError(f"X and Y must share a symbolic batch dimension, got {X.shape} "
                             f"and {Y.shape}")
        self.batch = X.shape[1]
        names = [n for n, _ in self.program.inputs]
        news = self.program.outputs[1:] if track_loss else self.program.outputs
        updated = names[len(names) - len(self.params) - len(self.states):]
        self.spec = EpochSpec(names[0], names[1], self.batch,
                              self.program.outputs[0] if track_loss else None,
                              tuple(zip(updated, news, strict=True)))
        be = backends.get(backend)
        #: The whole-epoch code: one native call (LLVM) or one generated
        #: Python function (NumPy, its text in ``source``).
        self.runner = be.build_epoch(self.program, "sgd_epoch", self.dtype, self.spec)
        #: The step alone and its source, built on first use.
        self._step: tuple | None = None
        self._backend = be

    @property
    def native(self):
        """The LLVM epoch function (None for the NumPy backend)."""
        return self.runner if self.backend == "llvm" else None

    @property
    def source(self) -> str:
        """The generated epoch: Python source, or LLVM IR."""
        return getattr(self.runner, "source", None) or self.runner.llvm_ir

    @property
    def run_epoch(self):
        """The generated epoch function of the NumPy backend."""
        return self.runner.run

    @property
    def step(self):
        """The compiled step alone (what every batch of the epoch runs)."""
        if self._step is None:
            self._step = self._backend.build(self.program, "sgd_step", self.dtype)
        return self._step[0]

    @property
    def step_source(self) -> str:
        self.step  # noqa: B018 - builds it
        src = self._step[1]
        return src() if callable(src) else src

    def compile_for(self, batch_size: int) -> None:
        """Generate the native epoch for ``batch_size`` now rather than on the
        first epoch that uses it (nothing to do for the NumPy backend).

        >>> from symnet.nn import MLP
        >>> net = MLP([2, 3, 2], 'tanh')
        >>> compile_sgd(net.risk(lam=0.0), net.params, net.X, net.labels()).compile_for(4)
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.runner.compile_for(int(batch_size))

    def prepare(self, X: np.ndarray, Y) -> Data:
        """Check a data set once and lay it out for :meth:`epoch` (reuse it
        across epochs: the per-epoch cost is then just the native call).

        ``X`` is (n_in, n_samples), ``Y`` (n_out, n_samples) or integer labels.
        """
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D (features x samples) array, got shape {X.shape}")
        if X.dtype == object or X.dtype.kind not in "biuf":
            raise TypeError(f"X must hold numbers, got dtype {X.dtype}")
        Xa = np.ascontiguousarray(X, dtype=self.dtype)
        targets.check_finite("X", Xa)
        rows = int(self.Y.shape[0]) if sp.sympify(self.Y.shape[0]).is_Integer else None
        # Every target is checked here, once per data set (the epochs then
        # run without looking at them again).
        Ya = targets.labels_to_targets("Y", targets.kind_of(self.Y), Y, rows, self.dtype)
        if Ya.shape[1] != Xa.shape[1]:
            raise ValueError(f"X has {Xa.shape[1]} samples but Y has {Ya.shape[1]}")
        # Shapes against the declared symbols, on the first sample.
        bind_arguments(self.inputs[:2], (Xa[:, :1], Ya[:, :1]), {}, self.dtype)
        return EpochData(Xa, Ya, aligned.rows_of(Xa), aligned.rows_of(Ya))

    def epoch(self, X, Y, order: Sequence[int], batch_size: int, alpha: float,
              params: list[np.ndarray], extra: Sequence = ()) -> float:
        """One epoch in ``order`` (sample indices) by batches; returns the mean loss.

        ``X`` is (n_in, n_samples) and ``Y`` (n_out, n_samples) or integer
        labels -- or ``X`` is the :class:`Data` of :meth:`prepare` and ``Y``
        is None; ``params`` are C-contiguous arrays of this kernel's dtype,
        updated in place.
        """
        data = X if isinstance(X, EpochData) else self.prepare(X, Y)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        for p, arr in zip(self.params, params, strict=True):
            if (not isinstance(arr, np.ndarray) or arr.dtype != self.dtype
                    or not arr.flags.c_contiguous or not arr.flags.writeable):
                raise TypeError(f"parameter {p}: updated in place, so it must be a writeable, "
                                f"C-contiguous {self.dtype} array")
        order = np.ascontiguousarray(order, dtype=np.int64)
        Xa, Ya = data.X, data.Y
        if self._state_values is None:
            self.reset_state(params)
        scalars = (alpha, *extra)
        arrays = dims = None
        # An epoch after the first over the same data set, with arguments of
        # the same kinds and shapes, binds them as the first did (binding
        # depends on nothing else): its dims are kept with the data set.
        key = (tuple((type(v), np.shape(v)) for v in scalars),
               tuple(a.shape for a in params), tuple(a.shape for a in self._state_values))
        known = data.bindings.get(self)
        if known is not None and known[0] == key:
            try:
                arrays = [Xa[:, :1], Ya[:, :1],
                          *(_scalar(n, v, self.dtype) for n, v in zip(self._names[2:], scalars,
                                                                       strict=False)),
                          *params, *self._state_values]
                dims = known[1]
            except TypeError:
                arrays = None  # not a real number: bind_arguments says so below
        if arrays is None:
            # The scalars and parameters, checked with a one-sample batch.
            arrays, dims, _ = bind_arguments(
                self.inputs, (Xa[:, :1], Ya[:, :1], *scalars, *params, *self._state_values),
                {}, self.dtype, self._names)
            # bind_arguments may copy a 1 x 1 state into a new array: keep the one the
            # epoch updates.
            n_state = len(self._state_values)
            if n_state:
                self._state_values = list(arrays[len(arrays) - n_state:])
            if self._scalar_inputs(len(scalars)):
                data.bindings[self] = (
                    (tuple((type(v), np.shape(v)) for v in scalars),
                     tuple(a.shape for a in params),
                     tuple(a.shape for a in self._state_values)), dims)
        if order.size and (order.min() < 0 or order.max() >= Xa.shape[1]):
            raise ValueError(f"order must index samples 0..{Xa.shape[1] - 1}")
        return self.runner.epoch(data, arrays, order, batch_size, dims)

    def _scalar_inputs(self, count: int) -> bool:
        """Whether the learning rate and the extra inputs are all scalar symbols
        (then a known binding needs no shape rules for them)."""
        return not any(is_matrix(s) for s in self.inputs[2:2 + count])


    def reset_state(self, params: Sequence[np.ndarray] | None = None) -> None:
        """Zero the optimizer's state (momentum, moments, step count) before the next
        epoch; ``fit`` does so at the start of every run."""
        shapes = [np.shape(a) for a in params] if params is not None else [
            tuple(int(d) for d in p.shape) for p in self.params]
        per = len(self.optimizer.state)
        vals = [np.zeros(shapes[k // per] if per else (), dtype=self.dtype)
                for k in range(per * len(self.params))]
        if self.optimizer.counts_steps:
            vals.append(np.zeros((1, 1), dtype=self.dtype))
        self._state_values = [np.ascontiguousarray(v) for v in vals]

    @property
    def state(self) -> dict[str, np.ndarray]:
        """The optimizer's state buffers by name (after the last epoch)."""
        if self._state_values is None:
            return {}
        return {str(s): v for s, v in zip(self.states, self._state_values, strict=True)}


def _scalar(name: str, value, dtype) -> np.ndarray:
    """A scalar input as bind_arguments makes it (a 0-d array of ``dtype``);
    TypeError for anything else."""
    arr = np.asarray(value)
    if arr.ndim or arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"argument {name}: expected a real number")
    return arr.astype(dtype, copy=False)


def _rule_nodes(g, opt: optim.Optimizer, thetas: Sequence[int], grads: Sequence[int],
                alpha: int, states: Sequence[sp.MatrixSymbol], step: int | None
                ) -> tuple[list[int], list[int]]:
    """The optimizer's rules as elementwise nodes of ``g``: every parameter's new
    value and its new states (``states``: per parameter, in ``opt.state`` order)."""
    new, new_states = [], []
    k = 0
    for pid, d in zip(thetas, grads, strict=True):
        env = {optim.THETA: pid, optim.G: d, optim.ALPHA: alpha}
        if step is not None:
            env[optim.STEP] = step
        for st in opt.state:
            env[st] = g.leaf(states[k])
            k += 1
        for target, expr in opt.rules:
            expr = _hoist(sp.sympify(expr), env, g)
            syms = sorted(expr.free_symbols, key=str)
            body = expr.xreplace({sym: VARS[j] for j, sym in enumerate(syms)})
            env[target] = g.ew(body, [env[sym] for sym in syms], g.shape(pid))
        new.append(env[optim.THETA])
        new_states += [env[st] for st in opt.state]
    return new, new_states


#: A data set checked and laid out for :meth:`SGD.epoch` (kept under its old name).
Data = EpochData


#: Rule symbols whose values are 1 x 1 (the same for every entry of a parameter).
_SCALARS = (optim.ALPHA, optim.STEP)


def _hoist(expr: sp.Expr, env: dict, g) -> sp.Expr:
    """``expr`` with its subexpressions of the learning rate and step count alone
    (Adam's 1 - beta^t) replaced by 1 x 1 nodes: computed once per step, not once
    per entry of every parameter."""

    def walk(e: sp.Expr) -> sp.Expr:
        if e.is_Atom:
            return e
        free = e.free_symbols
        if free and free <= set(_SCALARS) and all(s in env for s in free):
            syms = sorted(free, key=str)
            body = e.xreplace({s: VARS[j] for j, s in enumerate(syms)})
            node = g.ew(body, [env[s] for s in syms], (1, 1))
            name = sp.Symbol(f"_scalar{node}")
            env[name] = node
            return name
        return e.func(*[walk(a) for a in e.args])

    return walk(expr)


def compile_sgd(risk: sp.Basic, params: Sequence[sp.MatrixSymbol], X: sp.MatrixSymbol,
                Y: sp.MatrixSymbol, inputs: Sequence[sp.Basic] = (), backend: str = "numpy",
                dtype="float64", track_loss: bool = True, optimizer=None) -> SGD:
    """Compile an SGD step of ``risk`` (batch size symbolic) for whole epochs.

    ``X`` and ``Y`` are the batch inputs (samples are columns); ``inputs``
    lists any other symbols the risk uses (such as lambda), passed to
    :meth:`SGD.epoch` as ``extra``. With ``track_loss=False`` the steps
    skip the risk's value (``epoch`` returns nan) and only update.
    ``optimizer`` (a name of :data:`symnet.optim.OPTIMIZERS` or an
    :class:`~symnet.optim.Optimizer`; default plain SGD) gives the update
    rules, compiled into the same step; its state lives in the SGD object
    (``state``, ``reset_state``) and is updated in place by every epoch.

    >>> from symnet.nn import MLP
    >>> net = MLP([2, 3, 2], 'tanh')
    >>> sgd = compile_sgd(net.risk(lam=0.0), net.params, net.X, net.labels())
    >>> rng = np.random.default_rng(0)
    >>> ps = [rng.standard_normal(tuple(int(d) for d in p.shape)) for p in net.params]
    >>> X = rng.standard_normal((2, 8)); y = (X[0] > 0).astype(int)
    >>> first = sgd.epoch(X, y, np.arange(8), 1, 0.1, ps)
    >>> later = [sgd.epoch(X, y, np.arange(8), 1, 0.1, ps) for _ in range(20)][-1]
    >>> later < first
    True
    """
    for p in params:
        if not is_matrix(p):
            raise TypeError(f"SGD parameters are MatrixSymbols, got {p!r}")
    return SGD(risk, params, X, Y, inputs, backend, dtype, track_loss, optimizer)
