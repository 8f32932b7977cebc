"""The compile cache cannot be turned against its user.

Each attack writes into a cache folder and then runs a kernel in a fresh
process (or in this one with the memory caches bypassed): a pickle payload
is never unpickled, a foreign shared library is never loaded, swapped
entries are never used, symlinks and FIFOs neither hang nor redirect a read,
a folder of another user or writable by others is refused, a full disk
leaves no temporary files, and a TMPDIR that cannot hold executable code
does not disable the LLVM backend.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symnet
from symnet import diskcache
from symnet.backends.llvm import jit
from symnet.identity import kernel_identity

KERNEL = """
import sys, numpy as np, sympy as sp, symnet
x, w = sp.symbols('x w')
k = symnet.compile([symnet.logistic(w * x) * {tag}], [x, w], backend='llvm')
print(k.fn.current.compiled.from_cache, repr(float(k(0.75, 2.0)[0])))
"""

EXPECTED = 1.0 / (1.0 + np.exp(-1.5))


def _run(cache: Path, tag: int = 3, timeout: float = 120, **env_extra) -> tuple[bool, float]:
    env = dict(os.environ, SYMNET_CACHE_DIR=str(cache), **env_extra)
    r = subprocess.run([sys.executable, "-c", KERNEL.format(tag=tag)], capture_output=True,
                       text=True, env=env, check=True, timeout=timeout)
    flag, value = r.stdout.split()
    return flag == "True", float(value)


def _entries(cache: Path, kind: str) -> list[Path]:
    return sorted(cache.glob(f"*.{kind}"))


def _forge(path: Path, identity_text: bytes, payload: bytes) -> None:
    """An entry with a valid frame and checksum (what an attacker can write)."""
    body = identity_text + b"\n" + payload
    path.write_bytes(b"SYMNET2\n" + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)


def _identity_text(path: Path) -> bytes:
    data = path.read_bytes()
    return data[len(b"SYMNET2\n") + 65:].split(b"\n", 1)[0]


def test_a_pickle_in_a_program_entry_is_never_unpickled(tmp_path):
    cache = tmp_path / "cache"
    _run(cache)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for entry in _entries(cache, "prog"):
        _forge(entry, _identity_text(entry), pickle.dumps(Payload()))
    flag, value = _run(cache)
    assert not marker.exists()
    assert value == pytest.approx(3 * EXPECTED, rel=1e-15)
    # The program was derived again and stored as data (JSON), not pickle.
    for entry in _entries(cache, "prog"):
        assert b'"exprs"' in entry.read_bytes()
        assert b"\x80" not in entry.read_bytes()[:200]


def test_no_pickle_anywhere_in_the_cache_code():
    root = Path(symnet.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "pickle.loads" not in text, path


def test_a_foreign_library_under_a_key_is_never_loaded(tmp_path):
    """Replace an object entry by a library whose constructor writes a file,
    framed with a correct checksum but another request's identity."""
    cache = tmp_path / "cache"
    _run(cache)
    marker = tmp_path / "constructor-ran"
    src = tmp_path / "evil.c"
    src.write_text('#include <stdio.h>\n__attribute__((constructor)) static void f(void) '
                   f'{{ FILE *o = fopen("{marker}", "w"); if (o) fclose(o); }}\n')
    lib = tmp_path / "evil.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    entry = _entries(cache, "o")[0]
    payload = jit._Entry([b"\0"], [""], lib.read_bytes()).pack()
    _forge(entry, b'{"kind":"llvm-module","request":"something else"}', payload)
    flag, value = _run(cache)
    assert flag is False and not marker.exists()
    assert value == pytest.approx(3 * EXPECTED, rel=1e-15)


def test_swapped_entries_are_never_used(tmp_path):
    cache = tmp_path / "cache"
    _run(cache, tag=3)
    first = set(_entries(cache, "o"))
    _run(cache, tag=5)
    (a,) = first
    (b,) = set(_entries(cache, "o")) - first
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    for p in _entries(cache, "prog")[:2]:
        p.write_bytes(_entries(cache, "prog")[-1].read_bytes())
    assert _run(cache, tag=3) == (False, pytest.approx(3 * EXPECTED, rel=1e-15))
    assert _run(cache, tag=5) == (False, pytest.approx(5 * EXPECTED, rel=1e-15))
    assert _run(cache, tag=3)[0] is True  # rewritten under the right names


@pytest.mark.parametrize("kind", ["symlink to /dev/zero", "symlink to a good entry", "fifo",
                                  "directory"])
def test_special_files_neither_hang_nor_redirect(tmp_path, kind):
    cache = tmp_path / "cache"
    _run(cache)
    for entry in _entries(cache, "o") + _entries(cache, "prog"):
        good = entry.read_bytes()
        entry.unlink()
        if kind == "symlink to /dev/zero":
            entry.symlink_to("/dev/zero")
        elif kind == "symlink to a good entry":
            target = tmp_path / entry.name
            target.write_bytes(good)
            entry.symlink_to(target)
        elif kind == "fifo":
            os.mkfifo(entry)
        else:
            entry.mkdir()
    flag, value = _run(cache, timeout=60)
    assert flag is False and value == pytest.approx(3 * EXPECTED, rel=1e-15)


def test_an_oversized_entry_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    ident = kernel_identity("test", {"n": 1})
    assert diskcache.write("o", ident, b"payload")
    assert diskcache.read("o", ident) == b"payload"
    monkeypatch.setattr(diskcache, "MAX_ENTRY_BYTES", 10)
    assert diskcache.read("o", ident) is None


@pytest.mark.parametrize("mode", [0o770, 0o777, 0o757])
def test_a_folder_writable_by_others_is_refused(tmp_path, mode):
    cache = tmp_path / "shared"
    cache.mkdir()
    cache.chmod(mode)
    env = dict(os.environ, SYMNET_CACHE_DIR=str(cache))
    r = subprocess.run([sys.executable, "-c", KERNEL.format(tag=3)], capture_output=True,
                       text=True, env=env, check=True)
    assert "not using the compile cache" in r.stderr and "writable by" in r.stderr
    assert r.stderr.count("not using the compile cache") == 1
    assert float(r.stdout.split()[1]) == pytest.approx(3 * EXPECTED, rel=1e-15)
    assert not list(cache.iterdir())  # nothing written there


def test_a_folder_of_another_user_is_refused(tmp_path, monkeypatch):
    # The owner check, without a second account: this process claims another uid.
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    real = os.geteuid()
    monkeypatch.setattr(diskcache.os, "geteuid", lambda: real + 1)
    monkeypatch.setattr(diskcache, "_WARNED", set())
    with pytest.warns(diskcache.CacheWarning, match="owned by another user"):
        assert diskcache.folder() is None
    assert diskcache.read("o", kernel_identity("t", {})) is None


def test_a_new_cache_folder_is_private(tmp_path, monkeypatch):
    cache = tmp_path / "a" / "b" / "symnet"
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(cache))
    assert diskcache.folder() == cache
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert diskcache.write("o", kernel_identity("t", {}), b"x")
    (entry,) = cache.glob("*.o")
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600


def test_an_entry_of_another_request_under_the_same_name_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    a, b = kernel_identity("t", {"n": 1}), kernel_identity("t", {"n": 2})
    diskcache.write("o", a, b"for a")
    # b's request finds a's bytes under its own name: refused.
    (tmp_path / f"{b.digest}.o").write_bytes((tmp_path / f"{a.digest}.o").read_bytes())
    assert diskcache.read("o", b) is None
    assert diskcache.read("o", a) == b"for a"


FULL = """
import resource, signal, sys, os
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
import warnings; warnings.simplefilter("default")
""" + KERNEL


def test_a_full_disk_leaves_no_temporary_files(tmp_path):
    """A real failing write: RLIMIT_FSIZE makes every write past 4 KiB fail
    with EFBIG, as a full disk fails with ENOSPC (both are OSErrors the
    writer must clean up after); the kernel still runs, through MCJIT when
    the linked library cannot be written either."""
    cache = tmp_path / "cache"
    env = dict(os.environ, SYMNET_CACHE_DIR=str(cache), TMPDIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", FULL.format(tag=3)], capture_output=True,
                       text=True, env=env, check=True)
    assert float(r.stdout.split()[1]) == pytest.approx(3 * EXPECTED, rel=1e-15)
    assert not list(cache.glob(".tmp-*"))
    assert not list(cache.glob("lib/*")) and not list(tmp_path.glob("symnet-*"))
    assert "full" in r.stderr  # said once, not silently


def test_unwritable_temporary_files_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))

    def fail(fd, data):
        os.write(fd, data[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(diskcache, "_write_all", fail)
    monkeypatch.setattr(diskcache, "_WARNED", set())
    with pytest.warns(diskcache.CacheWarning, match="full"):
        assert diskcache.write("o", kernel_identity("t", {}), b"x" * 100) is False
    assert list(tmp_path.iterdir()) == []


def test_a_noexec_tmpdir_does_not_disable_the_backend(tmp_path, monkeypatch):
    """Simulated (a noexec mount needs privileges): dlopen fails for every
    file in the temporary folder. Libraries load from the cache's private
    lib folder instead; with no cache at all, kernels run through MCJIT and
    symnet says so once."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(jit.tempfile, "gettempdir", lambda: str(tmp))
    real = jit._dlopen

    def noexec(path):
        if str(path).startswith(str(tmp)):
            raise OSError(f"{path}: failed to map segment from shared object")
        return real(path)

    monkeypatch.setattr(jit, "_dlopen", noexec)
    if jit.linker() is None:
        pytest.skip("no C compiler: kernels always load through MCJIT")
    x = sp.Symbol("x")
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path / "cache"))
    k = symnet.compile([sp.exp(x) * 11], [x], backend="llvm")
    assert k.fn.current.compiled.native
    assert float(k(0.5)[0]) == pytest.approx(11 * np.exp(0.5), rel=1e-15)
    monkeypatch.setenv("SYMNET_CACHE_DIR", "")
    monkeypatch.setattr(jit, "_WARNED_MCJIT", False)
    with pytest.warns(RuntimeWarning, match="MCJIT"):
        k = symnet.compile([sp.exp(x) * 13], [x], backend="llvm")
    assert not k.fn.current.compiled.native
    assert float(k(0.5)[0]) == pytest.approx(13 * np.exp(0.5), rel=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once only
        k = symnet.compile([sp.exp(x) * 17], [x], backend="llvm")
    assert float(k(0.5)[0]) == pytest.approx(17 * np.exp(0.5), rel=1e-15)


def test_the_cache_stays_within_its_bound(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SYMNET_CACHE_MAX_BYTES", "20K")
    idents = [kernel_identity("t", {"n": n}) for n in range(12)]
    for n, ident in enumerate(idents):
        assert diskcache.write("o", ident, bytes([n]) * 4000)
        os.utime(tmp_path / f"{ident.digest}.o", (1000 + n, 1000 + n))
    total = sum(p.stat().st_size for p in tmp_path.glob("*.o"))
    assert total <= 20 * 1024
    assert diskcache.read("o", idents[-1]) is not None  # the newest is kept
    assert diskcache.read("o", idents[0]) is None       # the oldest went first


def test_stale_temporary_files_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    stale = tmp_path / ".tmp-dead-writer"
    stale.write_bytes(b"x")
    os.utime(stale, (1, 1))
    fresh = tmp_path / ".tmp-live-writer"
    fresh.write_bytes(b"y")
    diskcache.write("o", kernel_identity("t", {}), b"z")
    assert not stale.exists() and fresh.exists()


def test_cache_clear_and_info_commands(tmp_path, monkeypatch, capsys):
    from symnet.cli import main

    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    for n in range(3):
        diskcache.write("o", kernel_identity("t", {"n": n}), b"x" * 100)
    other = tmp_path / "notes.txt"
    other.write_text("mine")
    assert main(["cache", "info"]) == 0
    assert "entries: 3" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert "removed 3 files" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.o")) and other.exists()  # only symnet's files


def test_bad_cache_settings_are_clear_errors(monkeypatch):
    from symnet.config import ConfigError

    monkeypatch.setenv("SYMNET_CACHE_MAX_BYTES", "a lot")
    with pytest.raises(ConfigError, match="SYMNET_CACHE_MAX_BYTES"):
        diskcache.write("o", kernel_identity("t", {}), b"x")

