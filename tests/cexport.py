"""Test helper: build exported C with the system compiler and run it from a C driver or ctypes."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import sympy as sp

CC = shutil.which("cc") or shutil.which("gcc")
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]
_CT = {"double": "double", "float": "float"}


def sizes(fn, dims: dict) -> dict:
    """Concrete (rows, cols) of every parameter of a CFunction for these dims."""
    values = {d: dims[str(d)] for d, _ in fn.dims}
    out = {}
    for _, c, shape in fn.inputs + fn.outputs:
        out[c] = tuple(int(sp.sympify(e).subs(values)) if not isinstance(e, str) else dims[e]
                       for e in shape)
    return out


def compile_so(c_path: Path, out: Path) -> Path:
    subprocess.run([CC, *STRICT, "-fPIC", "-shared", str(c_path), "-o", str(out), "-lm"],
                   check=True, capture_output=True, text=True)
    return out


def driver_source(fn, header: str, ctype: str, dims: dict) -> str:
    """A C program: read the inputs (concatenated raw arrays) from argv[1],
    call the function, write the outputs (concatenated) to argv[2]."""
    sz = sizes(fn, dims)
    lines = ["#include <stdio.h>", "#include <stdlib.h>", f'#include "{header}"', "",
             "int main(int argc, char **argv)", "{",
             "    if (argc != 3) return 9;",
             '    FILE *in = fopen(argv[1], "rb");',
             "    if (!in) return 8;"]
    for _, c, _ in fn.inputs:
        n = int(np.prod(sz[c]))
        lines += [f"    {ctype} *{c} = malloc(sizeof({ctype}) * {n});",
                  f"    if (fread({c}, sizeof({ctype}), {n}, in) != {n}) return 7;"]
    lines.append("    fclose(in);")
    for _, c, _ in fn.outputs:
        lines.append(f"    {ctype} *{c} = malloc(sizeof({ctype}) * {int(np.prod(sz[c]))});")
    dim_args = [str(dims[str(d)]) for d, _ in fn.dims]
    lines.append(f"    {ctype} *work = malloc(sizeof({ctype}) * "
                 f"{fn.name}_work_size({', '.join(dim_args)}));")
    args = [c for _, c, _ in fn.inputs] + [c for _, c, _ in fn.outputs] + ["work", *dim_args]
    lines += [f"    const int status = {fn.name}({', '.join(args)});",
              "    if (status) return status;",
              '    FILE *out = fopen(argv[2], "wb");']
    for _, c, _ in fn.outputs:
        lines.append(f"    fwrite({c}, sizeof({ctype}), {int(np.prod(sz[c]))}, out);")
    lines.append("    fclose(out);")
    for _, c, _ in fn.inputs + fn.outputs:
        lines.append(f"    free({c});")
    lines += ["    free(work);", "    return 0;", "}"]
    return "\n".join(lines) + "\n"


def run_driver(folder: Path, c_path: Path, fn, ctype: str, dims: dict, arrays: list,
               sanitize: bool = True) -> list[np.ndarray]:
    """Compile the export with a driver (strict warnings, sanitizers) and run it."""
    dtype = np.float64 if ctype == "double" else np.float32
    drv = folder / f"{fn.name}_driver.c"
    drv.write_text(driver_source(fn, c_path.with_suffix(".h").name, ctype, dims))
    exe = folder / f"{fn.name}_driver"
    subprocess.run([CC, *STRICT, *(SANITIZE if sanitize else []), str(drv), str(c_path),
                    "-o", str(exe), "-lm"], check=True, capture_output=True, text=True)
    raw = b"".join(np.ascontiguousarray(a, dtype=dtype).tobytes() for a in arrays)
    (folder / "in.bin").write_bytes(raw)
    run = subprocess.run([str(exe), str(folder / "in.bin"), str(folder / "out.bin")],
                         capture_output=True, text=True)
    assert run.returncode == 0, (run.returncode, run.stderr[-3000:])
    data = np.frombuffer((folder / "out.bin").read_bytes(), dtype=dtype)
    sz = sizes(fn, dims)
    outs, at = [], 0
    for _, c, _ in fn.outputs:
        n = int(np.prod(sz[c]))
        outs.append(data[at:at + n].reshape(sz[c]))
        at += n
    return outs


def call_ctypes(lib_path: Path, fn, ctype: str, dims: dict, arrays: list) -> list[np.ndarray]:
    """Load the shared library and call the function through ctypes."""
    dtype = np.float64 if ctype == "double" else np.float32
    lib = ctypes.CDLL(str(lib_path))
    f = getattr(lib, fn.name)
    ws = getattr(lib, f"{fn.name}_work_size")
    ws.restype = ctypes.c_size_t
    dim_args = [ctypes.c_int64(dims[str(d)]) for d, _ in fn.dims]
    work = np.empty(ws(*dim_args), dtype=dtype)
    sz = sizes(fn, dims)
    ins = [np.ascontiguousarray(a, dtype=dtype) for a in arrays]
    outs = [np.empty(sz[c], dtype=dtype) for _, c, _ in fn.outputs]
    f.restype = ctypes.c_int
    status = f(*[a.ctypes.data_as(ctypes.c_void_p) for a in ins + outs],
               work.ctypes.data_as(ctypes.c_void_p), *dim_args)
    assert status == 0, status
    return outs
