"""Measured accuracy of each registry row's LLVM form, in ulp (data).

Written by ``benchmarks/accuracy.py`` -- do not edit by hand; rerun it after
changing a row's LLVM form or ``symnet/backends/llvm/vecmath.py``.  The
error is the largest distance, in representable values, from the correctly
rounded result over the row's sampled domain (0: always correctly rounded);
``tests/test_registry.py`` re-measures the routine-backed rows against it.
Last measured: 2026-12-03.
"""

from __future__ import annotations

import math

__all__ = ["ACCURACY", "describe"]

#: head (or column op) name -> (max ulp in float64, in float32, where measured)
ACCURACY: dict[str, tuple[float, float, str]] = {
    'StrictLessThan': (0, 0, 'on (-3, 3)'),
    'LessThan': (0, 0, 'on (-3, 3)'),
    'StrictGreaterThan': (0, 0, 'on (-3, 3)'),
    'GreaterThan': (0, 0, 'on (-3, 3)'),
    'Equality': (0, 0, 'on (-3, 3)'),
    'Unequality': (0, 0, 'on (-3, 3)'),
    'And': (0, 0, 'on (-3, 3)'),
    'Or': (0, 0, 'on (-3, 3)'),
    'Not': (0, 0, 'on (-3, 3)'),
    'Piecewise': (0, 0, 'on (-3, 3)'),
    'Add': (0, 0, 'on (-3, 3)'),
    'Mul': (1, 1, 'on (-3, 3)'),
    'Pow': (4, 4, 'on (0.2, 3); x^3, √x, 1/√x, x^(3/2), x^-2'),
    'logistic': (2, 2, 'on (-3, 3)'),
    'tanh': (1, 1, 'on (-3, 3)'),
    'hard_logistic': (0, 0, 'on (-3, 3)'),
    'hard_tanh': (0, 0, 'on (-3, 3)'),
    'relu': (0, 0, 'on (-3, 3)'),
    'leaky_relu': (0, 1, 'on (-3, 3)'),
    'prelu': (0, 0, 'on (-3, 3)'),
    'softplus': (1, 2, 'on (-3, 3)'),
    'maxout': (0, 0, 'on (-3, 3)'),
    'exp': (1, 1, 'on (-3, 3)'),
    'log': (1, 1, 'on (0.1, 3); log(x), log(1 + x)'),
    'sin': (1, 1, 'on (-3, 3); NaN beyond ±2^20·π (f64), ±2^29·π (f32)'),
    'cos': (1, 1, 'on (-3, 3); NaN beyond ±2^20·π (f64), ±2^29·π (f32)'),
    'sinh': (2, 2, 'on (-3, 3); by expm1, no cancellation near 0'),
    'cosh': (1, 1, 'on (-3, 3)'),
    'atan': (1, 1, 'on (-3, 3)'),
    'erf': (1, 1, 'on (-3, 3)'),
    'Abs': (0, 0, 'on (-3, 3)'),
    'sign': (0, 0, 'on (-3, 3)'),
    'Heaviside': (0, 0, 'on (-3, 3)'),
    'Max': (0, 0, 'on (-3, 3)'),
    'Min': (0, 0, 'on (-3, 3)'),
    'tan': (2, 1, 'on (-1.4, 1.4); NaN beyond ±2^20·π (f64), ±2^29·π (f32)'),
    'sec': (1, 2, 'on (-1.4, 1.4)'),
    'csc': (1, 1, 'on (0.1, 3)'),
    'cot': (1, 2, 'on (0.1, 3)'),
    'asin': (1, 1, 'on (-0.95, 0.95)'),
    'acos': (1, 1, 'on (-0.95, 0.95)'),
    'atan2': (1, 1, 'on (-3, 3)'),
    'asinh': (1, 2, 'on (-3, 3)'),
    'acosh': (1, 2, 'on (1.1, 4)'),
    'atanh': (2, 2, 'on (-0.9, 0.9)'),
    'sinc': (1, 2, 'on (-3, 3)'),
    'erfc': (2, 2, 'on (-3, 3)'),
    'erfinv': (3, 2, 'on (-0.97, 0.97)'),
    'floor': (0, 0, 'on (-3, 3)'),
    'ceiling': (0, 0, 'on (-3, 3)'),
    'frac': (0, 0, 'on (-3, 3)'),
    'Mod': (0, 0, 'on (-3, 3)'),
    'exp2': (1, 1, 'on (-3, 3)'),
    'log2': (1, 1, 'on (0.1, 3)'),
    'log10': (2, 2, 'on (0.1, 3)'),
    'expm1': (1, 1, 'on (-3, 3)'),
    'log1p': (1, 1, 'on (-0.9, 3)'),
    'gamma': (2, 5, 'on (0.2, 4)'),
    'loggamma': (2, 2, 'on (0.2, 4)'),
    'polygamma': (5781, 895062, 'on (0.2, 4); orders 0 and 1'),
    're': (0, 0, 'on (-3, 3)'),
    'im': (0, 0, 'on (-3, 3)'),
    'softmax': (7, 6, 'on 8-entry columns in (-3, 3)'),
    'log_softmax': (13, 19, 'on 8-entry columns in (-3, 3)'),
    'logsumexp': (2, 2, 'on 8-entry columns in (-3, 3)'),
}


def _ulp(v: float) -> str:
    if v == 0:
        return "exact"
    if math.isinf(v):
        return "unbounded"
    if v >= 1000:
        return f"≤ 2^{math.ceil(math.log2(v))} ulp"
    return f"≤ {int(v)} ulp"


def describe(name: str) -> str:
    """The support table's accuracy cell of a row.

    >>> describe("Abs")
    'exact'
    """
    if name not in ACCURACY:
        return "not measured"
    e64, e32, note = ACCURACY[name]
    if e64 == e32 == 0:
        return "exact"
    return f"{_ulp(e64)} (f64), {_ulp(e32)} (f32) {note}"
