"""One page of the exception queue, read as a merge of parts each of which an index walks in the page's order.

An index on (status, opened_at, id) gives the oldest-first order for one status, not for ``status IN (open,
acknowledged)`` nor for every status: the database would sort all the matching rows (a second at 1M) to return 50.
So the page is read per status (three at most) and per severity when sorted by severity (the rank is then fixed
within a part, and the part walks (status, severity, opened_at, id)); each part returns at most ``size + 1``
rows past the cursor and the parts are merged here, in the same key order, into the page.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from hub.store.exception_queries import RANKS, ExceptionFilter, exception_query
from hub.store.paging import EXCEPTION_ORDER, KeysetPage, PageRequest, cursor_values, keyset_rows, page_from
from hub.store.tables import exceptions

STATUSES = ("open", "acknowledged", "resolved")
_OTHER = ""  # a severity outside RANKS (rank 0)


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
        for severity in _severities(flt):
            rank = RANKS.get(severity, 0)
            after = None
            if values is not None:
                if (rank > values[0]) if forward else (rank < values[0]):
                    continue  # this severity is wholly before the cursor
                after = values[1:] if rank == values[0] else None
            query = exception_query(replace(part, severity=(severity,)) if severity != _OTHER else part, now)
            if severity == _OTHER:
                query = query.where(exceptions.c.severity.not_in(list(RANKS)))
            rows += await keyset_rows(conn, query, age, forward, after, request.size)
    rows.sort(key=_order_key(order), reverse=not forward)
    return page_from(rows[:request.size + 1], keys, request)


def _severities(flt: ExceptionFilter) -> list[str]:
    return list(dict.fromkeys(flt.severity)) if flt.severity else [*RANKS, _OTHER]


def _order_key(order: str) -> Any:
    if order == "severity":
        return lambda row: (-row.rank, row.opened_at, row.id)
    return lambda row: (row.opened_at, row.id)
