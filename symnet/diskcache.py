"""The on-disk compile cache: private, bounded, and checked before anything in it is used.

An entry is one file ``<digest>.<kind>`` holding a magic line, the sha256 of
the rest, the full identity text of the request that wrote it (see
:mod:`symnet.identity`) and the payload. Reading an entry:

- uses the folder only if it is a directory owned by this user and not
  writable by group or others (else: one warning, no disk cache);
- opens the file without following symlinks and without blocking, and
  reads it only if it is a regular file of this user of bounded size;
- returns the payload only if the checksum holds and the stored identity is
  exactly the requested one (a copied or swapped entry is never used).

Payloads are data (JSON programs, object code); nothing read from the cache
is unpickled. Writes go to a temporary file that is renamed into place (and
removed if the write fails); the folder is kept below
``$SYMNET_CACHE_MAX_BYTES`` by dropping the least recently used entries.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
import time
import warnings
from pathlib import Path

from . import config
from .errors import CacheWarning
from .identity import Identity

__all__ = ["CacheWarning", "MAX_ENTRY_BYTES", "clear", "folder", "info", "library_dir",
           "read", "write"]

_MAGIC = b"SYMNET2\n"

#: An entry larger than this is not read (a kernel's objects are far smaller).
MAX_ENTRY_BYTES = 256 << 20

#: Temporary files of a writer that died are removed after this many seconds.
_STALE_TMP_SECONDS = 3600


_WARNED: set[str] = set()


def _warn_once(what: str, message: str) -> None:
    if what not in _WARNED:
        _WARNED.add(what)
        warnings.warn(message, CacheWarning, stacklevel=3)


def _refusal(path: Path) -> str | None:
    """Why ``path`` cannot be the cache folder, or None if it can."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"cannot read it ({exc.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return f"it is owned by another user (uid {st.st_uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "group and others" if st.st_mode & stat.S_IWOTH else "its group"
        return (f"it is writable by {who} (mode {stat.S_IMODE(st.st_mode):o}; "
                f"chmod 700 {path} to use it)")
    return None


def folder() -> Path | None:
    """The usable cache folder (created private, 0700), or None when the disk
    cache is off or the folder is refused (warned about once).

    >>> import os, tempfile
    >>> old = os.environ.get("SYMNET_CACHE_DIR")
    >>> os.environ["SYMNET_CACHE_DIR"] = ""
    >>> folder() is None
    True
    >>> _ = os.environ.pop("SYMNET_CACHE_DIR") if old is None else os.environ.update(
    ...     SYMNET_CACHE_DIR=old)
    """
    path = config.cache_dir()
    if path is None:
        return None
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            _warn_once(str(path), f"symnet: not using the compile cache {path}: cannot create "
                                  f"it ({exc.strerror}); kernels are compiled anew")
            return None
    why = _refusal(path)
    if why is not None:
        _warn_once(str(path), f"symnet: not using the compile cache {path}: {why}; kernels are "
                              "compiled anew (set SYMNET_CACHE_DIR to a private folder)")
        return None
    return path


def _path(kind: str, key: str) -> Path | None:
    if not (kind.isalnum() and len(key) == 64 and all(c in "0123456789abcdef" for c in key)):
        raise ValueError(f"bad cache key {kind!r}, {key!r}")
    base = folder()
    return None if base is None else base / f"{key}.{kind}"


def _read_file(path: Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of ours, not too large;
    never follows a symlink and never blocks (a FIFO is refused unread)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY_BYTES
                or (hasattr(os, "geteuid") and st.st_uid != os.geteuid())):
            return None
        chunks, left = [], st.st_size + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return data if len(data) <= st.st_size else None
    except OSError:
        return None
    finally:
        os.close(fd)


def read(kind: str, ident: Identity) -> bytes | None:
    """The payload stored for ``ident``, or None if absent, damaged, foreign
    or written for another request."""
    path = _path(kind, ident.digest)
    if path is None:
        return None
    data = _read_file(path)
    if data is None:
        return None
    head = len(_MAGIC) + 65
    if not data.startswith(_MAGIC) or data[head - 1:head] != b"\n":
        return None
    body = data[head:]
    if hashlib.sha256(body).hexdigest().encode("ascii") != data[len(_MAGIC):head - 1]:
        return None
    stored, sep, payload = body.partition(b"\n")
    if not sep or stored != ident.text.encode():
        return None  # another request's entry under this name: never used
    try:
        os.utime(path, follow_symlinks=False)  # recently used: kept longest
    except OSError:
        pass
    return payload


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write(kind: str, ident: Identity, payload: bytes) -> bool:
    """Store a payload for ``ident``; True if it was stored.

    Concurrent writers each write a whole temporary file, then rename it;
    a failed write (disk full, read-only folder) leaves nothing behind.
    """
    path = _path(kind, ident.digest)
    if path is None:
        return False
    if "\n" in ident.text:
        raise ValueError("an identity text must be one line")
    body = ident.text.encode() + b"\n" + payload
    data = _MAGIC + hashlib.sha256(body).hexdigest().encode("ascii") + b"\n" + body
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            _warn_once(f"full:{path.parent}", f"symnet: the compile cache {path.parent} is "
                                              f"full ({exc.strerror}); entries are not stored")
        return False
    finally:
        if tmp is not None:
            _unlink(Path(tmp))
    _bound(path.parent, keep=path)
    return True


def _entries(base: Path) -> list[tuple[float, int, Path]]:
    """(mtime, size, path) of the cache's entries and stale temporary files."""
    out = []
    now = time.time()
    try:
        scan = list(os.scandir(base))
    except OSError:
        return out
    for e in scan:
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        if e.name.startswith(".tmp-"):
            if now - st.st_mtime > _STALE_TMP_SECONDS:
                out.append((0.0, st.st_size, Path(e.path)))
            continue
        if e.name.count(".") == 1 and len(e.name.split(".")[0]) == 64:
            out.append((st.st_mtime, st.st_size, Path(e.path)))
    return out


def _bound(base: Path, keep: Path) -> None:
    """Remove stale temporary files; past the size bound, drop the least
    recently used entries until the cache is a tenth below it."""
    entries = _entries(base)
    for _, _, path in [e for e in entries if e[0] == 0.0]:
        _unlink(path)
    live = sorted((e for e in entries if e[0] != 0.0), key=lambda e: (e[0], e[2].name))
    limit = config.cache_max_bytes()
    total = sum(size for _, size, _ in live)
    if total <= limit:
        return
    for _, size, path in live:
        if path == keep:
            continue
        if _unlink(path):
            total -= size
        if total <= limit * 0.9:
            break


def _unlink(path: Path) -> bool:
    try:
        os.unlink(path)
        return True
    except OSError:
        return False


def library_dir() -> Path | None:
    """A private folder inside the cache to load shared libraries from (None
    without a usable cache)."""
    base = folder()
    if base is None:
        return None
    lib = base / "lib"
    try:
        os.mkdir(lib, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    return lib if _refusal(lib) is None else None


def info() -> dict:
    """Where the cache is, whether it is used, its entries and its bound.

    >>> sorted(info())
    ['bytes', 'entries', 'max_bytes', 'path', 'status']
    """
    path = config.cache_dir()
    out = {"path": str(path) if path else "", "max_bytes": config.cache_max_bytes(),
           "entries": 0, "bytes": 0}
    if path is None:
        return {**out, "status": "off (SYMNET_CACHE_DIR is empty)"}
    if not path.exists():
        return {**out, "status": "empty (not created yet)"}
    why = _refusal(path)
    if why is not None:
        return {**out, "status": f"refused: {why}"}
    entries = [e for e in _entries(path) if e[0] != 0.0]
    return {**out, "status": "in use", "entries": len(entries),
            "bytes": sum(size for _, size, _ in entries)}


def clear() -> tuple[int, int]:
    """Delete every entry (and leftover temporary or library file); returns
    (files removed, bytes freed). Only files symnet names are touched."""
    path = config.cache_dir()
    if path is None or not path.is_dir() or _refusal(path) is not None:
        return 0, 0
    files = bytes_ = 0
    lib = path / "lib"
    leftovers = []
    for folder_ in (path, lib):
        try:
            leftovers += [Path(e.path) for e in os.scandir(folder_)
                          if e.is_file(follow_symlinks=False)
                          and (folder_ == lib or e.name.startswith(".tmp-")
                               or (e.name.count(".") == 1 and len(e.name.split(".")[0]) == 64))]
        except OSError:
            continue
    for p in leftovers:
        try:
            size = p.lstat().st_size
            p.unlink()
            files += 1
            bytes_ += size
        except OSError:
            pass
    return files, bytes_

