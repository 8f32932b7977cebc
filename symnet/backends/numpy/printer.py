"""The NumPy printer: scalar SymPy bodies -> NumPy expressions over whole arrays."""

from __future__ import annotations

from functools import reduce

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

__all__ = ["SymnetNumPyPrinter"]


class SymnetNumPyPrinter(NumPyPrinter):
    """NumPy printer with one ``_print_<head>`` per symnet head."""

    def __init__(self, names: dict[sp.Symbol, str] | None = None):
        super().__init__({"fully_qualified_modules": False, "inline": True,
                          "allow_unknown_functions": False})
        self.names = names or {}

    def _module_format(self, fqn, register=True):
        return "np." + fqn.split(".")[-1] if fqn.startswith("numpy.") else fqn

    def _print_Symbol(self, e):
        return self.names.get(e, str(e))

    def _call(self, name, e):
        return f"{name}({', '.join(self._print(a) for a in e.args)})"

    def _print_logistic(self, e):
        return self._call("logistic", e)

    def _print_softplus(self, e):
        return self._call("softplus", e)

    def _print_relu(self, e):
        return self._call("relu", e)

    def _print_leaky_relu(self, e):
        return self._call("leaky_relu", e)

    def _print_prelu(self, e):
        return self._call("prelu", e)

    def _print_hard_logistic(self, e):
        return self._call("hard_logistic", e)

    def _print_hard_tanh(self, e):
        return self._call("hard_tanh", e)

    def _print_maxout(self, e):
        return self._call("maxout", e)

    def _print_Heaviside(self, e):
        x = self._print(e.args[0])
        h0 = e.args[1] if len(e.args) > 1 else sp.S.Half
        return f"heaviside({x}, {float(h0)!r})"

    def _print_Max(self, e):
        return reduce(lambda a, b: f"np.maximum({a}, {b})", (self._print(a) for a in e.args))

    def _print_Min(self, e):
        return reduce(lambda a, b: f"np.minimum({a}, {b})", (self._print(a) for a in e.args))

    def _print_Float(self, e):
        return repr(float(e))

    def _print_Rational(self, e):
        return f"{e.p}/{e.q}" if e.q != 1 else str(e.p)

    def _print_Integer(self, e):
        return str(e.p)
