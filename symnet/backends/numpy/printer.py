"""The NumPy printer: scalar SymPy bodies -> NumPy expressions over whole arrays."""

from __future__ import annotations

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from ... import registry

__all__ = ["SymnetNumPyPrinter"]


class SymnetNumPyPrinter(NumPyPrinter):
    """NumPy printer: each head as its registry row says, the rest as SymPy prints it."""

    def __init__(self, names: dict[sp.Symbol, str] | None = None):
        super().__init__({"fully_qualified_modules": False, "inline": True,
                          "allow_unknown_functions": False})
        self.names = names or {}

    def _module_format(self, fqn, register=True):
        return "np." + fqn.split(".")[-1] if fqn.startswith("numpy.") else fqn

    def _print_Symbol(self, e):
        return self.names.get(e, str(e))

    def _print(self, expr, **kwargs):
        # A registry row decides how its head prints: a runtime function
        # called by name, a printer of its own, or SymPy's NumPy form.
        row = registry.lookup(type(expr)) if isinstance(expr, sp.Basic) else None
        if row is not None:
            if row.numpy_print is not None:
                return row.numpy_print(self, expr)
            if row.numpy_name is not None:
                return f"{row.numpy_name}({', '.join(self._print(a) for a in expr.args)})"
        return super()._print(expr, **kwargs)

    def _print_Float(self, e):
        return repr(float(e))

    def _print_Rational(self, e):
        return f"{e.p}/{e.q}" if e.q != 1 else str(e.p)

    def _print_Integer(self, e):
        return str(e.p)
