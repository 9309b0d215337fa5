"""One page of the exception queue, read as a merge of parts each of which an index walks in the page's order.

An index on (status, opened_at, id) gives the oldest-first order for one status, not for ``status IN (open,
acknowledged)`` nor for every status: the database would sort all the matching rows (a second at 1M) to return 50.
So the page is read per status (three at most) and per severity when sorted by severity (the rank is then fixed
within a part, and the part walks (status, severity, opened_at, id); the counters say which severities have
rows); each part returns at most ``size + 1``
rows past the cursor and the parts are merged here, in the same key order, into the page.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from hub.store.exception_queries import RANKS, ExceptionFilter, exception_query
from hub.store.paging import EXCEPTION_ORDER, KeysetPage, PageRequest, cursor_values, keyset_rows, page_from
from hub.store.tables import exception_counts

STATUSES = ("open", "acknowledged", "resolved")


async def queue_page(conn: Any, flt: ExceptionFilter, now: datetime, order: str,
                     request: PageRequest) -> KeysetPage:
    """The page ``keyset_page`` would return for ``exception_query(flt)`` in ``EXCEPTION_ORDER[order]``;
    ``ValueError`` for a bad request or a cursor that is not ours."""
    request.check()
    keys, age = EXCEPTION_ORDER[order], EXCEPTION_ORDER["age"]
    forward = request.first is not None
    cursor = request.after if forward else request.before
    values = cursor_values(cursor, keys) if cursor else None
    rows: list[Any] = []
    for status in dict.fromkeys(flt.status or STATUSES):
        part = replace(flt, status=(status,))
        if order != "severity":
            rows += await keyset_rows(conn, exception_query(part, now), keys, forward, values, request.size)
            continue
        for severity in dict.fromkeys(flt.severity) if flt.severity else await _severities(conn, status):
            rank = RANKS.get(severity, 0)
            after = None
            if values is not None:
                if (rank > values[0]) if forward else (rank < values[0]):
                    continue  # this severity is wholly before the cursor
                after = values[1:] if rank == values[0] else None
            query = exception_query(replace(part, severity=(severity,)), now)
            rows += await keyset_rows(conn, query, age, forward, after, request.size)
    rows.sort(key=_order_key(order), reverse=not forward)
    return page_from(rows[:request.size + 1], keys, request)


async def _severities(conn: Any, status: str) -> list[str]:
    """The severities that have exceptions in ``status``, from the counters: a part per severity that has none would
    walk every row of the status looking for one."""
    c = exception_counts.c
    rows = await conn.execute(select(c.severity).where(c.status == status).group_by(c.severity)
                              .having(func.sum(c.n) > 0))
    return [row.severity for row in rows]


def _order_key(order: str) -> Any:
    if order == "severity":
        return lambda row: (-row.rank, row.opened_at, row.id)
    return lambda row: (row.opened_at, row.id)
