"""PostgreSQL: the dedup keys of partitioned ``deliveries`` and ``events`` (``delivery_keys``, ``event_keys``).

A key row is written in the transaction that stores its delivery or event, before the row, and deleted with it;
its primary key is what stores a webhook sent again, or an event recorded again, once in whatever month it comes
back (hub/store/partitions.py). Lookups by key go through these tables: one index probe, then one partition by id.
SQLite keeps the unique constraints on the rows themselves and calls none of this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import TEXTS, pairs_in
from hub.store.bulk import insert_rows
from hub.store.tables import delivery_keys, event_keys, events


async def stored_deliveries(conn: AsyncConnection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The delivery ids stored under these ``(source, dedup_key)``."""
    stored = await conn.execute(select(delivery_keys).where(
        pairs_in(delivery_keys.c.source, delivery_keys.c.dedup_key, keys, "postgresql")))
    return {(row.source, row.dedup_key): row.delivery_id for row in stored}


def events_by_key(dialect: str, *columns: Any) -> tuple[Select, tuple[ColumnElement, ColumnElement]]:
    """A select of events' ``columns``, and the ``(source, source_event_id)`` pair to filter it on: on PostgreSQL
    the pair of ``event_keys``, joined to the event by id."""
    if dialect != "postgresql":
        return select(*columns), (events.c.source, events.c.source_event_id)
    joined = select(*columns).join_from(event_keys, events, events.c.id == event_keys.c.event_id)
    return joined, (event_keys.c.source, event_keys.c.source_event_id)


async def add_events(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """The keys of these event rows (before the rows are copied); a key already stored fails the transaction, as
    the unique constraint did (recorders of one key take turns: hub/store/correlation_locks.py)."""
    await insert_rows(conn, event_keys, [{"source": row["source"], "source_event_id": row["source_event_id"],
                                          "event_id": row["id"]} for row in rows])


_FORGET_EVENTS = text("DELETE FROM event_keys k USING events e WHERE e.id = ANY(:ids) AND k.source = e.source "
                      "AND k.source_event_id = e.source_event_id AND k.event_id = e.id").bindparams(
    bindparam("ids", type_=TEXTS))


async def forget_events(conn: AsyncConnection, event_ids: Sequence[str]) -> None:
    """Delete the keys of these events (before the events are deleted)."""
    await conn.execute(_FORGET_EVENTS, {"ids": list(event_ids)})


async def forget_where(conn: AsyncConnection, table: str, condition: str, params: dict[str, Any],
                       relation: str | None = None) -> None:
    """Delete the keys of ``table``'s rows (``deliveries`` or ``events``; ``relation``: one of its partitions,
    aliased ``r``) that match ``condition``, before those rows are deleted or their partition dropped."""
    keys, column, key_id = ((delivery_keys, "dedup_key", "delivery_id") if table == "deliveries"
                            else (event_keys, "source_event_id", "event_id"))
    await conn.execute(text(f"DELETE FROM {keys.name} k USING {relation or table} r WHERE {condition} "
                            f"AND k.source = r.source AND k.{column} = r.{column} AND k.{key_id} = r.id"), params)
