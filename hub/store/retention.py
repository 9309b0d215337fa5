"""What the retention purge deletes: a source's raw deliveries, events and their refs received before a cutoff.

Which sources and cutoffs is :mod:`hub.access.retention`'s rule; transactions and ``ref_keys`` are never deleted,
their business attributes are recomputed from the events that remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.record import refresh_attributes
from hub.store.tables import deliveries, events, refs


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
    gone_events = (await conn.execute(delete(events).where(events.c.source == source,
                                                            events.c.received_at < cutoff))).rowcount
    await refresh_attributes(conn, stating)  # values only the purged events stated go with them
    gone_deliveries = (await conn.execute(delete(deliveries).where(
        deliveries.c.source == source, deliveries.c.received_at < cutoff,
        deliveries.c.state != "pending"))).rowcount
    return Purged(deliveries=gone_deliveries, events=gone_events, unlinked=unlinked)
