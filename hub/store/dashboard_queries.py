"""The dashboard's one aggregate :mod:`hub.store.metrics_queries` does not already give: open exceptions by
type and age. Everything else on the dashboard reads ``metrics_queries`` (what GraphQL ``metrics`` returns),
``hub.ingest.polling.source_health`` (GraphQL ``sources``), ``hub.export.process_map`` and ``hub.stock.queries``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.exception_counts import UNRESOLVED, UNRESOLVED_BY_TYPE, hour_of, opened_in_hours
from hub.store.exception_queries import counted
from hub.store.metrics_queries import AGE_BUCKETS
from hub.store.tables import exception_counts, exception_counts_hourly, exceptions


async def open_exceptions_by_age(conn: AsyncConnection, now: datetime) -> list[dict[str, Any]]:
    """Rows ``{type, age, count}`` over exceptions not yet resolved; ``age`` is one of the
    ``metrics_queries.AGE_BUCKETS`` names (<1h, 1h-24h, 1d-7d, >7d), counted from ``opened_at``.

    The buckets younger than the last are summed from the hourly counters of unresolved exceptions by type
    (:mod:`hub.store.exception_counts`); the (three) hours an age edge cuts are counted from their rows; the oldest
    bucket is the rest of the unresolved counters. No count reads more than those three hours of rows.
    """
    *young, (oldest, _) = AGE_BUCKETS
    edges = [(label, hour_of(now - limit)) for label, limit in young if limit is not None]
    cut = {hour for _, hour in edges}
    totals: dict[tuple[str, str], int] = defaultdict(int)
    h = exception_counts_hourly.c
    hour_age = case(*((h.hour > edge, label) for label, edge in edges))  # an hour no edge cuts: wholly younger
    for type_, label, n in await conn.execute(  # than the first edge it is after
            select(h.value, hour_age, func.sum(h.n)).where(h.dim == UNRESOLVED_BY_TYPE, h.hour >= min(cut),
                                                          h.hour.not_in(cut)).group_by(h.value, hour_age)):
        totals[(type_, label)] += n
    whens = [(exceptions.c.opened_at > now - limit, label) for label, limit in young if limit is not None]
    age = case(*whens, else_=oldest).label("age")
    for type_, label, n in await conn.execute(select(exceptions.c.type, age, func.count())
                                              .where(exceptions.c.status.in_(UNRESOLVED), opened_in_hours(cut))
                                              .group_by(exceptions.c.type, age)):
        if label != oldest:  # the oldest bucket is the rest, below
            totals[(type_, label)] += n
    result = [{"type": type_, "age": label, "count": n} for (type_, label), n in totals.items() if n]
    recent: dict[str, int] = defaultdict(int)
    for row in result:
        recent[row["type"]] += row["count"]
    for row in await counted(conn, [exception_counts.c.status.in_(UNRESOLVED)], {"type": exception_counts.c.type}):
        older = row["count"] - recent[row["type"]]
        if older > 0:
            result.append({"type": row["type"], "age": oldest, "count": older})
    return result
