"""C backend: a kernel plan -> dependency-free C99 source and its header (for export).

Modules: :mod:`.body` (scalar bodies through the registry rows), :mod:`.ops`
(loops per op), :mod:`.linalg` (elimination and Kronecker loops),
:mod:`.kernel` (one function per plan), :mod:`.epoch` (a whole SGD epoch),
:mod:`.files` (the ``.c`` and ``.h`` texts), :mod:`.library` (the C ABI of a
shared library around another backend's object code).
"""

from __future__ import annotations

from .epoch import generate_epoch
from .files import CExport, ctype_of, export_epoch, export_kernel, header_text, source_text
from .kernel import CFunction, c_names, generate_function
from .library import library_wrapper

__all__ = ["CExport", "CFunction", "c_names", "ctype_of", "export_epoch", "export_kernel",
           "generate_epoch", "generate_function", "header_text", "library_wrapper", "source_text"]
