"""The inbox table (``deliveries``): append raw deliveries, take pending ones, mark them done or dead, requeue.

Promises (the store's contract, see :mod:`hub.store`): :func:`append_deliveries` has committed (durably) before
it returns and stores each ``(source, dedup_key)`` once; :func:`take_pending` reads only ``pending`` deliveries,
oldest first, and a delivery leaves that state only with :func:`mark_done` / :func:`mark_dead` (in the
transaction that records its output).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model import Delivery
from hub.store import Store, dedup_keys, evaluation, pairs_in
from hub.store.inbox_file import TIME_FORMAT
from hub.store.tables import deliveries, events

Key = tuple[str, str]  # (source, dedup_key)


@dataclass(frozen=True, slots=True)
class Pending:
    """A pending delivery as it is taken: the raw delivery the parsers read, and how many times it was processed
    before (a replayed dead letter: its exception may clear once it is normalized)."""

    delivery: Delivery
    attempts: int


async def append_deliveries(store: Store, rows: Sequence[dict[str, Any]]) -> dict[Key, str]:
    """Store these deliveries in one write transaction (:meth:`Store.append`), committed before it returns; each
    row's key maps to the id stored under it (the row's own id when it is new).

    A row whose key is already stored (or came earlier in ``rows``) is not stored again: it is counted as a
    repeat on the stored delivery and on its events, and their transactions become due for the evaluator.
    Rows are inserted in key order: on PostgreSQL, groups appended side by side wait for each other's keys in
    one order, never in a cycle (a deadlock).
    """
    first: dict[Key, dict[str, Any]] = {}
    for row in rows:
        first.setdefault((row["source"], row["dedup_key"]), row)
    async with store.append() as conn:
        ids = await insert_new(conn, [first[key] for key in sorted(first)])
        repeated = [key for key in first if key not in ids]
        if repeated:
            ids.update(await stored_ids(conn, repeated))
        repeats = Counter(ids[(row["source"], row["dedup_key"])] for row in rows
                          if ids[(row["source"], row["dedup_key"])] != row["id"])
        for delivery_id, count in sorted(repeats.items()):  # in id order, as a worker locks its deliveries
            await evaluation.due_at(conn, await count_repeat(conn, delivery_id, count), evaluation.EVALUATE_NOW)
    return ids


_COLUMNS = "id, source, dedup_key, received_at, headers, body, content_type, state"
_PG_INSERT = (  # one statement text whatever the row count: asyncpg prepares it once per connection
    "WITH t AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamp[], $5::json[], $6::bytea[], "
    "$7::text[]) AS t (id, source, dedup_key, received_at, headers, body, content_type)), "
    # deliveries is partitioned by month (hub/store/partitions.py): the key table's primary key says what is new
    "k AS (INSERT INTO delivery_keys (source, dedup_key, delivery_id) SELECT source, dedup_key, id FROM t "
    "ON CONFLICT DO NOTHING RETURNING delivery_id) "
    f"INSERT INTO deliveries ({_COLUMNS}) SELECT t.*, 'pending' FROM t JOIN k ON k.delivery_id = t.id "
    "RETURNING source, dedup_key, id")


async def insert_new(conn: AsyncConnection, rows: list[dict[str, Any]]) -> dict[Key, str]:
    """Insert the rows whose key is not stored yet (one statement); returns the keys and ids it stored.

    RETURNING gives the rows this insert stored, not those ``ON CONFLICT DO NOTHING`` skipped (on PostgreSQL, the
    keys that ``delivery_keys`` took: a second process appending the same key at once waits for the first's commit
    and then stores nothing). The statement goes
    to the driver as written (``exec_driver_sql``): the receiver's hot path, where SQLAlchemy's compiling and
    per-row binding were 75% of the commit's Python (issue 14 item 3).
    """
    if not rows:
        return {}
    values = [(r["id"], r["source"], r["dedup_key"], r["received_at"], json.dumps(r["headers"]), r["body"],
               r["content_type"]) for r in rows]
    if conn.dialect.name == "postgresql":
        inserted = await conn.exec_driver_sql(_PG_INSERT, tuple(list(column) for column in zip(*values, strict=True)))
    else:
        placeholders = ", ".join(["(?, ?, ?, ?, ?, ?, ?, 'pending')"] * len(values))
        inserted = await conn.exec_driver_sql(
            f"INSERT INTO deliveries ({_COLUMNS}) VALUES {placeholders} ON CONFLICT DO NOTHING "
            "RETURNING source, dedup_key, id",
            tuple(v for row in values for v in (*row[:3], row[3].strftime(TIME_FORMAT), *row[4:])))
    return {(source, key): delivery_id for source, key, delivery_id in inserted.all()}


async def stored_ids(conn: AsyncConnection, keys: list[Key]) -> dict[Key, str]:
    """The ids stored under these keys."""
    if conn.dialect.name == "postgresql":
        return await dedup_keys.stored_deliveries(conn, keys)
    stored = await conn.execute(select(deliveries.c.source, deliveries.c.dedup_key, deliveries.c.id).where(
        pairs_in(deliveries.c.source, deliveries.c.dedup_key, keys, conn.dialect.name)))
    return {(row.source, row.dedup_key): row.id for row in stored}


async def count_repeat(conn: AsyncConnection, delivery_id: str, count: int) -> list[str]:
    """A delivery came ``count`` more times: count it on the delivery and its events; returns their transactions.

    Repeats are rare, so this costs the hot path nothing; the duplicate-storm rule reads ``events.duplicates``.
    """
    await conn.execute(update(deliveries).where(deliveries.c.id == delivery_id)
                       .values(repeats=deliveries.c.repeats + count))
    await conn.execute(update(events).where(events.c.delivery_id == delivery_id)
                       .values(duplicates=events.c.duplicates + count))
    return list((await conn.execute(select(events.c.tx_id).where(events.c.delivery_id == delivery_id,
                                                                 events.c.tx_id.is_not(None))
                                    .distinct())).scalars())


async def take_pending(conn: AsyncConnection, limit: int, max_body_bytes: int) -> list[Pending]:
    """The oldest pending deliveries, at most ``limit`` and (beyond the first) ``max_body_bytes`` of bodies.

    Their sizes are read first (``length`` reads a blob's size, not its content), so a backlog of big
    ``/ingest`` batches is taken a few at a time: bodies and parsed events in memory stay bounded.
    Nothing is marked: a delivery is taken again until :func:`mark_done` or :func:`mark_dead` commits.
    (Several workers on one PostgreSQL claim theirs instead: :mod:`hub.store.claims`, then
    :func:`pending_deliveries`.)
    """
    sizes = (await conn.execute(
        select(deliveries.c.id, func.length(deliveries.c.body).label("size"))
        .where(deliveries.c.state == "pending").order_by(deliveries.c.id).limit(limit))).all()
    return await pending_deliveries(conn, within_budget([(row.id, row.size or 0) for row in sizes], max_body_bytes))


def within_budget(sizes: Sequence[tuple[str, int]], max_body_bytes: int) -> list[str]:
    """The leading ids of ``(id, body size)`` whose bodies stay within ``max_body_bytes`` (the first always)."""
    chosen: list[str] = []
    total = 0
    for delivery_id, size in sizes:
        if chosen and total + size > max_body_bytes:
            break
        chosen.append(delivery_id)
        total += size
    return chosen


async def pending_deliveries(conn: AsyncConnection, ids: Sequence[str]) -> list[Pending]:
    """These deliveries, those still pending, oldest first."""
    if not ids:
        return []
    d = deliveries.c
    rows = await conn.execute(
        select(d.id, d.source, d.received_at, d.headers, d.body, d.content_type, d.attempts)
        .where(d.id.in_(ids), d.state == "pending").order_by(d.id))
    return [Pending(Delivery(id=r.id, source=r.source, received_at=r.received_at, headers=r.headers or {},
                             body=r.body, content_type=r.content_type), attempts=r.attempts) for r in rows]


async def mark_done(conn: AsyncConnection, delivery_ids: Sequence[str], now: datetime) -> None:
    """These pending deliveries are normalized (one executemany)."""
    if delivery_ids:
        await conn.execute(
            update(deliveries).where(deliveries.c.id == bindparam("b_id"), deliveries.c.state == "pending")
            .values(state="done", error=None, processed_at=now, attempts=deliveries.c.attempts + 1),
            [{"b_id": delivery_id} for delivery_id in delivery_ids])


async def mark_dead(conn: AsyncConnection, delivery_id: str, reason: str, now: datetime, *,
                    holder: str | None = None) -> None:
    """This delivery cannot be normalized: dead, with the reason (``holder``: only while it still holds the claim)."""
    mine = [] if holder is None else [deliveries.c.claimed_by == holder]  # not taken over since
    await conn.execute(update(deliveries).where(deliveries.c.id == delivery_id, *mine)
                       .values(state="dead", error=reason, processed_at=now, attempts=deliveries.c.attempts + 1))


async def requeue(store: Store, now: datetime, *, ids: Sequence[str] = (), source: str | None = None,
                  state: str | None = None, since: datetime | None = None, until: datetime | None = None,
                  error_contains: str | None = None) -> list[str]:
    """Put the deliveries that match every given criterion back to ``pending``, in one write; returns their ids.

    ``processed_at`` becomes "queued again at": /healthz measures a pending delivery's wait from it.
    """
    conditions = []
    if ids:
        conditions.append(deliveries.c.id.in_(ids))
    if source:
        conditions.append(deliveries.c.source == source)
    if state:
        conditions.append(deliveries.c.state == state)
    if since:
        conditions.append(deliveries.c.received_at >= since)
    if until:
        conditions.append(deliveries.c.received_at < until)
    if error_contains:
        conditions.append(func.coalesce(deliveries.c.error, "").contains(error_contains))
    async with store.write() as conn:
        found = list((await conn.execute(select(deliveries.c.id).where(*conditions))).scalars())
        if found:
            await conn.execute(update(deliveries).where(deliveries.c.id.in_(found))
                               .values(state="pending", processed_at=now, claimed_by=None, claim_until=None))
    return found
