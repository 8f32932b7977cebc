"""LLVM backend (llvmlite): SIMD-friendly elementwise math emitted as LLVM IR."""

from .vecmath import MATH_FUNCTIONS, define_math, math_function_name

__all__ = ["MATH_FUNCTIONS", "define_math", "math_function_name"]
