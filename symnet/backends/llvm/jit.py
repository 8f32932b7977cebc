"""Host target machine, the optimization pipeline, MCJIT engines and the compile cache."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from ... import diskcache

__all__ = ["Compiled", "compile_module", "host_cpu", "target_machine"]

llvm.initialize_native_target()
llvm.initialize_native_asmprinter()



def host_cpu() -> tuple[str, str]:
    """(cpu name, feature string) of this machine."""
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def target_machine() -> llvm.TargetMachine:
    # One machine per engine: MCJIT takes ownership and frees it with the engine.
    cpu, features = host_cpu()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=cpu, features=features, opt=3, reloc="default", codemodel="jitdefault")


class Compiled:
    """A JIT-compiled module: the engine (kept alive), addresses and text forms.

    ``ir`` is produced on request when the module came from the cache.
    """

    def __init__(self, engine: object, ir: str | Callable[[], str], optimized_ir: str,
                 from_cache: bool):
        self.engine = engine
        self._ir = ir
        self.optimized_ir = optimized_ir
        self.from_cache = from_cache
        self._asm: str | None = None

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
            self._asm = target_machine().emit_assembly(llvm.parse_assembly(self.optimized_ir))
        return self._asm

    def address(self, name: str) -> int:
        return self.engine.get_function_address(name)


_MEMORY: dict[str, tuple[bytes, str]] = {}


def _code_version() -> str:
    """Hash of the code that turns a program into IR: a change rebuilds."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in ("emit.py", "vecmath.py", "jit.py", "__init__.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()


_CODE_VERSION = _code_version()


def _key(key_text: str) -> str:
    from ... import __version__

    cpu, features = host_cpu()
    h = hashlib.sha256()
    for part in (key_text, _CODE_VERSION, cpu, features, __version__, llvmlite.__version__,
                 llvm.llvm_version_info.__repr__()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _read_entry(key: str) -> tuple[bytes, str] | None:
    payload = diskcache.read("o", key)
    if payload is None:
        return None
    try:
        n_obj, n_opt = (int(x) for x in payload[:40].decode("ascii").split())
    except ValueError:
        return None
    body = payload[40:]
    if len(body) != n_obj + n_opt:
        return None
    return body[:n_obj], body[n_obj:].decode()


def _write_entry(key: str, obj: bytes, opt: str) -> None:
    opt_b = opt.encode()
    diskcache.write("o", key, f"{len(obj)} {len(opt_b)}".ljust(40).encode("ascii") + obj + opt_b)


def _engine_from_object(obj: bytes) -> object:
    tm = target_machine()
    empty = llvm.parse_assembly("")
    engine = llvm.create_mcjit_compiler(empty, tm)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    return engine


def compile_module(key_text: str, build_ir: Callable[[], str],
                   use_cache: bool = True) -> Compiled:
    """Optimize (O3, host CPU) and JIT a module, through the memory and disk caches.

    ``key_text`` describes the module completely (with this code's version
    it names the cache entry); ``build_ir`` emits its IR, called only on a
    miss. Code is generated once, as an object file that both the cache and
    the engine take; assembly is produced only when asked for.
    """
    key = _key(key_text)
    if use_cache:
        hit = _MEMORY.get(key)
        if hit is None:
            hit = _read_entry(key)
            if hit is not None:
                _MEMORY[key] = hit
        if hit is not None:
            obj, opt = hit
            return Compiled(_engine_from_object(obj), build_ir, opt, True)
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
    if use_cache:
        _MEMORY[key] = (obj, opt)
        _write_entry(key, obj, opt)
    return Compiled(_engine_from_object(obj), ir_text, opt, False)
