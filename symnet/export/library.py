"""export_library: the LLVM backend's object code linked into a shared library with a C ABI."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..backends import exporter
from ..runtime import Kernel
from ..sgd import SGD
from .c import _paths, c_export, target_of

__all__ = ["export_library"]


def export_library(obj: Kernel | SGD, path: str | Path, name: str | None = None, *,
                   triple: str | None = None, cpu: str | None = None,
                   features: str | None = None, batch_size: int = 1,
                   cc: str | None = None) -> Path:
    """Compile ``obj`` (a kernel, or an SGD's whole epoch) with the LLVM backend
    and link it into ``PATH.so`` beside ``PATH.h`` -- the header
    :func:`~symnet.export.export_c` writes, so a C program calls either the
    same way; loading the library needs neither Python nor llvmlite.

    ``triple``/``cpu``/``features`` name another target (default: this host
    and its CPU): for a foreign triple the object ``PATH.o`` and its C ABI
    ``PATH_abi.c`` are written instead, to link with that target's
    toolchain (``cc -shared PATH_abi.c PATH.o``), and ``PATH.o`` is
    returned. ``batch_size`` is the batch an epoch's fast path is
    specialized for (any batch size runs). ``cc`` is the C compiler (default
    ``cc``).

    >>> import sympy as sp, symnet, tempfile, pathlib, ctypes
    >>> x = sp.Symbol("x")
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> so = export_library(symnet.compile([sp.exp(-x ** 2)], [x]), folder / "gauss")
    >>> so.name, (folder / "gauss.h").is_file(), bool(ctypes.CDLL(str(so)).gauss)
    ('gauss.so', True, True)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    path = _paths(path)
    t = target_of(obj, name or path.name)
    c_side, native_side = exporter("c"), exporter("llvm")
    native = f"{t.name}_native"
    ctype = c_side.ctype_of(t.dtype)
    spec = None if t.spec is None else dataclasses.replace(t.spec, batch_size=int(batch_size))
    objcode = native_side.export_object(t.program, native, t.dtype, t.shapes, t.dims, spec,
                                        triple, cpu, features)
    wrapper = c_side.library_wrapper(t.program, t.name, ctype, native, native_side.ALIGN,
                                     t.shapes, t.dims, spec, t.alpha)
    h_path = path.with_suffix(".h")
    h_path.write_text(c_export(obj, t.name).header)
    if triple is not None and triple != native_side.host_triple():
        o_path = path.with_suffix(".o")
        o_path.write_bytes(objcode)
        path.with_name(path.name + "_abi.c").write_text(
            wrapper.replace(f'#include "{t.name}.h"', f'#include "{h_path.name}"'))
        return o_path
    compiler = shutil.which(cc or "cc")
    if compiler is None:
        raise RuntimeError(f"no C compiler {cc or 'cc'!r} on PATH to link {path}.so")
    so = path.with_suffix(".so")
    with tempfile.TemporaryDirectory(prefix="symnet-export-") as tmp:
        o = Path(tmp) / f"{t.name}.o"
        o.write_bytes(objcode)
        w = Path(tmp) / f"{t.name}_abi.c"
        w.write_text(wrapper)
        shutil.copy(h_path, Path(tmp) / f"{t.name}.h")
        # -Bsymbolic: the library's calls stay inside it whatever else is loaded.
        cmd = [compiler, "-std=c99", "-O2", "-fPIC", "-shared", "-Wl,-Bsymbolic", str(w),
               str(o), "-o", str(so), "-lm"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"linking {so} failed ({' '.join(cmd)}):\n{done.stderr}")
    return so
