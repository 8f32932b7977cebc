"""Runtime: Kernel objects that check their arguments and run compiled code."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from . import targets
from .errors import ShapeError
from .ops import is_matrix
from .schedule import Program

__all__ = ["Kernel", "bind_arguments"]


def _as_float_array(name: str, value, dtype) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"argument {name}: cannot be read as an array ({exc})") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"argument {name}: expected real numbers, got dtype {arr.dtype}")
    return arr.astype(dtype, copy=False)


def bind_arguments(inputs: Sequence[sp.Basic], args: tuple, kwargs: dict,
                   dtype=np.float64, names: Sequence[str] | None = None,
                   recipe: list | None = None,
                   ) -> tuple[list[np.ndarray], dict[sp.Symbol, int], int | None]:
    """Check and convert call arguments against the declared symbols.

    Returns the arrays (float, C-contiguous), the values of the shape symbols,
    and the number of points when scalar inputs were given as 1-D arrays.
    ``recipe``, a list, receives per input what was done to it: the shape of
    a matrix after the reshape of a 1-D or 0-D argument, None for a scalar
    input; it is left empty when integer labels were turned into one-hot
    columns (a step that depends on the values, not only on the shapes).

    >>> X = sp.MatrixSymbol("X", 2, sp.Symbol("n"))
    >>> arrays, dims, points = bind_arguments([X], (np.ones((2, 5)),), {})
    >>> arrays[0].shape, dims, points
    ((2, 5), {n: 5}, None)
    """
    names = [str(s) for s in inputs] if names is None else names
    if len(args) > len(inputs):
        raise TypeError(f"kernel takes {len(inputs)} arguments ({', '.join(names)}), "
                        f"got {len(args)}")
    values: list[object] = list(args) + [None] * (len(inputs) - len(args))
    given = [True] * len(args) + [False] * (len(inputs) - len(args))
    for k, v in kwargs.items():
        if k not in names:
            raise TypeError(f"unknown argument {k!r}; the kernel takes {', '.join(names)}")
        j = names.index(k)
        if given[j]:
            raise TypeError(f"argument {k} given twice")
        values[j], given[j] = v, True
    missing = [n for n, g in zip(names, given, strict=True) if not g]
    if missing:
        raise TypeError(f"missing argument(s): {', '.join(missing)}")

    dims: dict[sp.Symbol, int] = {}
    arrays: list[np.ndarray | None] = [None] * len(inputs)
    points: int | None = None
    sig = _signature(tuple(inputs))
    has_matrix = any(matrix for matrix, _, _ in sig)
    pending: list[int] = []
    steps: list[tuple[int, int] | None] = []
    for j, ((matrix, kind, shape), v) in enumerate(zip(sig, values, strict=True)):
        name = names[j]
        if matrix:
            raw = np.asarray(v) if not isinstance(v, np.ndarray) else v
            if (kind == "onehot" and raw.ndim == 1 and raw.dtype.kind in "iufb"
                    and shape[0] != 1):
                pending.append(j)  # class labels: one-hot once the classes are known
                continue
            arr = _as_float_array(name, v, dtype)
            r, c = shape
            if arr.ndim == 1 and c == 1:
                arr = arr.reshape(-1, 1)
            elif arr.ndim == 1 and r == 1:
                arr = arr.reshape(1, -1)
            elif arr.ndim == 0 and (r, c) == (1, 1):
                arr = arr.reshape(1, 1)
            if arr.ndim != 2:
                raise ShapeError(f"argument {name}: expected a {r} x {c} matrix, got an array "
                                 f"of shape {arr.shape}")
            if 0 in arr.shape:
                raise ShapeError(f"argument {name}: empty {arr.shape[0]} x {arr.shape[1]} "
                                 "matrix; every dimension must be at least 1")
            _bind(name, shape, arr.shape, dims)
            if kind != "real":
                targets.check_targets(f"argument {name}", kind, arr)
            arrays[j] = np.ascontiguousarray(arr)
            steps.append(arr.shape)
        else:
            arr = _as_float_array(name, v, dtype)
            if arr.ndim > 1 or (arr.ndim == 1 and has_matrix):
                raise ShapeError(f"argument {name}: scalar symbol {name} takes a number"
                                 f"{'' if has_matrix else ' or a 1-D array of points'}, got shape "
                                 f"{arr.shape}")
            if arr.ndim == 1:
                if points is not None and arr.shape[0] != points:
                    raise ShapeError(f"argument {name}: {arr.shape[0]} points, but earlier "
                                     f"arguments have {points}")
                points = arr.shape[0]
            arrays[j] = arr
            steps.append(None)
    for j in pending:
        sym, name = inputs[j], names[j]
        labels = np.asarray(values[j])
        r = sym.shape[0]
        rows = dims.get(r, r) if isinstance(r, sp.Symbol) else r
        if rows is None or not sp.sympify(rows).is_Integer:
            raise ShapeError(f"argument {name}: integer labels need a known number of "
                             f"classes; declare {name} with a number of rows, not {rows}")
        arr = targets.onehot_from_labels(f"argument {name}", labels, int(rows), dtype)
        _bind(name, sym.shape, arr.shape, dims)
        arrays[j] = arr
    if recipe is not None and not pending:
        recipe.extend(steps)
    return arrays, dims, points


#: Argument shapes a kernel remembers the binding of (a loop meets a few).
_BOUND_MAX = 64


def _shape_key(args: tuple, count: int, dtype: np.dtype) -> tuple | None:
    """What a binding depends on: each argument's shape when it is an array of
    the kernel's dtype, its type when it is a Python number; None (bind from
    scratch) for anything else.

    >>> _shape_key((np.zeros((2, 3)), 1.5), 2, np.dtype(np.float64))
    ((2, 3), <class 'float'>)
    >>> _shape_key((np.zeros(3, dtype=np.int64),), 1, np.dtype(np.float64)) is None
    True
    """
    if len(args) != count:
        return None
    key = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            if a.dtype != dtype:
                return None
            key.append(a.shape)
        elif t is float or t is int:
            key.append(t)
        else:
            return None
    return tuple(key)


@functools.lru_cache(maxsize=256)
def _signature(inputs: tuple) -> tuple[tuple[bool, str, tuple | None], ...]:
    """Per declared input: (is a matrix, target kind, shape with Python ints)."""
    out = []
    for sym in inputs:
        if is_matrix(sym):
            shape = tuple(int(d) if sp.sympify(d).is_Integer else d for d in sym.shape)
            out.append((True, targets.kind_of(sym), shape))
        else:
            out.append((False, "real", None))
    return tuple(out)


def _bind(name: str, declared, actual, dims: dict) -> None:
    for axis, (d, n) in enumerate(zip(declared, actual, strict=True)):
        if isinstance(d, int):
            if d != n:
                raise ShapeError(f"argument {name}: expected shape "
                                 f"{declared[0]} x {declared[1]}, got {actual[0]} x {actual[1]} "
                                 f"(axis {axis})")
        elif d.is_Integer:
            if int(d) != n:
                raise ShapeError(f"argument {name}: expected shape "
                                 f"{declared[0]} x {declared[1]}, got {actual[0]} x {actual[1]} "
                                 f"(axis {axis})")
        elif isinstance(d, sp.Symbol):
            if d in dims and dims[d] != n:
                raise ShapeError(f"argument {name}: dimension {d} is {n} here but {dims[d]} in an "
                                 f"earlier argument")
            dims[d] = n
        else:
            free = d.free_symbols - set(dims)
            if free:
                raise ShapeError(f"argument {name}: cannot infer {', '.join(map(str, free))} "
                                 f"from dimension {d}")
            if int(d.subs(dims)) != n:
                raise ShapeError(f"argument {name}: dimension {d} = {d.subs(dims)}, got {n}")


class Kernel:
    """A compiled function of the declared inputs; call it with arrays.

    Attributes: ``source`` (generated code), ``program`` (the schedule),
    ``inputs`` and ``outputs`` (the SymPy expressions), ``backend``.
    """

    def __init__(self, fn: Callable, program: Program, inputs: Sequence[sp.Basic],
                 outputs: Sequence[sp.Basic], backend: str, source: str | Callable[[], str],
                 dtype=np.float64):
        self.fn = fn
        self.program = program
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.backend = backend
        self._source = source
        self.dtype = np.dtype(dtype)
        self.__wrapped__ = fn  # inspect.getsource(kernel) shows the generated code
        self._shapes: dict[tuple, list] = {}
        self._names = [str(s) for s in self.inputs]
        #: Bindings by argument shapes (see _rebind).
        self._bound: dict[tuple, tuple] = {}
        # A backend that allocates every output afresh (see _finish).
        self._fresh = bool(getattr(fn, "fresh_outputs", False))
        self._native = bool(getattr(fn, "native_code", False))
        self._sig = _signature(tuple(self.inputs))

    def __call__(self, *args, **kwargs):
        key = None if kwargs else _shape_key(args, len(self.inputs), self.dtype)
        hit = self._bound.get(key) if key is not None else None
        if hit is not None:
            arrays, dims, points, dim_args = self._rebind(args, hit)
        else:
            recipe: list = []
            arrays, dims, points = bind_arguments(self.inputs, args, kwargs, self.dtype,
                                                  self._names, recipe)
            missing = [d for d in self.program.dims if d not in dims]
            if missing:
                raise ShapeError(f"cannot infer dimension(s) {', '.join(map(str, missing))} "
                                 "from the arguments")
            dim_args = [dims[d] for d in self.program.dims]
            if key is not None and len(recipe) == len(self.inputs):
                if len(self._bound) >= _BOUND_MAX:
                    self._bound.clear()
                self._bound[key] = (tuple(recipe), dict(dims), points, tuple(dim_args))
        if self._native:  # its arithmetic never reaches NumPy's error state
            raw = self.fn(*arrays, *dim_args)
        else:
            with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
                raw = self.fn(*arrays, *dim_args)
        return self._finish(raw, dims, points, arrays, tuple(dim_args))

    def _rebind(self, args: tuple, hit: tuple) -> tuple:
        """bind_arguments for arguments whose shapes were bound before: the
        dims, reshapes and point count are the same (they follow from the
        shapes alone), the checks of target values run again."""
        recipe, dims, points, dim_args = hit
        arrays = []
        for j, (a, shape, (matrix, kind, _)) in enumerate(
                zip(args, recipe, self._sig, strict=True)):
            arr = a if type(a) is np.ndarray else _as_float_array(self._names[j], a,
                                                                   self.dtype)
            if matrix:
                if arr.shape != shape:
                    arr = arr.reshape(shape)
                if kind != "real":
                    targets.check_targets(f"argument {self._names[j]}", kind, arr)
                arr = np.ascontiguousarray(arr)
            arrays.append(arr)
        return arrays, dict(dims), points, dim_args

    def _output_shapes(self, dims: dict, key: tuple) -> list[tuple[int, int] | None]:
        """The outputs' shapes for these dims (``key``: their values in program order)."""
        hit = self._shapes.get(key)
        if hit is None:
            hit = [tuple(int(sp.sympify(d).subs(dims)) for d in e.shape) if is_matrix(e)
                   else None for e in self.outputs]
            self._shapes[key] = hit
        return hit

    def _finish(self, raw, dims, points, arrays, dim_args: tuple):
        """Outputs as fresh arrays of the declared shapes.

        A backend's result array is returned as it is when it already has
        the right shape and dtype and shares memory with no argument and no
        other output (the LLVM backend allocates one new array per output);
        anything else -- a broadcast constant, an input passed through, a
        value returned twice -- is copied, so outputs never alias.
        """
        out = []
        shapes = self._output_shapes(dims, dim_args)
        # A backend that allocates every output afresh only needs the check
        # for a value returned twice (the objects it returned, by identity).
        fresh = self._fresh
        given_ids: set[int] = set()
        taken = [] if fresh else [a for a in arrays if isinstance(a, np.ndarray)]
        for shape, val in zip(shapes, raw, strict=True):
            if shape is None and points is None:
                out.append(self.dtype.type(np.reshape(val, ())))
                continue
            given = val  # the backend's object (a reshape below is a new view of it)
            if shape is None:
                shape = (points,)
                if np.ndim(val):
                    val = np.reshape(val, -1)
            keep = isinstance(val, np.ndarray) and val.shape == shape and val.dtype == self.dtype
            if keep:
                flags = val.flags
                keep = flags.c_contiguous and flags.writeable and (
                    id(given) not in given_ids if fresh else
                    not any(np.may_share_memory(val, t) for t in taken))
            if not keep:
                val = np.array(np.broadcast_to(val, shape), dtype=self.dtype)
            if fresh:
                given_ids.add(id(given))  # alive in raw until the end of this loop
            else:
                taken.append(val)
            out.append(val)
        return out

    @property
    def source(self) -> str:
        """The generated code: NumPy source, or LLVM IR for the llvm backend."""
        if callable(self._source):
            self._source = self._source()
        return self._source

    def _artifact(self, name: str) -> str:
        if not hasattr(self.fn, name):
            raise AttributeError(f"the {self.backend} backend has no {name}; compile with "
                                 "backend='llvm'")
        return getattr(self.fn, name)

    @property
    def llvm_ir(self) -> str:
        """LLVM IR as emitted (llvm backend)."""
        return self._artifact("llvm_ir")

    @property
    def llvm_ir_optimized(self) -> str:
        """LLVM IR after the O2 pipeline (llvm backend)."""
        return self._artifact("llvm_ir_optimized")

    @property
    def asm(self) -> str:
        """Host assembly (llvm backend)."""
        return self._artifact("asm")

    def __repr__(self) -> str:
        ins = ", ".join(str(s) for s in self.inputs)
        return f"<symnet.Kernel {self.backend} ({ins}) -> {len(self.outputs)} outputs>"
