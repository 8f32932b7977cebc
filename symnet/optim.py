"""Optimizers as formulas: update rules over a parameter, its gradient and its state.

An optimizer is a list of assignments, run in order for every parameter
theta with gradient g after each batch: a name on the left is a per-parameter
state (zeros before the first step) or theta itself; a name on the right means
its latest value (``theta <- theta + v`` reads the ``v`` just assigned).
``alpha`` is the learning rate (an argument of every epoch, so schedules
work) and ``t`` the step count (1 at the first step) shared by all
parameters. Hyperparameters are numbers in the rules. :func:`symnet.sgd.compile_sgd`
turns the rules into elementwise steps of the same program as the gradient:
the state buffers are updated in place inside the native epoch, like the
parameters.

>>> print(momentum(0.9))
v <- -alpha*g + 0.9*v
theta <- theta + v
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = ["ALPHA", "G", "OPTIMIZERS", "STEP", "STEP_COUNTER", "THETA", "Optimizer", "adagrad",
           "adam", "adamw", "get", "momentum", "nesterov", "rmsprop", "sgd"]

THETA, G, STEP = sp.Symbol("theta"), sp.Symbol("g"), sp.Symbol("t")
ALPHA = sp.Symbol("alpha")
#: The name of the step-count state buffer (1 x 1), shared by all parameters.
STEP_COUNTER = f"{STEP}_steps"


@dataclass(frozen=True)
class Optimizer:
    """Named update rules (see the module docstring); ``state`` lists the
    per-parameter state names in the order they are kept."""

    name: str
    rules: tuple[tuple[sp.Symbol, sp.Expr], ...]

    def __post_init__(self) -> None:
        known = {THETA, G, ALPHA, STEP}
        targets = [t for t, _ in self.rules]
        if THETA not in targets:
            raise ValueError(f"optimizer {self.name}: no rule assigns theta")
        for target, expr in self.rules:
            if not isinstance(target, sp.Symbol) or target in (G, ALPHA, STEP):
                raise ValueError(f"optimizer {self.name}: cannot assign {target}")
            unknown = sorted(str(s) for s in sp.sympify(expr).free_symbols
                             if s not in known and s not in targets)
            if unknown:
                raise ValueError(f"optimizer {self.name}: the rule for {target} uses "
                                 f"{', '.join(unknown)}, which is neither a state nor theta, "
                                 "g, alpha or t")

    @property
    def state(self) -> tuple[sp.Symbol, ...]:
        """Per-parameter state symbols, in order of their first assignment."""
        out: list[sp.Symbol] = []
        for target, _ in self.rules:
            if target != THETA and target not in out:
                out.append(target)
        return tuple(out)

    @property
    def counts_steps(self) -> bool:
        """Whether a rule reads the step count ``t``."""
        return any(STEP in sp.sympify(e).free_symbols for _, e in self.rules)

    def state_symbols(self, params) -> list[sp.MatrixSymbol]:
        """The state buffers for ``params``: per parameter, each state in
        :attr:`state` order (``v_W1``), then the step counter ``t_steps`` (1 x 1)
        when a rule reads ``t``.

        >>> [str(s) for s in adam().state_symbols([sp.MatrixSymbol("W", 2, 3)])]
        ['m_W', 'v_W', 't_steps']
        """
        out = [sp.MatrixSymbol(f"{st}_{p}", *p.shape) for p in params for st in self.state]
        if self.counts_steps:
            out.append(sp.MatrixSymbol(STEP_COUNTER, 1, 1))
        return out

    def __str__(self) -> str:
        return "\n".join(f"{t} <- {e}" for t, e in self.rules)

    def latex(self) -> str:
        r"""The rules as LaTeX (Jupyter shows it), like the gradients' equations.

        >>> print(sgd().latex())
        $\begin{aligned}
        \theta &\leftarrow - \alpha g + \theta
        \end{aligned}$
        """
        rows = [f"{sp.latex(t)} &\\leftarrow {sp.latex(e)}" for t, e in self.rules]
        return "$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$"

    def _repr_latex_(self) -> str:
        return self.latex()

    def new_values(self) -> dict[sp.Symbol, sp.Expr]:
        """theta's and each state's value after one step, in the old values.

        >>> sorted((str(k), str(v)) for k, v in momentum(0.5).new_values().items())
        [('theta', '-alpha*g + theta + 0.5*v'), ('v', '-alpha*g + 0.5*v')]
        """
        env: dict[sp.Symbol, sp.Expr] = {}
        for target, expr in self.rules:
            env[target] = sp.sympify(expr).xreplace(env)
        return env


def sgd() -> Optimizer:
    """theta <- theta - alpha g (Algorithm 4.1)."""
    return Optimizer("sgd", ((THETA, THETA - ALPHA * G),))


def momentum(mu: float = 0.9) -> Optimizer:
    """Heavy ball: v <- mu v - alpha g; theta <- theta + v (torch.optim.SGD with
    momentum, its buffer being -v / alpha at a constant rate)."""
    v = sp.Symbol("v")
    return Optimizer("momentum", ((v, sp.Float(mu) * v - ALPHA * G), (THETA, THETA + v)))


def nesterov(mu: float = 0.9) -> Optimizer:
    """Nesterov momentum: v <- mu v - alpha g; theta <- theta + mu v - alpha g."""
    v = sp.Symbol("v")
    return Optimizer("nesterov", ((v, sp.Float(mu) * v - ALPHA * G),
                                  (THETA, THETA + sp.Float(mu) * v - ALPHA * G)))


def adagrad(eps: float = 1e-10) -> Optimizer:
    """s <- s + g^2; theta <- theta - alpha g / (sqrt(s) + eps)."""
    s = sp.Symbol("s")
    return Optimizer("adagrad", ((s, s + G ** 2),
                                 (THETA, THETA - ALPHA * G / (sp.sqrt(s) + sp.Float(eps)))))


def rmsprop(rho: float = 0.99, eps: float = 1e-8) -> Optimizer:
    """s <- rho s + (1 - rho) g^2; theta <- theta - alpha g / (sqrt(s) + eps)."""
    s = sp.Symbol("s")
    return Optimizer("rmsprop", ((s, sp.Float(rho) * s + sp.Float(1 - rho) * G ** 2),
                                 (THETA, THETA - ALPHA * G / (sp.sqrt(s) + sp.Float(eps)))))


def _adam_rules(beta1: float, beta2: float, eps: float, decay: float):
    m, v = sp.Symbol("m"), sp.Symbol("v")
    b1, b2 = sp.Float(beta1), sp.Float(beta2)
    m_hat = m / (1 - b1 ** STEP)
    v_hat = v / (1 - b2 ** STEP)
    shrink = THETA * (1 - ALPHA * sp.Float(decay)) if decay else THETA
    return ((m, b1 * m + (1 - b1) * G), (v, b2 * v + (1 - b2) * G ** 2),
            (THETA, shrink - ALPHA * m_hat / (sp.sqrt(v_hat) + sp.Float(eps))))


def adam(beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
    theta <- theta - alpha m^ / (sqrt(v^) + eps) with m^ = m / (1 - b1^t),
    v^ = v / (1 - b2^t)."""
    return Optimizer("adam", _adam_rules(beta1, beta2, eps, 0.0))


def adamw(beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.01) -> Optimizer:
    """Adam with decoupled weight decay:
    theta <- theta (1 - alpha wd) - alpha m^ / (sqrt(v^) + eps)."""
    return Optimizer("adamw", _adam_rules(beta1, beta2, eps, weight_decay))


OPTIMIZERS = {"sgd": sgd, "momentum": momentum, "nesterov": nesterov, "adagrad": adagrad,
              "rmsprop": rmsprop, "adam": adam, "adamw": adamw}


def get(opt: str | Optimizer | None) -> Optimizer:
    """An optimizer by name (default settings), or the one given (None: sgd).

    >>> get("adam").state
    (m, v)
    """
    if opt is None:
        return sgd()
    if isinstance(opt, Optimizer):
        return opt
    if opt not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {opt!r}; choose from {', '.join(OPTIMIZERS)} or "
                         "pass a symnet.optim.Optimizer")
    return OPTIMIZERS[opt]()
