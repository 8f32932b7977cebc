"""Forward, reverse and second-order pass counts for f: R^n -> R^m (section 4.5.3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModesSummary:
    """Passes over the graph that forward and reverse mode need for the whole
    Jacobian of f: R^n -> R^m (section 4.5.3).

    Forward mode propagates tangents from one input at a time: n sweeps, each
    a column of the Jacobian. Reverse mode runs one forward pass to store the
    values and then propagates adjoints from one output at a time: m backward
    sweeps, each a row.

    Second order (per output): a Hessian-vector product by forward-over-reverse
    is one forward pass, one backward sweep and one tangent sweep through
    both (:func:`symnet.hvp`), whatever n is; the full n x n Hessian is n of
    them, one column each.
    """

    n_inputs: int
    n_outputs: int

    @property
    def forward_sweeps(self) -> int:
        """Forward-mode sweeps: one per input (n)."""
        return self.n_inputs

    @property
    def reverse_sweeps(self) -> int:
        """Reverse-mode backward sweeps: one per output (m), after one forward pass."""
        return self.n_outputs

    @property
    def hvp_sweeps(self) -> int:
        """Sweeps for one Hessian-vector product of one output: forward + backward + tangent."""
        return 3

    @property
    def hessian_hvps(self) -> int:
        """Hessian-vector products for the whole Hessian of every output: n per output."""
        return self.n_inputs * self.n_outputs

    @property
    def cheaper(self) -> str:
        """``"reverse"``, ``"forward"`` or ``"either"``, by the number of sweeps."""
        if self.n_outputs < self.n_inputs:
            return "reverse"
        if self.n_inputs < self.n_outputs:
            return "forward"
        return "either"

    def __str__(self) -> str:
        n, m = self.n_inputs, self.n_outputs
        s = "" if n == 1 else "s"
        t = "" if m == 1 else "s"
        text = (f"f: R^{n} -> R^{m}\n"
                f"  forward mode: {n} forward sweep{s} (one per input, each gives a column "
                f"of the Jacobian)\n"
                f"  reverse mode: 1 forward pass + {m} backward sweep{t} (one per output, "
                f"each gives a row of the Jacobian)\n")
        if self.cheaper == "either":
            text += "  both modes need the same number of sweeps\n"
        else:
            text += (f"  {self.cheaper} mode is cheaper; a loss (m = 1) of many parameters "
                     "is why backpropagation is reverse mode\n")
        per = "" if m == 1 else " per output"
        u = "" if n == 1 else "s"
        return text + (f"  forward-over-reverse: one Hessian-vector product{per} = 1 forward pass "
                       f"+ 1 backward sweep + 1 tangent sweep; the full {n} x {n} Hessian{per} "
                       f"= {n} product{u} (one column each)")


def modes_summary(n_inputs: int, n_outputs: int = 1) -> ModesSummary:
    """How many sweeps forward and reverse mode need for f: R^n -> R^m.

    >>> s = modes_summary(3, 1)
    >>> s.forward_sweeps, s.reverse_sweeps, s.cheaper
    (3, 1, 'reverse')
    >>> modes_summary(1, 10).cheaper
    'forward'
    >>> s.hvp_sweeps, s.hessian_hvps
    (3, 3)
    """
    for name, v in (("n_inputs", n_inputs), ("n_outputs", n_outputs)):
        if not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return ModesSummary(int(n_inputs), int(n_outputs))
