"""The ``audit_log`` table: append an entry, and the query the audit log pages through (policy: hub.access.audit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import audit_log


async def insert_entry(conn: AsyncConnection, *, at: datetime, actor: str, role: str, action: str, object: str,
                       result: str, detail: str | None) -> None:
    await conn.execute(audit_log.insert().values(at=at, actor=actor, role=role, action=action, object=object,
                                                 result=result, detail=detail))


def entry_query(*, actor: str | None = None, action: str | None = None, result: str | None = None,
                since: datetime | None = None, until: datetime | None = None) -> Select[Any]:
    """Entries matching every given narrowing (``since``/``until`` bound ``at``, naive UTC), unordered."""
    c = audit_log.c
    query = select(audit_log)
    for column, value in ((c.actor, actor), (c.action, action), (c.result, result)):
        if value:
            query = query.where(column == value)
    if since is not None:
        query = query.where(c.at >= since)
    if until is not None:
        query = query.where(c.at < until)
    return query
