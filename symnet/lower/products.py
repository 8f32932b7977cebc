"""Which code a matrix product gets: chosen once its dimensions are known, per call otherwise."""

from __future__ import annotations

import sympy as sp

__all__ = ["PRODUCT_VERSIONS", "product_dims", "product_versions"]

#: The versions of a product's code: dot products down one column ("dot"), loops
#: i-p-j register-blocked over rows ("ipj"), a BLAS ?gemm call ("blas").
PRODUCT_VERSIONS = frozenset({"dot", "ipj", "blas"})

#: BLAS takes 32-bit sizes.
_BLAS_MAX = 2**31 - 1


def product_dims(s, shapes: dict | None = None, const_dims: dict | None = None) -> tuple:
    """(rows, cols, inner) of a ``matmul`` step, from ``shapes`` (buffer name ->
    shape) or else from the step's own shapes, with the dimensions a plan fixes
    (``const_dims``, e.g. a batch of one) put in.

    >>> from symnet.schedule import Step
    >>> m = sp.Symbol("m")
    >>> s = Step("c", "matmul", ("a", "b"), (3, m), (True, False), ((4, 3), (4, m)))
    >>> product_dims(s), product_dims(s, const_dims={m: 1})
    ((3, m, 4), (3, 1, 4))
    """
    rows, cols = shapes[s.out] if shapes is not None else s.shape
    a_rows, a_cols = shapes[s.args[0]] if shapes is not None else s.arg_shapes[0]
    dims = rows, cols, a_rows if s.attr[0] else a_cols
    if const_dims:
        dims = tuple(sp.sympify(d).subs(const_dims) for d in dims)
    return dims


def product_versions(rows, cols, inner, threshold: int) -> frozenset[str] | None:
    """The versions a product of these dimensions needs, or None when one of
    them is known only at run time (the code then chooses per call).

    A product of ``threshold`` multiply-adds or more may call BLAS (the loops
    stay as the fallback for a machine without it); a single column is a
    set of dot products; anything else runs the i-p-j loops.

    >>> sorted(product_versions(32, 1, 64, 32768)), sorted(product_versions(256, 64, 784, 32768))
    (['dot'], ['blas', 'ipj'])
    >>> product_versions(32, sp.Symbol("m"), 64, 32768) is None
    True
    """
    dims = [sp.sympify(d) for d in (rows, cols, inner)]
    if not all(d.is_Integer for d in dims):
        return None
    r, c, k = (int(d) for d in dims)
    versions = {"dot" if c == 1 else "ipj"}
    if r * c * k >= threshold and max(r, c, k) <= _BLAS_MAX:
        versions.add("blas")
    return frozenset(versions)
