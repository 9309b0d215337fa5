"""The reads alert rules measure (:mod:`hub.exceptions.alerts`): each a range on an index bounded by the window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import deliveries, events

_CHUNK = 400


class WindowRule(Protocol):
    """What of an alert rule its reads need."""

    metric: str  # events | dead_letters | lag_p<N>
    window_minutes: int
    type: str | None
    source: str | None
    to_source: str | None
    to_type: str | None


def window_query(rule: WindowRule, now: datetime, all_sources: Sequence[str] = ()) -> Select[Any]:
    """The rule's first read over ``(now - window, now]``: a range on an index led by type or source.

    ``events`` and ``dead_letters`` count; a lag metric gives each transaction's first ``to_source`` event.
    """
    start = now - timedelta(minutes=rule.window_minutes)
    if rule.metric == "events":
        query = select(func.count()).select_from(events).where(
            events.c.type == rule.type, events.c.occurred_at > start, events.c.occurred_at <= now)
        return query.where(events.c.source == rule.source) if rule.source else query
    if rule.metric == "dead_letters":
        # per-source range reads on the partial index ix_deliveries_dead (its predicate must be a literal)
        names = [rule.source] if rule.source else list(all_sources)
        return select(func.count()).select_from(deliveries).where(
            deliveries.c.source.in_(names), deliveries.c.received_at > start, deliveries.c.received_at <= now,
            text("deliveries.state = 'dead'"))
    query = select(events.c.tx_id, func.min(events.c.occurred_at)).where(  # unlinked events have no lag to measure
        events.c.source == rule.to_source, events.c.occurred_at > start, events.c.occurred_at <= now,
        events.c.tx_id.is_not(None))
    if rule.to_type:
        query = query.where(events.c.type == rule.to_type)
    return query.group_by(events.c.tx_id)


async def count_in_window(conn: AsyncConnection, rule: WindowRule, now: datetime,
                          all_sources: Sequence[str] = ()) -> int:
    """How many events or dead letters the rule counts in its window."""
    return (await conn.execute(window_query(rule, now, all_sources))).scalar_one()


async def reached_in_window(conn: AsyncConnection, rule: WindowRule, now: datetime) -> dict[str, datetime]:
    """Per transaction, when its first ``to_source`` event in the window occurred."""
    return dict((await conn.execute(window_query(rule, now))).all())  # type: ignore[arg-type]


async def first_occurred(conn: AsyncConnection, tx_ids: Sequence[str], source: str | None,
                         event_type: str | None) -> list[tuple[str, datetime]]:
    """Per transaction, when its first event from ``source`` (of ``event_type`` when given) occurred.

    ``ix_events_tx_time``: only these transactions' events are read, in chunks.
    """
    found: list[tuple[str, datetime]] = []
    ids = sorted(tx_ids)
    for begin in range(0, len(ids), _CHUNK):
        query = select(events.c.tx_id, func.min(events.c.occurred_at)).where(
            events.c.tx_id.in_(ids[begin:begin + _CHUNK]), events.c.source == source)
        if event_type:
            query = query.where(events.c.type == event_type)
        found.extend((tx_id, at) for tx_id, at in await conn.execute(query.group_by(events.c.tx_id)))
    return found
