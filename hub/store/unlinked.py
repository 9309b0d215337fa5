"""Unlinked events — stored without a transaction because they carry no identity ref — counted per source and type.

Every read is a range of the partial index ``ix_events_unlinked``, which holds only such events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import events


@dataclass(frozen=True, slots=True)
class Unlinked:
    """How many events of one source and type are unlinked, since when, and the newest few (event, delivery)."""

    source: str
    type: str
    count: int
    first_received: datetime | None
    last_received: datetime | None
    latest: list[tuple[str, str]]


async def unlinked(conn: AsyncConnection, keys: Iterable[tuple[str, str]], sample: int = 5) -> list[Unlinked]:
    """The unlinked events of each ``(source, type)`` (count 0 when none is left)."""
    found = []
    for source, event_type in sorted(set(keys)):
        where = (events.c.tx_id.is_(None), events.c.source == source, events.c.type == event_type)
        count, first, last = (await conn.execute(
            select(func.count(), func.min(events.c.received_at), func.max(events.c.received_at)).where(*where))).one()
        latest = (await conn.execute(select(events.c.id, events.c.delivery_id).where(*where)
                                     .order_by(events.c.received_at.desc(), events.c.id.desc()).limit(sample))).all()
        found.append(Unlinked(source, event_type, count, first, last, [(row.id, row.delivery_id) for row in latest]))
    return found


async def unlinked_per_source(conn: AsyncConnection) -> dict[str, int]:
    """How many unlinked events each source has (the dashboard's column; a source without any is left out)."""
    rows = await conn.execute(select(events.c.source, func.count()).where(events.c.tx_id.is_(None))
                              .group_by(events.c.source))
    return dict(rows.all())  # type: ignore[arg-type]
