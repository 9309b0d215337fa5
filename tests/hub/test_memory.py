"""Memory bounded by what is in flight, not by what went through (issue 14): SQLite's prepared statements are
capped per connection whatever the number of distinct ``IN`` lists, and on glibc a large block (a body) goes back
to the system when freed instead of staying in an arena. Read from SQLite's and glibc's own counters."""

from __future__ import annotations

import _sqlite3
import ctypes
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.memory import MMAP_THRESHOLD
from hub.store import Store
from hub.store.engine import SQLITE_STATEMENT_CACHE
from hub.store.tables import events

_SQLITE = ctypes.CDLL(_sqlite3.__file__)  # the SQLite the sqlite3 module runs (its symbols, linked or built in)
_SQLITE.sqlite3_memory_used.restype = ctypes.c_int64


@pytest.mark.asyncio
async def test_an_sqlite_connection_keeps_a_bounded_number_of_prepared_statements(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    try:
        async with store.read() as conn:
            async def run(length: int) -> int:
                """SQLite's heap growth from one statement with an IN list of ``length`` ids (one text per length)."""
                before = _SQLITE.sqlite3_memory_used()
                await conn.execute(select(events.c.id).where(events.c.id.in_([f"e{n}" for n in range(length)])))
                return _SQLITE.sqlite3_memory_used() - before

            await run(10)  # the connection's first statement reads the schema
            largest = await run(400)  # prepared and kept
            grown = sum([await run(length) for length in range(250, 400)])  # 150 more distinct texts
        assert 0 < grown <= (SQLITE_STATEMENT_CACHE + 4) * largest, (grown, largest)
    finally:
        await store.close()


_BODY_MAPPED = """
import ctypes, sys
from hub.memory import MMAP_THRESHOLD, tune_allocator
class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                                                  "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2
assert tune_allocator()
big = bytearray(4 * 1024 * 1024)  # freeing a block this large raises glibc's own (dynamic) threshold to its size
del big
mapped = libc.mallinfo2().hblkhd
body = bytearray(2 * MMAP_THRESHOLD)  # a 256 KiB body: mapped on its own, not carved from an arena
grown = libc.mallinfo2().hblkhd - mapped
del body
print(grown, libc.mallinfo2().hblkhd - mapped)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the settings are glibc's")
def test_after_tuning_a_body_sized_block_is_mapped_and_returned_when_freed() -> None:
    """In a fresh process (this one's arenas already hold free space that a block may be carved from)."""
    ran = subprocess.run([sys.executable, "-c", _BODY_MAPPED], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert ran.returncode == 0, ran.stderr
    grown, after_free = (int(n) for n in ran.stdout.split())
    assert grown >= 2 * MMAP_THRESHOLD and after_free <= 0, ran.stdout
