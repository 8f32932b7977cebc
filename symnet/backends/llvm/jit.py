"""Host target machine, the optimization pipeline, loading native code, the compile cache.

Code is generated once per module as a position-independent object file.
With a C compiler on the PATH (``$SYMNET_LINKER``, default ``cc``; ``''``
disables it) the object is linked into a shared library that is stored in
the cache next to the object and loaded with :mod:`ctypes`: a warm process
then runs cached kernels without loading LLVM at all (llvmlite's LLVM
library alone takes longer to load than the warm-start budget). Without a
linker the object goes to an MCJIT engine instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llvmlite

from ... import diskcache

__all__ = ["Compiled", "compile_module", "host_cpu", "linker", "target_machine"]

_LLVM: Any = None


def _llvm() -> Any:
    """llvmlite.binding, loaded (with the native target) on first need."""
    global _LLVM
    if _LLVM is None:
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _LLVM = llvm
    return _LLVM


def host_cpu() -> tuple[str, str]:
    """(cpu name, feature string) of this machine, as LLVM sees it."""
    llvm = _llvm()
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def target_machine() -> Any:
    """A target machine for the host CPU emitting position-independent code."""
    # One machine per engine: MCJIT takes ownership and frees it with the engine.
    llvm = _llvm()
    cpu, features = host_cpu()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=cpu, features=features, opt=3, reloc="pic", codemodel="small")


def linker() -> str | None:
    """The C compiler driver used to link objects into shared libraries, or None.

    >>> import os
    >>> os.environ["SYMNET_LINKER"] = ""
    >>> linker() is None
    True
    >>> del os.environ["SYMNET_LINKER"]
    """
    name = os.environ.get("SYMNET_LINKER", "cc")
    if not name or sys.platform != "linux":
        return None
    return shutil.which(name)


class Compiled:
    """A compiled module: the loaded code (kept alive), addresses and text forms.

    ``ir`` is produced on request when the module came from the cache, and
    so is the assembly.
    """

    def __init__(self, loaded: Any, ir: str | Callable[[], str], optimized_ir: str,
                 from_cache: bool):
        self.loaded = loaded  # a ctypes.CDLL or an MCJIT engine
        self._ir = ir
        self.optimized_ir = optimized_ir
        self.from_cache = from_cache
        self._asm: str | None = None

    @property
    def native(self) -> bool:
        """True when the code runs from a linked shared library (no LLVM loaded)."""
        return isinstance(self.loaded, ctypes.CDLL)

    @property
    def ir(self) -> str:
        """The module's LLVM IR as emitted (before optimization)."""
        if callable(self._ir):
            self._ir = self._ir()
        return self._ir

    @property
    def asm(self) -> str:
        """Assembly of the optimized module (generated on first request)."""
        if self._asm is None:
            llvm = _llvm()
            self._asm = target_machine().emit_assembly(llvm.parse_assembly(self.optimized_ir))
        return self._asm

    def address(self, name: str) -> int:
        """Address of the function ``name``."""
        if self.native:
            return ctypes.cast(getattr(self.loaded, name), ctypes.c_void_p).value or 0
        return self.loaded.get_function_address(name)

    def global_address(self, name: str) -> int:
        """Address of the global variable ``name`` (0 if the module has none)."""
        if self.native:
            try:
                return ctypes.addressof(ctypes.c_void_p.in_dll(self.loaded, name))
            except ValueError:
                return 0
        return self.loaded.get_global_value_address(name)


class _Entry:
    """What the cache keeps per module: object, optimized IR, shared library."""

    __slots__ = ("obj", "opt", "lib")

    def __init__(self, obj: bytes, opt: str, lib: bytes):
        self.obj, self.opt, self.lib = obj, opt, lib

    def pack(self) -> bytes:
        parts = (self.obj, self.opt.encode(), self.lib)
        head = " ".join(str(len(p)) for p in parts).ljust(60).encode("ascii")
        return head + b"".join(parts)

    @classmethod
    def unpack(cls, payload: bytes) -> _Entry | None:
        try:
            sizes = [int(x) for x in payload[:60].decode("ascii").split()]
        except (UnicodeDecodeError, ValueError):
            return None
        body = payload[60:]
        if len(sizes) != 3 or sum(sizes) != len(body):
            return None
        a, b = sizes[0], sizes[0] + sizes[1]
        try:
            return cls(body[:a], body[a:b].decode(), body[b:])
        except UnicodeDecodeError:
            return None


_MEMORY: dict[str, _Entry] = {}
_LOADED: dict[str, Any] = {}


def _code_version() -> str:
    """Hash of the code that turns a program into IR: a change rebuilds."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in ("emit.py", "vecmath.py", "jit.py", "__init__.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()


_CODE_VERSION = _code_version()


def _host_fingerprint() -> str:
    """What the generated code depends on about this host, read without LLVM.

    On Linux: the CPU model and feature flags from /proc/cpuinfo (the
    source LLVM's host detection also reflects) and the llvmlite library
    file itself; elsewhere LLVM's own host name and features.
    """
    parts = [platform.machine(), llvmlite.__version__]
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    first = cpuinfo.split("\n\n", 1)[0]
    fields = {}
    for line in first.splitlines():
        k, _, v = line.partition(":")
        fields[k.strip()] = v.strip()
    wanted = ("vendor_id", "cpu family", "model", "model name", "flags")
    if all(k in fields for k in wanted):
        parts += [fields[k] for k in wanted]
    else:
        parts += list(host_cpu())
    lib = Path(llvmlite.__file__).parent / "binding"
    for so in sorted(lib.glob("libllvmlite*")):
        st = so.stat()
        parts += [so.name, str(st.st_size), str(st.st_mtime_ns)]
    return "\0".join(parts)


_HOST: str | None = None


def _key(key_text: str) -> str:
    from ... import __version__

    global _HOST
    if _HOST is None:
        _HOST = _host_fingerprint()
    h = hashlib.sha256()
    for part in (key_text, _CODE_VERSION, _HOST, __version__, linker() or "mcjit"):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _link(obj: bytes) -> bytes:
    """Link an object file into a shared library with the system compiler
    (b"" when there is no linker or it fails: the caller falls back to MCJIT)."""
    cc = linker()
    if cc is None:
        return b""
    with tempfile.TemporaryDirectory(prefix="symnet-link-") as tmp:
        o, so = Path(tmp) / "m.o", Path(tmp) / "m.so"
        o.write_bytes(obj)
        # -Bsymbolic: calls between a module's own functions never resolve
        # to a same-named symbol of another loaded module.
        cmd = [cc, "-shared", "-nostdlib", "-Wl,-Bsymbolic", "-o", str(so), str(o),
               "-lm", "-lc"]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return b""
        if done.returncode != 0 or not so.is_file():
            return b""
        return so.read_bytes()


def _load_library(lib: bytes) -> ctypes.CDLL:
    """dlopen exactly these (already verified) bytes.

    They go to a new private file that is unlinked once mapped: a path is
    never reused (the dynamic loader would hand back an earlier library
    of the same name) and nothing can change the bytes between the check
    and the load.
    """
    fd, path = tempfile.mkstemp(prefix="symnet-", suffix=".so")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(lib)
        return ctypes.CDLL(path, mode=os.RTLD_LOCAL | os.RTLD_NOW)
    finally:
        os.unlink(path)


def _engine_from_object(obj: bytes) -> Any:
    llvm = _llvm()
    tm = target_machine()
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    return engine


def _load(key: str, entry: _Entry) -> Any:
    hit = _LOADED.get(key)
    if hit is None:
        hit = _load_library(entry.lib) if entry.lib else _engine_from_object(entry.obj)
        _LOADED[key] = hit
    return hit


def compile_module(key_text: str, build_ir: Callable[[], str],
                   use_cache: bool = True) -> Compiled:
    """Optimize (O3, host CPU), generate and load a module, through the caches.

    ``key_text`` describes the module completely (with this code's version
    it names the cache entry); ``build_ir`` emits its IR, called only on a
    miss. Code is generated once, as an object file that both the cache and
    the loader take; assembly is produced only when asked for.
    """
    key = _key(key_text)
    if use_cache:
        hit = _MEMORY.get(key)
        if hit is None:
            payload = diskcache.read("o", key)
            hit = _Entry.unpack(payload) if payload is not None else None
            if hit is not None:
                _MEMORY[key] = hit
        if hit is not None:
            return Compiled(_load(key, hit), build_ir, hit.opt, True)
    llvm = _llvm()
    ir_text = build_ir()
    ref = llvm.parse_assembly(ir_text)
    ref.verify()
    tm = target_machine()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    # Interleaving and unrolling triple the code (and the compile time) of
    # the many short loops a training step has, for little speed.
    pto.loop_interleaving = False
    pto.loop_unrolling = False
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(ref, pb)
    opt = str(ref)
    obj = tm.emit_object(ref)
    entry = _Entry(obj, opt, _link(obj))
    if use_cache:
        _MEMORY[key] = entry
        diskcache.write("o", key, entry.pack())
        loaded = _load(key, entry)
    else:
        loaded = _load_library(entry.lib) if entry.lib else _engine_from_object(obj)
    return Compiled(loaded, ir_text, opt, False)
