"""The exception counters: how many exceptions per (status, type, system, severity, queue, system_kind, tx_kind).

Kept by :mod:`hub.exceptions` in the same transaction as every change it makes (open, refresh, reopen, resolve,
acknowledge), as deltas: ``-1`` for the row as it was, ``+1`` for the row as it is. ``None`` is stored as ``''``
(a primary key column cannot be NULL). Read by :mod:`hub.store.exception_queries` and
:mod:`hub.store.metrics_queries` whenever a filter only names these dimensions.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import exception_counts

DIMS = ("status", "type", "system", "severity", "queue", "system_kind", "tx_kind")
Key = tuple[str, ...]


def key_of(row: Any, **changed: Any) -> Key:
    """The counter a row (a Row or a dict) counts in, with ``changed`` columns as they are about to become."""
    def value(name: str) -> Any:
        if name in changed:
            return changed[name]
        return row[name] if isinstance(row, dict) else getattr(row, name)
    return tuple(value(name) or "" for name in DIMS)


def move(deltas: Counter[Key], row: Any, **changed: Any) -> None:
    """Count ``row`` out of its counter and into the one it moves to with ``changed`` (nothing when the same)."""
    before, after = key_of(row), key_of(row, **changed)
    if before != after:
        deltas[before] -= 1
        deltas[after] += 1


async def apply(conn: AsyncConnection, deltas: Counter[Key]) -> None:
    """Add the deltas in one statement; rows go in key order so concurrent writers lock them in one order."""
    rows = [{**dict(zip(DIMS, key, strict=True)), "n": n} for key, n in sorted(deltas.items()) if n]
    if not rows:
        return
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(exception_counts)
    await conn.execute(insert.on_conflict_do_update(index_elements=list(DIMS),
                                                    set_={"n": exception_counts.c.n + insert.excluded.n}), rows)


async def rebuild(conn: AsyncConnection) -> None:
    """Count every exception afresh (the migration's back-fill; a bulk load that bypassed the hub calls it)."""
    dims = ", ".join(f"COALESCE({d}, '')" for d in DIMS)
    await conn.execute(exception_counts.delete())
    await conn.execute(text(f"INSERT INTO exception_counts ({', '.join(DIMS)}, n) "
                            f"SELECT {dims}, COUNT(*) FROM exceptions GROUP BY {dims}"))
