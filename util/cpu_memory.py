"""Keep freed CPU memory inside the process (glibc), so large tensors reuse warm pages.

glibc's ``malloc`` serves blocks larger than its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and
gives them back to the kernel on ``free``. A generator step at 512x256 allocates and frees dozens of such
feature maps (a 128-channel float32 map at 512x256 is 64 MiB), so every one of them is page-faulted in again:
the kernel zeroes each 4 KiB page on first touch, single-threaded, and on the 2-core test machine that made a
plain ``x + 1`` on such a map 9x slower (29 ms instead of 3.3 ms of CPU time; docs/performance.md).
:func:`keep_freed_memory` turns ``mmap`` off for ``malloc`` and raises the trim threshold, so freed blocks stay
in the heap and the next step's tensors land on pages that are already mapped. The price: the process keeps
its peak heap until it exits (what a caching allocator does anyway). A no-op where glibc is absent.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from typing import Optional

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_MMAP_MAX = -4
DEFAULT_MMAP_MAX = 65536  # glibc's defaults, restored by keep_freed_memory(False)
DEFAULT_TRIM_THRESHOLD = 128 * 1024
KEPT_TRIM_THRESHOLD = 2 ** 30  # free memory above this at the heap's top still goes back to the kernel


@functools.lru_cache(maxsize=1)
def _glibc() -> Optional[ctypes.CDLL]:
    """The C library if it is glibc (has ``mallopt``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None
    except OSError:
        return None


def keep_freed_memory(enabled: bool = True) -> bool:
    """Keep freed blocks in the heap (``enabled``) or restore glibc's defaults; process-wide.

    Returns:
        Whether the setting was applied (False without glibc).
    """
    libc = _glibc()
    if libc is None:
        return False
    mmap_ok = libc.mallopt(M_MMAP_MAX, 0 if enabled else DEFAULT_MMAP_MAX) == 1
    trim_ok = libc.mallopt(M_TRIM_THRESHOLD, KEPT_TRIM_THRESHOLD if enabled else DEFAULT_TRIM_THRESHOLD) == 1
    return mmap_ok and trim_ok
