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
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llvmlite

from ... import config, diskcache
from ...identity import Identity
from ...lru import LRU

__all__ = ["Compiled", "compile_jobs", "compile_module", "host_cpu", "linker",
           "target_fingerprint", "target_machine"]

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


#: LLVM's x86 tuning flags that cap the vectorizer's width, by the width they leave.
_WIDTH_TUNING = {128: "+prefer-128-bit,-prefer-256-bit", 256: "-prefer-128-bit,+prefer-256-bit",
                 512: "-prefer-128-bit,-prefer-256-bit"}


def vector_tuning(features: str) -> str:
    """The tuning flags for :func:`config.vector_width` added to a feature string.

    LLVM's tuning for AVX-512 CPUs keeps loops at 256 bits (frequency drops on
    older parts); for symnet's loops 512 bits measured faster here (W1's epoch
    1.15 -> 0.84 ms, W3 1.25x), so AVX-512 hosts get 512 unless the setting
    says otherwise. Not an x86 feature string: unchanged.

    >>> vector_tuning("+sse2,+avx2,+avx512f,+fma").endswith("-prefer-256-bit")
    True
    >>> vector_tuning("+neon")
    '+neon'
    """
    width = config.vector_width()
    if not width:
        width = 512 if "+avx512f" in features.split(",") else 0
    if not width or "+sse2" not in features.split(","):
        return features
    return f"{features},{_WIDTH_TUNING[width]}"


def vector_bits() -> int:
    """The vector width (bits) the host's loops use: ``$SYMNET_VECTOR_WIDTH``,
    else 512 with AVX-512 (see :func:`vector_tuning`), 256 with AVX, else 128."""
    width = config.vector_width()
    if width:
        return width
    features = host_cpu()[1].split(",")
    return 512 if "+avx512f" in features else 256 if "+avx" in features else 128


def target_machine() -> Any:
    """A target machine for the host CPU emitting position-independent code."""
    # One machine per engine: MCJIT takes ownership and frees it with the engine.
    llvm = _llvm()
    cpu, features = host_cpu()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=cpu, features=vector_tuning(features), opt=3, reloc="pic", codemodel="small")


def linker() -> str | None:
    """The C compiler driver used to link objects into shared libraries, or None.

    >>> import os
    >>> os.environ["SYMNET_LINKER"] = ""
    >>> linker() is None
    True
    >>> del os.environ["SYMNET_LINKER"]
    """
    name = config.linker_name()
    if not name or sys.platform != "linux":
        return None
    return shutil.which(name)


def _join(parts: list[str]) -> str:
    """Parts of one module as one text, each under a comment naming it."""
    if len(parts) == 1:
        return parts[0]
    return "\n".join(f"; ---- part {k} of {len(parts)} ----\n{t}" for k, t in enumerate(parts))


def compile_jobs() -> int:
    """Processes that compile the parts of a module at once (``$SYMNET_COMPILE_JOBS``,
    see :mod:`symnet.config`); parallel compiling needs fork().

    >>> import os
    >>> os.environ["SYMNET_COMPILE_JOBS"] = "1"
    >>> compile_jobs()
    1
    >>> del os.environ["SYMNET_COMPILE_JOBS"]
    """
    return config.compile_jobs()


class Compiled:
    """A compiled module: the loaded code (kept alive), addresses and text forms.

    ``ir`` is produced on request when the module came from the cache, and
    so is the assembly.
    """

    def __init__(self, loaded: Any, ir: Callable[[], list[str]] | list[str],
                 optimized: list[str], from_cache: bool):
        self.loaded = loaded  # a ctypes.CDLL or an MCJIT engine
        self._ir = ir
        self.optimized_parts = optimized
        self.from_cache = from_cache
        self._asm: str | None = None

    @property
    def optimized_ir(self) -> str:
        """The module's IR after the O2 pipeline (its parts one after another)."""
        return _join(self.optimized_parts)

    @property
    def native(self) -> bool:
        """True when the code runs from a linked shared library (no LLVM loaded)."""
        return isinstance(self.loaded, ctypes.CDLL)

    @property
    def ir(self) -> str:
        """The module's LLVM IR as emitted (before optimization)."""
        if callable(self._ir):
            self._ir = self._ir()
        return _join(self._ir)

    @property
    def asm(self) -> str:
        """Assembly of the optimized module (generated on first request)."""
        if self._asm is None:
            llvm = _llvm()
            self._asm = _join([target_machine().emit_assembly(llvm.parse_assembly(t))
                               for t in self.optimized_parts])
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


def _pack(parts: list[bytes]) -> bytes:
    head = " ".join(str(len(b)) for b in parts).encode("ascii") + b"\n"
    return head + b"".join(parts)


def _unpack(payload: bytes) -> list[bytes] | None:
    head, sep, body = payload.partition(b"\n")
    try:
        sizes = [int(x) for x in head.decode("ascii").split()]
    except (UnicodeDecodeError, ValueError):
        return None
    if not sep or any(n < 0 for n in sizes) or sum(sizes) != len(body):
        return None
    out, at = [], 0
    for n in sizes:
        out.append(body[at:at + n])
        at += n
    return out


class _Entry:
    """What the cache keeps per module: its parts' objects and optimized IR,
    and the shared library linked from them (empty without a linker)."""

    __slots__ = ("objs", "opts", "lib")

    def __init__(self, objs: list[bytes], opts: list[str], lib: bytes):
        self.objs, self.opts, self.lib = objs, opts, lib

    def pack(self) -> bytes:
        return _pack([str(len(self.objs)).encode(), *self.objs,
                      *(o.encode() for o in self.opts), self.lib])

    @classmethod
    def unpack(cls, payload: bytes) -> _Entry | None:
        parts = _unpack(payload)
        if not parts:
            return None
        try:
            n = int(parts[0].decode("ascii"))
            if n < 1 or len(parts) != 2 * n + 2:
                return None
            return cls(parts[1:n + 1], [b.decode() for b in parts[n + 1:2 * n + 1]],
                       parts[-1])
        except (UnicodeDecodeError, ValueError):
            return None


#: Modules' objects by identity digest, and what loading them gave (a
#: library or an engine; a Compiled keeps its own reference, so dropping an
#: old entry here never unloads code a kernel still uses).
_MEMORY: LRU[_Entry] = LRU(256)
_LOADED: LRU[Any] = LRU(256)


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


def target_fingerprint() -> str:
    """What generated code depends on besides its request: the host CPU (as
    :func:`_host_fingerprint` reads it), llvmlite's library, and how objects
    are loaded (the linker, or MCJIT)."""
    global _HOST
    if _HOST is None:
        _HOST = _host_fingerprint()
    cc = linker()
    how = " ".join([cc, *_runtime_libraries()]) if cc else "mcjit"
    return f"{_HOST}\0{how}\0{config.vector_width()}"


#: The system libraries generated code may call (memset and memcpy, and the
#: libm routines LLVM lowers some intrinsics to), each with symbols to find.
_RUNTIME_LIBRARIES = (("-lc", ("memset", "memcpy", "memmove")),
                      ("-lm", ("sin", "fmod", "powf")))

_LIBS: list[str] | None = None


def _runtime_libraries() -> list[str]:
    """The ``-l`` flags of the runtime libraries this process does not
    already have in its global symbol scope.

    Reading libc's symbol table is most of a link (~10 of ~13 ms here). A
    library with undefined symbols resolves them from the global scope when
    it is loaded, and every CPython on glibc has libc and libm there, so
    those are linked only where they are missing. The flags are part of
    :func:`target_fingerprint`, so a process that needs them never loads a
    library linked without.
    """
    global _LIBS
    if _LIBS is None:
        scope = ctypes.CDLL(None)
        _LIBS = [flag for flag, names in _RUNTIME_LIBRARIES
                 if not all(hasattr(scope, n) for n in names)]
    return _LIBS


def _link(objs: list[bytes]) -> bytes:
    """Link object files into one shared library with the system compiler
    (b"" when there is no linker or it fails: the caller falls back to MCJIT)."""
    cc = linker()
    if cc is None:
        return b""
    with tempfile.TemporaryDirectory(prefix="symnet-link-") as tmp:
        so = Path(tmp) / "m.so"
        files = []
        for k, obj in enumerate(objs):
            files.append(Path(tmp) / f"m{k}.o")
            files[-1].write_bytes(obj)
        # -Bsymbolic: calls between a module's own functions never resolve
        # to a same-named symbol of another loaded module.
        cmd = [cc, "-shared", "-nostdlib", "-Wl,-Bsymbolic", "-o", str(so),
               *map(str, files), *_runtime_libraries()]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return b""
        if done.returncode != 0 or not so.is_file():
            return b""
        return so.read_bytes()


def _load_library(lib: bytes) -> ctypes.CDLL | None:
    """dlopen exactly these (already verified) bytes, or None if no folder
    lets us (full, or mounted noexec).

    They go to a new private file that is unlinked once mapped: a path is
    never reused (the dynamic loader would hand back an earlier library
    of the same name) and nothing can change the bytes between the check
    and the load. The file lives in the cache's private ``lib`` folder, else
    in the temporary folder.
    """
    tried = []
    for where in (diskcache.library_dir(), tempfile.gettempdir()):
        if where is None:
            continue
        path = None
        try:
            fd, path = tempfile.mkstemp(prefix="symnet-", suffix=".so", dir=where)
            with os.fdopen(fd, "wb") as f:
                f.write(lib)
            return _dlopen(path)
        except OSError as exc:
            tried.append(f"{where} ({exc.strerror or exc})")
        finally:
            if path is not None:
                try:
                    os.unlink(path)
                except OSError:
                    pass
    _warn_mcjit_once("symnet: cannot load compiled libraries from "
                     f"{' or '.join(tried)}; running kernels through MCJIT instead")
    return None


def _dlopen(path: str) -> ctypes.CDLL:
    return ctypes.CDLL(path, mode=os.RTLD_LOCAL | os.RTLD_NOW)


_WARNED_MCJIT = False


def _warn_mcjit_once(message: str) -> None:
    global _WARNED_MCJIT
    if not _WARNED_MCJIT:
        _WARNED_MCJIT = True
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def _engine_from_objects(objs: list[bytes]) -> Any:
    llvm = _llvm()
    tm = target_machine()
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
    for obj in objs:
        engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    return engine


def _load_entry(entry: _Entry) -> Any:
    if entry.lib:
        lib = _load_library(entry.lib)
        if lib is not None:
            return lib
    return _engine_from_objects(entry.objs)


def _load(key: str, entry: _Entry) -> Any:
    hit = _LOADED.get(key)
    if hit is None:
        hit = _LOADED[key] = _load_entry(entry)
    return hit


def _compile_one(ir_text: str, tm: Any = None) -> tuple[bytes, str]:
    """(object code, optimized IR) of one module: O2 for the host CPU (or ``tm``)."""
    llvm = _llvm()
    ref = llvm.parse_assembly(ir_text)
    ref.verify()
    tm = target_machine() if tm is None else tm
    # O2, not O3: O3's extra passes (aggressive instcombine, non-trivial
    # unswitching, argument promotion) cost a cold W1 step ~15% of its
    # optimization time and gave no measurable speed on W1-W3 here.
    pto = llvm.create_pipeline_tuning_options(speed_level=2)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    # Interleaving and unrolling triple the code (and the compile time) of
    # the many short loops a training step has, for little speed.
    pto.loop_interleaving = False
    pto.loop_unrolling = False
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(ref, pb)
    return tm.emit_object(ref), str(ref)


def _fork_compile(ir_text: str) -> tuple[int, int] | None:
    """Compile one module in a forked child; (pid, read end of its pipe), or None.

    LLVM holds its state per process, and llvmlite serializes every call
    in a process behind one lock, so separate processes are the way to use
    a second core. The child only compiles, writes its result and leaves
    through os._exit (no atexit handlers, no flushing of inherited buffers).
    """
    import warnings

    llvm = _llvm()
    r, w = os.pipe()
    # No thread of this process may be inside LLVM while it is copied.
    lock = getattr(getattr(llvm.ffi, "lib", None), "_lock", None)
    try:
        with warnings.catch_warnings():
            # Python >= 3.12 warns about fork() with threads alive (such as
            # idle BLAS workers); the child touches none of their state.
            warnings.simplefilter("ignore", DeprecationWarning)
            if lock is not None:
                with lock:
                    pid = os.fork()
            else:
                pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return None
    if pid == 0:  # the child
        code = 1
        try:
            os.close(r)
            obj, opt = _compile_one(ir_text)
            with os.fdopen(w, "wb") as f:
                f.write(_pack([obj, opt.encode()]))
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def _fork_result(pid: int, r: int) -> tuple[bytes, str] | None:
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    parts = _unpack(data) if status == 0 else None
    if not parts or len(parts) != 2:
        return None
    try:
        return parts[0], parts[1].decode()
    except UnicodeDecodeError:
        return None


def _compile_all(texts: list[str]) -> tuple[list[bytes], list[str]]:
    """Compile the parts of a module, the later ones in forked children."""
    children = [_fork_compile(t) if compile_jobs() > 1 else None for t in texts[1:]]
    results: list[tuple[bytes, str] | None] = []
    try:
        results.append(_compile_one(texts[0]))
    finally:
        for child in children:
            results.append(_fork_result(*child) if child is not None else None)
    for k, res in enumerate(results):
        if res is None:  # no fork, or the child failed: compile it here
            results[k] = _compile_one(texts[k])
    return [o for o, _ in results], [t for _, t in results]


def compile_module(ident: Identity, build_ir: Callable[[], list[str]],
                   use_cache: bool = True) -> Compiled:
    """Optimize (O2, host CPU), generate and load a module, through the caches.

    ``ident`` is the module's identity (:func:`symnet.identity.kernel_identity`
    of everything ``build_ir`` reads); ``build_ir`` emits its IR -- the texts
    of its parts, main part first, compiled in parallel and linked together --
    and is called only on a miss. A disk entry is used only if it records
    this very identity. Code is generated once, as object files that both
    the cache and the loader take; assembly only when asked for.
    """
    key = ident.digest
    if use_cache:
        hit = _MEMORY.get(key)
        if hit is None:
            payload = diskcache.read("o", ident)
            hit = _Entry.unpack(payload) if payload is not None else None
            if hit is not None:
                _MEMORY[key] = hit
        if hit is not None:
            return Compiled(_load(key, hit), build_ir, hit.opts, True)
    texts = build_ir()
    objs, opts = _compile_all(texts)
    entry = _Entry(objs, opts, _link(objs))
    if use_cache:
        _MEMORY[key] = entry
        diskcache.write("o", ident, entry.pack())
        loaded = _load(key, entry)
    else:
        loaded = _load_entry(entry)
    return Compiled(loaded, texts, opts, False)
