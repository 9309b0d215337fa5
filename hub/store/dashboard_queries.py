"""The dashboard's one aggregate :mod:`hub.store.metrics_queries` does not already give: open exceptions by
type and age. Everything else on the dashboard reads ``metrics_queries`` (what GraphQL ``metrics`` returns),
``hub.polling.source_health`` (GraphQL ``sources``), ``hub.process_map`` and ``hub.stock``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.metrics_queries import AGE_BUCKETS
from hub.store.tables import exceptions


async def open_exceptions_by_age(conn: AsyncConnection, now: datetime) -> list[dict[str, Any]]:
    """Rows ``{type, age, count}`` over exceptions not yet resolved; ``age`` is one of the
    ``metrics_queries.AGE_BUCKETS`` names (<1h, 1h-24h, 1d-7d, >7d), counted from ``opened_at``."""
    whens = [(exceptions.c.opened_at > now - limit, label) for label, limit in AGE_BUCKETS if limit is not None]
    age = case(*whens, else_=AGE_BUCKETS[-1][0]).label("age")
    rows = await conn.execute(select(exceptions.c.type, age, func.count().label("count"))
                              .where(exceptions.c.status != "resolved").group_by(exceptions.c.type, age))
    return [{"type": r.type, "age": r.age, "count": r.count} for r in rows]
