"""Which code a matrix product gets: chosen once its dimensions are known, per call otherwise."""

from __future__ import annotations

import sympy as sp

__all__ = ["PRODUCT_VERSIONS", "product_versions"]

#: The versions of a product's code: dot products down one column ("dot"), loops
#: i-p-j register-blocked over rows ("ipj"), a BLAS ?gemm call ("blas").
PRODUCT_VERSIONS = frozenset({"dot", "ipj", "blas"})

#: BLAS takes 32-bit sizes.
_BLAS_MAX = 2**31 - 1


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
