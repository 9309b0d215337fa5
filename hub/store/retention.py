"""What the retention purge deletes: a source's raw deliveries, events and their refs received before a cutoff.

Which sources and cutoffs is :mod:`hub.access.retention`'s rule; transactions and ``ref_keys`` are never deleted,
their business attributes are recomputed from the events that remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select, text, union
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import dedup_keys
from hub.store.partitions import Partition, partitions
from hub.store.record import refresh_attributes
from hub.store.tables import contact_index, deliveries, events, refs


@dataclass(frozen=True, slots=True)
class Purged:
    deliveries: int
    events: int
    unlinked: set[tuple[str, str]]  # (source, type) of the unlinked events deleted: their counts drop


async def sources_with_data(conn: AsyncConnection) -> list[str]:
    """Every source that has a stored delivery or event, sorted."""
    query = union(select(deliveries.c.source).distinct(), select(events.c.source).distinct())
    return sorted((await conn.execute(query)).scalars())


async def purge_source(conn: AsyncConnection, source: str, cutoff: datetime) -> Purged:
    """Delete the source's events (and the refs they stated) received before ``cutoff``, and its deliveries
    received before it that are not pending."""
    old_events = select(events.c.id).where(events.c.source == source, events.c.received_at < cutoff)
    unlinked = {(row.source, row.type) for row in await conn.execute(
        select(events.c.source, events.c.type).where(
            events.c.source == source, events.c.received_at < cutoff, events.c.tx_id.is_(None)).distinct())}
    stating = set((await conn.execute(select(events.c.tx_id).where(  # transactions whose attributes they stated
        events.c.source == source, events.c.received_at < cutoff, events.c.tx_id.is_not(None),
        events.c.attributes.is_not(None)).distinct())).scalars())
    await conn.execute(delete(refs).where(refs.c.event_id.in_(old_events)))
    postgresql = conn.dialect.name == "postgresql"
    if postgresql:  # their dedup keys go with them (hub/store/dedup_keys.py)
        await dedup_keys.forget_where(conn, "events", "r.source = :source AND r.received_at < :cutoff",
                                      {"source": source, "cutoff": cutoff})
    gone_events = (await conn.execute(delete(events).where(events.c.source == source,
                                                            events.c.received_at < cutoff))).rowcount
    await refresh_attributes(conn, stating)  # values only the purged events stated go with them
    if postgresql:
        await dedup_keys.forget_where(conn, "deliveries", "r.source = :source AND r.received_at < :cutoff "
                                      "AND r.state <> 'pending'", {"source": source, "cutoff": cutoff})
    gone_deliveries = (await conn.execute(delete(deliveries).where(
        deliveries.c.source == source, deliveries.c.received_at < cutoff,
        deliveries.c.state != "pending"))).rowcount
    return Purged(deliveries=gone_deliveries, events=gone_events, unlinked=unlinked)


@dataclass(frozen=True, slots=True)
class Dropped:
    partitions: list[str]
    deliveries: int
    events: int
    dead_lettered: int  # pending deliveries in a dropped partition: waited longer than every window
    unlinked: set[tuple[str, str]]


async def drop_partitions(conn: AsyncConnection, cutoff: datetime, now: datetime) -> Dropped:
    """PostgreSQL: drop the monthly partitions of events and deliveries whose ids all were minted, and rows all
    received, before ``cutoff`` (the longest retention window's), with what points into them: refs, dedup keys,
    contact index entries.

    Pending deliveries in them are dead-lettered first and counted; the business attributes only their events
    stated are recomputed (as :func:`purge_source` does)."""
    dropped: list[str] = []
    counts = {"deliveries": 0, "events": 0}
    dead_lettered = 0
    unlinked: set[tuple[str, str]] = set()
    for table in ("events", "deliveries"):
        for part in await partitions(conn, table):
            relation = f'"{part.name}"'
            if part.ends is None or part.ends > cutoff or await _received_since(conn, relation, cutoff):
                continue
            if table == "events":
                unlinked |= {(row.source, row.type) for row in await conn.execute(
                    text(f"SELECT DISTINCT source, type FROM {relation} WHERE tx_id IS NULL"))}
                stating = set((await conn.execute(text(f"SELECT DISTINCT tx_id FROM {relation} WHERE tx_id IS NOT "
                                                       "NULL AND attributes IS NOT NULL"))).scalars())
                await conn.execute(delete(refs).where(*_within(refs.c.event_id, part)))
            else:
                dead_lettered += (await conn.execute(text(
                    f"UPDATE {relation} SET state = 'dead', processed_at = :now, error = :error "
                    "WHERE state = 'pending'"), {"now": now, "error": _DROPPED_PENDING})).rowcount
                await conn.execute(delete(contact_index).where(*_within(contact_index.c.delivery_id, part)))
            await dedup_keys.forget_where(conn, table, "TRUE", {}, relation=relation)
            counts[table] += (await conn.execute(text(f"SELECT count(*) FROM {relation}"))).scalar_one()
            await conn.execute(text(f"DROP TABLE {relation}"))
            if table == "events":
                await refresh_attributes(conn, stating)
            dropped.append(part.name)
    return Dropped(dropped, counts["deliveries"], counts["events"], dead_lettered, unlinked)


async def _received_since(conn: AsyncConnection, relation: str, cutoff: datetime) -> bool:
    """Whether a row of the partition was received at or after ``cutoff`` on the hub's clock (``received_at``), which
    may run apart from the wall clock the ids are minted on (a test's or a demo's clock): then the partition stays
    and the ``DELETE`` takes what is old in it. One scan of a month that is due to go."""
    return (await conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {relation} WHERE received_at >= :cutoff)"),
                               {"cutoff": cutoff})).scalar_one()


_DROPPED_PENDING = "retention: still pending when its month's partition was dropped (older than every window)"


def _within(column: ColumnElement, part: Partition) -> list[ColumnElement[bool]]:
    """``column`` (an event or delivery id) within the partition's bounds."""
    bounds = [] if part.lower is None else [column >= part.lower]
    return [*bounds, column < part.upper] if part.upper is not None else bounds
