"""symnet: a symbolic differentiation compiler for network expressions.

Declare a model in SymPy, derive its gradient symbolically (backpropagation
on a shared matrix-level graph), and compile it into NumPy or LLVM kernels.
"""

from sympy import tanh

__version__ = "0.1.0"

# curvature and hessian are imported now, not on first use like the names of
# _LAZY below: importing a submodule later would rebind its function's name
# on the package to the module.
from .api import GradCheck, check_grad, compile, compile_grad, grad, lower
from .curvature import compile_gnvp, compile_hvp, compile_jvp, curvature
from .errors import (
    CacheWarning,
    ConfigError,
    DataError,
    DivergedError,
    GraphError,
    NoDependenceError,
    SerializeError,
    ShapeError,
    UnsupportedError,
)
from .hessian import Hessian, hessian
from .ops import (
    BinaryLabels,
    Elementwise,
    OneHot,
    hard_logistic,
    hard_tanh,
    leaky_relu,
    log_softmax,
    logistic,
    logsumexp,
    matsum,
    maxout,
    ones,
    prelu,
    relu,
    softmax,
    softplus,
)
from .registry import ACTIVATIONS

__all__ = [
    "ACTIVATIONS", "BinaryLabels", "CacheWarning", "ConfigError", "Curvature", "DataError", "Model",
    "DivergedError", "Elementwise", "GradCheck", "GraphError", "Hessian", "NoDependenceError",
    "OneHot", "SerializeError", "ShapeError", "UnsupportedError", "check_grad", "compile",
    "compile_gnvp", "compile_grad", "compile_hvp", "compile_jvp", "curvature", "export_c",
    "export_library", "export_onnx", "gnvp", "grad",
    "hard_logistic", "hessian", "hvp", "jvp",
    "hard_tanh", "leaky_relu", "log_softmax", "logistic", "logsumexp", "lower", "matsum", "maxout",
    "ones", "prelu", "relu", "softmax", "softplus", "tanh",
]


#: Public names of the layers above the compiler (second order, export, models),
#: imported on first use: ``import symnet`` then costs little more than SymPy's.
_LAZY = {
    "export_c": "export", "export_library": "export", "export_onnx": "export", "Model": "model",
    "gnvp": "second_order", "hvp": "second_order", "jvp": "second_order",
}


def __getattr__(name: str):
    from importlib import import_module

    # Curvature subclasses SciPy's LinearOperator, imported on first use.
    if name == "Curvature":
        return import_module(".curvature", __name__)._curvature_class()
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
