"""The allocator settings that keep the process's resident memory flat under sustained ingest (issue 14).

Measured with ``bench.growth --rss-seconds`` on glibc: request bodies and the rows aiosqlite's threads read are
malloc'd in per-thread arenas and freed on the event loop's thread; each arena keeps the space freed in it, and
glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB), so the 100 KiB–1 MiB bodies of
``/ingest`` end up inside the arenas too. RSS then grew by the free space of several arenas (about 20 MB after
30 s of load). Two arenas and a fixed 128 KiB mmap threshold (a large block goes back to the system when freed)
keep that free space to a few MB. Other C libraries (musl, macOS) are left as they are.
"""

from __future__ import annotations

import ctypes
import platform

MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, fixed: blocks this large are mmapped, and unmapped when freed
ARENAS = 2
_M_MMAP_THRESHOLD = -3  # mallopt parameters, <malloc.h>
_M_ARENA_MAX = -8


def tune_allocator() -> bool:
    """Set glibc's arena count and a fixed mmap threshold (before the store's threads start); False elsewhere."""
    if platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    return bool(mallopt(_M_ARENA_MAX, ARENAS)) and bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
