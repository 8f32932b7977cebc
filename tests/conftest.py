"""Test session set-up: a private, empty compile cache for the LLVM backend."""

from __future__ import annotations

import os
import tempfile

# Before symnet compiles anything: tests must neither read nor fill the
# user's cache, and every run starts cold.
os.environ["SYMNET_CACHE_DIR"] = tempfile.mkdtemp(prefix="symnet-test-cache-")
