"""Test session set-up: a private, empty compile cache for the LLVM backend."""

from __future__ import annotations

import os
import tempfile

# Before symnet compiles anything: tests must neither read nor fill the
# user's cache, and every run starts cold.
os.environ["SYMNET_CACHE_DIR"] = tempfile.mkdtemp(prefix="symnet-test-cache-")
# Every group function the LLVM backend shares with an identical earlier
# group is generated anyway and compared with it (symnet.lower.share).
os.environ.setdefault("SYMNET_CHECK_SHARED", "1")
