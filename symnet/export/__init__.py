"""Export: compiled kernels and SGD epochs as C source, shared libraries and ONNX models."""

from .c import c_export, export_c
from .library import export_library
from .onnx import export_onnx, onnx_model

__all__ = ["c_export", "export_c", "export_library", "export_onnx", "onnx_model"]
