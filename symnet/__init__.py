"""symnet: a symbolic differentiation compiler for network expressions.

Declare a model in SymPy, derive its gradient symbolically (backpropagation
on a shared matrix-level graph), and compile it into NumPy or LLVM kernels.
"""

from sympy import tanh

__version__ = "0.1.0"

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
from .export import export_c, export_library, export_onnx
from .hessian import Hessian, hessian
from .model import Model
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
from .second_order import gnvp, hvp, jvp

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


def __getattr__(name: str):
    # Curvature subclasses SciPy's LinearOperator, imported on first use.
    if name == "Curvature":
        from .curvature import _curvature_class

        return _curvature_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
