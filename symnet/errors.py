"""Every exception and warning class symnet raises, in one module (the lowest layer).

Each class is also importable from ``symnet`` itself; the modules that
raise one import it from here, so the class a user catches is the class
the documentation names whichever stage raised it.

>>> from symnet.errors import ShapeError
>>> issubclass(ShapeError, ValueError)
True
"""

from __future__ import annotations

__all__ = ["CacheWarning", "ConfigError", "DataError", "DivergedError", "GraphError",
           "NoDependenceError", "SerializeError", "ShapeError", "UnsupportedError"]


class ShapeError(ValueError):
    """Shapes of a symnet expression or of an array argument do not fit."""


class UnsupportedError(TypeError):
    """An expression uses a head symnet cannot differentiate or compile."""


class NoDependenceError(ValueError):
    """The differentiated expression does not contain a requested variable at all
    (raised by :func:`symnet.grad` and the compile functions, naming it).

    A variable the expression uses only through piecewise-constant factors
    (``sign``, ``Heaviside``) is not this case: its gradient is 0."""


class GraphError(RuntimeError):
    """The IR broke one of its invariants (a bug in a pass, never user error)."""


class SerializeError(ValueError):
    """A value cannot be written as data, or the data is not a valid symnet value."""


class ConfigError(ValueError):
    """A ``SYMNET_*`` environment variable has a value symnet cannot use."""


class CacheWarning(UserWarning):
    """The compile cache cannot be used as configured (symnet works without it)."""


class DataError(ValueError):
    """A data file or array cannot be used: the message says where and why."""


class DivergedError(ArithmeticError):
    """Training produced a non-finite loss or parameters: :func:`fit` stops.

    ``epoch`` is the epoch (1-based) that diverged and ``result`` a
    :class:`FitResult` with the history up to it and the parameters of the
    best finite epoch before it (the initial ones if there was none).
    """

    def __init__(self, message: str, epoch: int, result: object):
        super().__init__(message)
        self.epoch = epoch
        self.result = result
