"""Host target machine, the optimization pipeline, MCJIT engines and the compile cache."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

__all__ = ["Compiled", "cache_dir", "compile_module", "host_cpu"]

llvm.initialize_native_target()
llvm.initialize_native_asmprinter()

_MAGIC = b"SYMNETOBJ1\n"


def host_cpu() -> tuple[str, str]:
    """(cpu name, feature string) of this machine."""
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def target_machine() -> llvm.TargetMachine:
    # One machine per engine: MCJIT takes ownership and frees it with the engine.
    cpu, features = host_cpu()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=cpu, features=features, opt=3, reloc="default", codemodel="jitdefault")


def cache_dir() -> Path | None:
    """On-disk cache folder: $SYMNET_CACHE_DIR, else the user cache dir; '' disables."""
    env = os.environ.get("SYMNET_CACHE_DIR")
    if env is not None:
        return Path(env) if env else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symnet"


class Compiled:
    """A JIT-compiled module: the engine (kept alive), addresses and text forms."""

    def __init__(self, engine: object, ir_text: str, optimized_ir: str, from_cache: bool):
        self.engine = engine
        self.ir = ir_text
        self.optimized_ir = optimized_ir
        self.from_cache = from_cache
        self._asm: str | None = None

    @property
    def asm(self) -> str:
        """Assembly of the optimized module (generated on first request)."""
        if self._asm is None:
            self._asm = target_machine().emit_assembly(llvm.parse_assembly(self.optimized_ir))
        return self._asm

    def address(self, name: str) -> int:
        return self.engine.get_function_address(name)


_MEMORY: dict[str, tuple[bytes, str]] = {}


def _key(ir_text: str) -> str:
    from ... import __version__

    cpu, features = host_cpu()
    h = hashlib.sha256()
    for part in (ir_text, cpu, features, __version__, llvmlite.__version__,
                 llvm.llvm_version_info.__repr__()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _read_entry(path: Path) -> tuple[bytes, str] | None:
    """An entry is MAGIC, sha256 of the payload, payload; anything else is stale."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 64:
        return None
    digest = data[len(_MAGIC):len(_MAGIC) + 64].decode("ascii", "replace")
    payload = data[len(_MAGIC) + 64:]
    if hashlib.sha256(payload).hexdigest() != digest:
        return None
    try:
        n_obj, n_opt = (int(x) for x in payload[:40].decode("ascii").split())
    except ValueError:
        return None
    body = payload[40:]
    if len(body) != n_obj + n_opt:
        return None
    return body[:n_obj], body[n_obj:].decode()


def _write_entry(path: Path, obj: bytes, opt: str) -> None:
    opt_b = opt.encode()
    payload = f"{len(obj)} {len(opt_b)}".ljust(40).encode("ascii") + obj + opt_b
    data = _MAGIC + hashlib.sha256(payload).hexdigest().encode("ascii") + payload
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: concurrent writers each produce a whole file and
        # readers never see a partial one.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache only costs a recompile


def _engine_from_object(obj: bytes) -> object:
    tm = target_machine()
    empty = llvm.parse_assembly("")
    engine = llvm.create_mcjit_compiler(empty, tm)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    return engine


def compile_module(ir_text: str, use_cache: bool = True) -> Compiled:
    """Optimize (O3, host CPU) and JIT a module, through the memory and disk caches.

    Code is generated once, as an object file that both the cache and the
    engine take; assembly is produced only when asked for.
    """
    key = _key(ir_text)
    folder = cache_dir() if use_cache else None
    if use_cache:
        hit = _MEMORY.get(key)
        if hit is None and folder is not None:
            hit = _read_entry(folder / f"{key}.o")
            if hit is not None:
                _MEMORY[key] = hit
        if hit is not None:
            obj, opt = hit
            return Compiled(_engine_from_object(obj), ir_text, opt, True)
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
    if use_cache:
        _MEMORY[key] = (obj, opt)
        if folder is not None:
            _write_entry(folder / f"{key}.o", obj, opt)
    return Compiled(_engine_from_object(obj), ir_text, opt, False)
