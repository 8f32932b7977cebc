"""ONNX backend: a kernel plan -> an ONNX model (for export; needs the ``export`` extra).

Opset 18 (ai.onnx), IR version 9: what onnxruntime >= 1.16 runs. Matrices
keep symnet's layout (features x samples, samples as columns); symbolic
dimensions become named ``dim_param`` axes. Every scalar head goes through
its registry row's compiled form (:mod:`.body`), so a custom activation
written in SymPy is decomposed into ONNX primitives or refused with an
error naming the head.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ...errors import UnsupportedError
from ...graph import VARS
from ...lower import KernelPlan, needs_broadcast
from .body import Graph, OnnxBody

__all__ = ["IR_VERSION", "OPSET", "export_model"]

OPSET = 18
IR_VERSION = 9
_ELEM = {np.dtype(np.float64): 11, np.dtype(np.float32): 1}  # TensorProto.DOUBLE / FLOAT


class _Dims:
    """Dimension symbols as tensors, read from the shape of an input that has them."""

    def __init__(self, g: Graph, where: dict):
        self.g, self.where = g, where
        self.known = set(where)
        self._int: dict = {}
        self._float: dict = {}

    def as_int(self, d) -> str:
        d = sp.sympify(d)
        if d.is_Integer:
            return self.g.const([int(d)], np.int64)
        if d not in self.where:
            raise UnsupportedError(f"ONNX export: dimension {d} is not the size of any input")
        if d not in self._int:
            name, axis = self.where[d]
            shape = self.g.node("Shape", [name])
            self._int[d] = self.g.node("Gather", [shape, self.g.const([axis], np.int64)],
                                       axis=0)
        return self._int[d]

    def shape(self, shape) -> str:
        return self.g.node("Concat", [self.as_int(d) for d in shape], axis=0)

    def value(self, d) -> str:
        if d not in self._float:
            scalar = self.g.node("Squeeze", [self.as_int(d), self.g.const([0], np.int64)])
            self._float[d] = self.g.node("Cast", [scalar], to=_ELEM[self.g.dtype])
        return self._float[d]


def _step(g: Graph, s, t: dict, shapes: dict, dims: _Dims) -> str:
    a = [t[x] for x in s.args]
    op = s.op
    if op == "ew":
        env = {}
        for k, x in enumerate(s.args):
            view = s.views[k] if s.views and s.views[k] is not None else None
            src = a[k]
            if view is not None and tuple(view) != tuple(shapes[x]):
                src = g.node("Transpose", [src], perm=[1, 0])
            env[VARS[k]] = src
        out = OnnxBody(g, env, dims)(s.attr)
        if needs_broadcast(s):
            out = g.node("Expand", [out, dims.shape(s.shape)])
        return out
    if op == "matmul":
        ta, tb = s.attr
        x = g.node("Transpose", [a[0]], perm=[1, 0]) if ta else a[0]
        y = g.node("Transpose", [a[1]], perm=[1, 0]) if tb else a[1]
        return g.node("MatMul", [x, y])
    if op == "reduce":
        axes = [0, 1] if s.attr is None else [int(s.attr)]
        return g.node("ReduceSum", [a[0], g.const(axes, np.int64)], keepdims=1)
    if op == "transpose":
        return g.node("Transpose", [a[0]], perm=[1, 0])
    if op == "softmax":
        return g.node("Softmax", [a[0]], axis=0)
    if op == "log_softmax":
        return g.node("LogSoftmax", [a[0]], axis=0)
    if op == "logsumexp":
        return g.node("ReduceLogSumExp", [a[0], g.const([0], np.int64)], keepdims=1)
    if op == "const":
        value = OnnxBody(g, {}, dims)(sp.sympify(s.attr))
        return g.node("Expand", [value, dims.shape(s.shape)])
    if op == "leaf" and isinstance(s.attr, sp.Identity):
        n = sp.sympify(s.shape[0])
        if n.is_Integer:
            return g.const(np.eye(int(n)))
        return g.node("EyeLike", [g.node("ConstantOfShape", [dims.shape(s.shape)])])
    if op in ("det", "logdet"):
        det = g.node("Reshape", [g.node("Det", [a[0]]), g.const([1, 1], np.int64)])
        return det if op == "det" else g.node("Log", [det])
    if op == "kron":
        (m, n), (p, q) = (tuple(int(v) for v in shapes[x]) for x in s.args)
        left = g.node("Reshape", [a[0], g.const([m, 1, n, 1], np.int64)])
        right = g.node("Reshape", [a[1], g.const([1, p, 1, q], np.int64)])
        return g.node("Reshape", [g.node("Mul", [left, right]),
                                  g.const([m * p, n * q], np.int64)])
    raise UnsupportedError(f"ONNX export: ONNX has no operator for {op!r} (step {s.out}); "
                           "export the forward model, or a kernel without it")


def export_model(kp: KernelPlan, name: str, dtype, shapes: dict | None = None,
                 initializers: dict | None = None, doc: str = ""):
    """The ONNX ``ModelProto`` computing the plan's outputs.

    ``shapes`` gives each input's shape (symbols become named axes);
    ``initializers`` maps input names to arrays stored in the model (those
    inputs are then not graph inputs).
    """
    from onnx import helper, numpy_helper

    g = Graph(dtype)
    elem = _ELEM[g.dtype]
    prog = kp.program
    shapes = dict(kp.shapes, **(shapes or {}))
    initializers = dict(initializers or {})
    where = {}
    inputs, t = [], {}
    for n, _ in prog.inputs:
        shape = shapes[n]
        for axis, d in enumerate(shape):
            d = sp.sympify(d)
            if d.is_Symbol and d not in where and n not in initializers:
                where[d] = (n, axis)
        t[n] = n
        if n in initializers:
            arr = np.ascontiguousarray(initializers[n], dtype=g.dtype).reshape(
                tuple(int(v) for v in shape))
            g.inits.append(numpy_helper.from_array(arr, n))
            continue
        dims = [int(d) if sp.sympify(d).is_Integer else str(d) for d in shape]
        inputs.append(helper.make_tensor_value_info(n, elem, dims))
    dims = _Dims(g, where)
    for s in kp.steps:
        t[s.out] = _step(g, s, t, shapes, dims)
    outputs, seen = [], set()
    for k, o in enumerate(prog.outputs):
        out_name = o if o not in seen and o not in t.values() else f"{o}_out{k}"
        seen.add(out_name)
        g.node("Identity", [t[o]], out=out_name)
        shape = shapes[o]
        outputs.append(helper.make_tensor_value_info(
            out_name, elem, [int(d) if sp.sympify(d).is_Integer else str(d) for d in shape]))
    # A row's form may build a constant it then does not use.
    used = {i for node in g.nodes for i in node.input}
    inits = [t for t in g.inits if t.name in used]
    graph = helper.make_graph(g.nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, producer_name="symnet", doc_string=doc,
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    return model
