"""Second-order kernels: compiled JVPs, HVPs and GNVPs, and curvature as a SciPy LinearOperator.

A curvature kernel takes the usual inputs and then one direction per
parameter, and returns ``[value, *gradient, *product]`` from one program:
the forward pass, the backward pass and the tangent sweep share their
intermediates (CSE runs over all of them), so one Hessian-vector product
costs a small multiple of one gradient.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import sympy as sp

from .api import _as_list, build_kernel
from .errors import ShapeError
from .formulas import name_nodes
from .programs import cached_program, check_dtype, check_inputs
from .runtime import Kernel
from .schedule import schedule
from .second_order import _shaped, directions, jvp_graph, product_graph
from .tosympy import ToSympy

# Curvature comes from the module __getattr__ below (made on first use).
__all__ = ["Curvature", "FlatParams", "compile_gnvp", "compile_hvp", "compile_jvp",  # noqa: F822
           "curvature"]


def compile_hvp(expr: sp.Basic, wrt: Sequence[sp.Basic], inputs: Iterable[sp.Basic],
                v=None, *, kind: str = "hessian", output: sp.Basic | None = None,
                value: bool = True, backend: str = "numpy", dtype="float64",
                name: str = "hvp") -> Kernel:
    """Compile ``expr``'s curvature product along directions ``v``.

    The kernel takes ``[*inputs, *v]`` (``v``: one direction symbol per
    variable, by default ``v_<name>``; see :func:`symnet.second_order.directions`)
    and returns ``[value, *gradient, *H v]``, or only ``H v`` with
    ``value=False``. ``kind="gauss-newton"`` (with ``output``, the network
    output the loss sees) gives G v instead; see :func:`compile_gnvp`.

    >>> x, y = sp.symbols('x y')
    >>> k = compile_hvp(x**2 * y, [x, y], [x, y])
    >>> [str(s) for s in k.inputs]
    ['x', 'y', 'v_x', 'v_y']
    >>> [float(t) for t in k(1.0, 2.0, 1.0, 0.0)]   # f, df/dx, df/dy, (H e_x)_x, (H e_x)_y
    [2.0, 4.0, 1.0, 4.0, 2.0]
    """
    wrt = _as_list(wrt)
    ins = list(inputs)
    vs = directions(wrt, v)
    clash = [str(s) for s in vs if s in ins]
    if clash:
        raise ValueError(f"the direction(s) {', '.join(clash)} are also among the inputs; "
                         "give the directions v=... with names of their own")
    dtype = check_dtype(dtype)
    expr = sp.sympify(expr)
    output = None if output is None else sp.sympify(output)
    tag = "Hv" if kind == "hessian" else "Gv"

    def derive_program():
        pg = product_graph(expr, wrt, vs, kind, output)
        g = pg.g
        check_inputs(g, [*ins, *vs])
        conv = ToSympy(g)
        prods = [_shaped(conv(i), w) for i, w in zip(pg.products, wrt, strict=True)]
        if value:
            grads = [_shaped(conv(i), w) for i, w in zip(pg.grads, wrt, strict=True)]
            roots, outs = [pg.value, *pg.grads, *pg.products], [expr, *grads, *prods]
            names = ["value", *[f"d{w}" for w in wrt], *[f"{tag}_{w}" for w in wrt]]
        else:
            roots, outs = list(pg.products), prods
            names = [f"{tag}_{w}" for w in wrt]
        g.outputs = roots
        name_nodes(g, roots, names)
        return schedule(g, [*ins, *vs]), outs

    key = ("compile_hvp", kind, expr, wrt, ins, vs, output if output is not None else 0,
           int(value))
    prog, outs = cached_program(key, derive_program)
    return build_kernel(prog, [*ins, *vs], outs, backend, dtype, name)


def compile_gnvp(expr: sp.Basic, wrt: Sequence[sp.Basic], inputs: Iterable[sp.Basic],
                 output: sp.Basic, v=None, *, value: bool = True, backend: str = "numpy",
                 dtype="float64", name: str = "gnvp") -> Kernel:
    """Compile the Gauss-Newton-vector product G v = J^T H_L J v of ``expr``.

    ``output`` is the network output z the loss is a function of; see
    :func:`symnet.second_order.gnvp`. Same calling convention as
    :func:`compile_hvp`.

    >>> x, w = sp.symbols('x w')
    >>> k = compile_gnvp((w * x - 1) ** 2, [w], [x, w], output=w * x, value=False)
    >>> [float(t) for t in k(3.0, 1.0, 1.0)]        # 2 x^2 v
    [18.0]
    """
    return compile_hvp(expr, wrt, inputs, v, kind="gauss-newton", output=output, value=value,
                       backend=backend, dtype=dtype, name=name)


def compile_jvp(outputs: sp.Basic | Iterable[sp.Basic], wrt: Sequence[sp.Basic],
                inputs: Iterable[sp.Basic], tangents=None, *, backend: str = "numpy",
                dtype="float64", name: str = "jvp") -> Kernel:
    """Compile the outputs and their directional derivatives J v in one kernel
    (one forward pass carrying its tangents).

    The kernel takes ``[*inputs, *tangents]`` and returns
    ``[*outputs, *tangents of the outputs]``.

    >>> x, w = sp.symbols('x w')
    >>> k = compile_jvp(sp.sin(w * x), [w], [x, w])
    >>> [round(float(t), 6) for t in k(2.0, 0.0, 1.0)]   # sin 0, x cos(0) v
    [0.0, 2.0]
    """
    outs = [sp.sympify(o) for o in _as_list(outputs)]
    wrt = _as_list(wrt)
    ins = list(inputs)
    vs = directions(wrt, tangents)
    clash = [str(s) for s in vs if s in ins]
    if clash:
        raise ValueError(f"the tangent(s) {', '.join(clash)} are also among the inputs")
    dtype = check_dtype(dtype)

    def derive_program():
        jg = jvp_graph(outs, wrt, vs)
        g = jg.g
        check_inputs(g, [*ins, *vs])
        conv = ToSympy(g)
        tans = [_shaped(conv(i), o) for i, o in zip(jg.tangents, outs, strict=True)]
        g.outputs = [*jg.outputs, *jg.tangents]
        names = ([f"f{k}" for k in range(len(outs))] if len(outs) > 1 else ["f"])
        name_nodes(g, jg.tangents, [f"R_{n}" for n in names])
        return schedule(g, [*ins, *vs]), [*outs, *tans]

    prog, full = cached_program(("compile_jvp", outs, wrt, ins, vs), derive_program)
    return build_kernel(prog, [*ins, *vs], full, backend, dtype, name)


# ---------------------------------------------------------------- LinearOperator
class FlatParams:
    """Parameters as one flat vector (each row-major, in order) and back:
    what SciPy's solvers and optimizers see of a list of arrays.

    >>> f = FlatParams([(2, 2), ()], "float64")
    >>> [a.shape for a in f.split(np.arange(5.0))], f.join([np.eye(2), 3.0])
    ([(2, 2), ()], array([1., 0., 0., 1., 3.]))
    """

    def __init__(self, shapes: Sequence[tuple[int, ...]], dtype):
        self.shapes = [tuple(s) for s in shapes]
        self.dtype = np.dtype(dtype)
        sizes = [int(np.prod(s)) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.size = int(self.offsets[-1])

    def split(self, x: np.ndarray) -> list[np.ndarray]:
        """A flat vector as one contiguous array per parameter, in ``dtype``."""
        x = np.ascontiguousarray(x).reshape(-1)
        if x.shape[0] != self.size:
            raise ShapeError(f"a vector of {x.shape[0]} entries for {self.size} parameters")
        # Slices of a contiguous vector are contiguous (and a 0-d scalar stays 0-d).
        return [np.asarray(x[a:b].reshape(s), dtype=self.dtype)
                for a, b, s in zip(self.offsets[:-1], self.offsets[1:], self.shapes, strict=True)]

    @staticmethod
    def join(parts) -> np.ndarray:
        """One float64 vector from the parameters' arrays."""
        return np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1) for p in parts])


class _CurvatureMethods:
    """The Hessian (or Gauss-Newton matrix) of a scalar at fixed values, as a
    symmetric :class:`scipy.sparse.linalg.LinearOperator` over the flattened
    parameters (in ``wrt`` order, each row-major). Each ``matvec`` is one call
    of a compiled product kernel; nothing n x n is formed unless you ask
    (:meth:`dense`, :meth:`block`).
    """

    def __init__(self, kernel: Kernel, wrt: Sequence[sp.Basic], args: list,
                 shapes: list[tuple[int, ...]], dtype):
        self.kernel = kernel
        self.wrt = list(wrt)
        self._args = args
        self.flat = FlatParams(shapes, dtype)
        self.offsets = self.flat.offsets
        super().__init__(dtype=np.dtype(dtype), shape=(self.flat.size, self.flat.size))
        #: how many products have been computed (each is one kernel call)
        self.calls = 0

    def split(self, x: np.ndarray) -> list[np.ndarray]:
        """A flat vector as one contiguous array per parameter."""
        return self.flat.split(x)

    def _matvec(self, x):
        self.calls += 1
        return self.flat.join(self.kernel(*self._args, *self.split(x))).astype(self.dtype,
                                                                                copy=False)

    def _rmatvec(self, x):
        return self._matvec(x)  # symmetric

    def _adjoint(self):
        return self

    def dense(self) -> np.ndarray:
        """The whole n x n matrix, by n products with the unit vectors."""
        n = self.shape[0]
        out = np.empty((n, n), dtype=self.dtype)
        e = np.zeros(n, dtype=self.dtype)
        for j in range(n):
            e[j] = 1
            out[:, j] = self._matvec(e)
            e[j] = 0
        return out

    def block(self, p: sp.Basic, q: sp.Basic) -> np.ndarray:
        """The block d^2 f / (dp dq) (rows: entries of p, columns: entries of q)."""
        i, j = self.wrt.index(p), self.wrt.index(q)
        a, b = self.offsets[j], self.offsets[j + 1]
        e = np.zeros(self.shape[0], dtype=self.dtype)
        cols = []
        for c in range(a, b):
            e[c] = 1
            cols.append(self._matvec(e)[self.offsets[i]:self.offsets[i + 1]])
            e[c] = 0
        return np.stack(cols, axis=1)


@functools.cache
def _curvature_class() -> type:
    """The Curvature class, made on first use: SciPy's sparse linear algebra
    (LinearOperator's home) costs about 0.2 s to import, which ``import symnet``
    does not pay."""
    from scipy.sparse.linalg import LinearOperator

    return type("Curvature", (_CurvatureMethods, LinearOperator),
                {"__doc__": _CurvatureMethods.__doc__, "__module__": __name__})


def __getattr__(name: str):
    if name == "Curvature":
        return _curvature_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def curvature(expr: sp.Basic, wrt: Sequence[sp.Basic], values: Mapping, *,
              kind: str = "hessian", output: sp.Basic | None = None,
              backend: str = "numpy", dtype="float64"):
    """The Hessian (``kind="hessian"``) or Gauss-Newton matrix
    (``kind="gauss-newton"``, with ``output``) of ``expr`` w.r.t. ``wrt`` at
    ``values`` (every symbol of ``expr``: parameters and data), as a
    LinearOperator that CG, MINRES and ``eigsh`` accept.

    >>> import numpy as np
    >>> x, y = sp.symbols('x y')
    >>> H = curvature(x**2 * y + y**3, [x, y], {x: 1.0, y: 2.0})
    >>> H.dense()
    array([[ 4.,  2.],
           [ 2., 12.]])
    """
    wrt = _as_list(wrt)
    dtype = check_dtype(dtype)
    expr = sp.sympify(expr)
    missing = [w for w in wrt if w not in values]
    if missing:
        raise ValueError(f"no value for {', '.join(map(str, missing))}")
    data = [s for s in values if s not in wrt]
    ins = sorted(data, key=str) + wrt
    kernel = compile_hvp(expr, wrt, ins, kind=kind, output=output, value=False,
                         backend=backend, dtype=dtype, name="curvature")
    args, shapes = [], []
    for s in ins:
        a = np.asarray(values[s], dtype=dtype)
        if isinstance(s, sp.MatrixSymbol):
            a = np.ascontiguousarray(a)
        args.append(a if a.ndim else a.item())
    for w in wrt:
        shapes.append(np.shape(values[w]) if isinstance(w, sp.MatrixSymbol) else ())
    return _curvature_class()(kernel, wrt, args, shapes, dtype)
