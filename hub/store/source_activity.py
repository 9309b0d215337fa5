"""What a source has been sending: its newest delivery, its deliveries per hour, its events per type in a range.
Each a range read on an index led by the source (``ix_deliveries_source_received``, ``ix_events_source_occurred``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.metrics_queries import epoch_seconds
from hub.store.tables import deliveries, events


async def last_delivery(conn: AsyncConnection, source: str) -> datetime | None:
    """When the source's newest delivery was received (None: it never sent one)."""
    return (await conn.execute(select(func.max(deliveries.c.received_at)).where(deliveries.c.source == source)
                               )).scalar()


async def deliveries_per_hour(conn: AsyncConnection, source: str, since: datetime, until: datetime) -> dict[int, int]:
    """``{hours since 1970: deliveries}`` for the source's deliveries received in ``[since, until)``."""
    hour = epoch_seconds(conn, deliveries.c.received_at) // 3600
    rows = await conn.execute(select(hour.label("hour"), func.count()).where(
        deliveries.c.source == source, deliveries.c.received_at >= since, deliveries.c.received_at < until)
        .group_by(hour))
    return {int(h): int(n) for h, n in rows}


async def events_per_type(conn: AsyncConnection, source: str, since: datetime, until: datetime) -> dict[str, int]:
    """``{type: events}`` the source reported as occurring in ``[since, until)``."""
    rows = await conn.execute(select(events.c.type, func.count()).where(
        events.c.source == source, events.c.occurred_at >= since, events.c.occurred_at < until)
        .group_by(events.c.type))
    return {t: int(n) for t, n in rows}
