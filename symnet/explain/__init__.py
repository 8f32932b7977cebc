"""Inspection tools of chapter 4: computational graphs, gradient checks, vanishing gradients.

Modules: :mod:`.modes` (forward vs reverse mode), :mod:`.graph` (the
computational graph of a formula), :mod:`.compare` (numerical vs symbolic
gradients), :mod:`.vanishing` (gradient norms per layer), :mod:`.tables`.
"""

from .compare import DEFAULT_STEPS, DifferenceRow, GradientComparison, compare_gradients
from .graph import ComputationalGraph, Node, computational_graph
from .modes import ModesSummary, modes_summary
from .vanishing import (
    GradientNormReport,
    layer_gradient_norms,
    plot_gradient_norms,
    vanishing_gradient_report,
)

__all__ = [
    "DEFAULT_STEPS",
    "ComputationalGraph",
    "DifferenceRow",
    "GradientComparison",
    "GradientNormReport",
    "ModesSummary",
    "Node",
    "compare_gradients",
    "computational_graph",
    "layer_gradient_norms",
    "modes_summary",
    "plot_gradient_norms",
    "vanishing_gradient_report",
]
