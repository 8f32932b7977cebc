"""Vanishing gradients (section 4.6.2): why deep logistic networks barely learn in their
first layers, and ReLU networks do.

Two MLPs with 10 hidden layers of 32 units, identical but for the hidden activation, start
from the same N(0, 1/fan_in) weights and see the same random batch. The example prints
‖∂R/∂W⁽ˡ⁾‖ for every layer l. Backpropagation multiplies δ by f′(z) ⊙ W⁽ˡ⁺¹⁾ᵀ at every
layer; σ′ ≤ 1/4, so with logistic units the gradient shrinks by a roughly constant factor
per layer and the first layer's is orders of magnitude smaller than the last one's.
ReLU′ is 1 on active units, and the norms stay of one order of magnitude.

With matplotlib installed, a log-scale plot is written to the PNG path given as the first
argument (default: gradient_norms.png in a new temporary directory).

Run: python examples/vanishing_gradients.py [PNG]
"""

import sys
import tempfile
from pathlib import Path

from symnet.explain import plot_gradient_norms, vanishing_gradient_report

report = vanishing_gradient_report(depth=10, width=32, activations=("logistic", "relu"))
print(report)
print()
for act in report.norms:
    print(f"{act}: first layer / output layer = {report.ratio(act):.1e}")
shrink = report.ratio("relu") / report.ratio("logistic")
print(f"relative to its output layer, the logistic network's first layer gets {shrink:.0e}")
print("times less gradient than the ReLU network's")

path = Path(sys.argv[1]) if len(sys.argv) > 1 else \
    Path(tempfile.mkdtemp(prefix="symnet-")) / "gradient_norms.png"
try:
    written = plot_gradient_norms(report, path)
except ImportError as exc:
    print(f"\nno plot: {exc}")
else:
    print(f"\nplot written to {written}")
