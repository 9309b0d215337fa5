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

from hub.store.exception_queries import counted
from hub.store.metrics_queries import AGE_BUCKETS
from hub.store.tables import exception_counts, exceptions

UNRESOLVED = ("open", "acknowledged")


async def open_exceptions_by_age(conn: AsyncConnection, now: datetime) -> list[dict[str, Any]]:
    """Rows ``{type, age, count}`` over exceptions not yet resolved; ``age`` is one of the
    ``metrics_queries.AGE_BUCKETS`` names (<1h, 1h-24h, 1d-7d, >7d), counted from ``opened_at``.

    The buckets younger than the last are counted over the rows opened since its bound (open and acknowledged ones,
    an index range on (status, opened_at) holding the type); the oldest bucket is the rest of the unresolved
    counters, so the count never reads the old rows however many there are.
    """
    *young, (oldest, _) = AGE_BUCKETS
    bound = max(limit for _, limit in young if limit is not None)
    whens = [(exceptions.c.opened_at > now - limit, label) for label, limit in young if limit is not None]
    age = case(*whens, else_=oldest).label("age")
    rows = await conn.execute(select(exceptions.c.type, age, func.count().label("count"))
                              .where(exceptions.c.status.in_(UNRESOLVED), exceptions.c.opened_at > now - bound)
                              .group_by(exceptions.c.type, age))
    result = [{"type": r.type, "age": r.age, "count": r.count} for r in rows]
    recent: dict[str, int] = defaultdict(int)
    for row in result:
        recent[row["type"]] += row["count"]
    for row in await counted(conn, [exception_counts.c.status.in_(UNRESOLVED)], {"type": exception_counts.c.type}):
        older = row["count"] - recent[row["type"]]
        if older > 0:
            result.append({"type": row["type"], "age": oldest, "count": older})
    return result
