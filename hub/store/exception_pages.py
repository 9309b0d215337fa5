"""One page of the exception queue, read as a merge of parts each of which an index walks in the page's order.

An index on (status, opened_at, id) gives the oldest-first order for one status, not for ``status IN (open,
acknowledged)`` nor for every status: the database would sort all the matching rows (a second at 1M) to return 50.
So the page is read per status (three at most) and per severity when sorted by severity (the rank is then fixed
within a part, and the part walks (status, severity, opened_at, id); the counters say which severities have
rows); each part returns at most ``size + 1`` rows past the cursor. All parts are read in one statement: their
keys' UNION ALL, merged in the same key order and cut to the page by the database, joined back to the page's rows
(one round trip, one page of rows read in full).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, union_all

from hub.store.exception_queries import RANKS, SEVERITY_RANK, ExceptionFilter, exception_query
from hub.store.paging import (
    EXCEPTION_ORDER,
    Key,
    KeysetPage,
    PageRequest,
    cursor_values,
    keyset_query,
    page_from,
)
from hub.store.tables import exception_counts, exceptions

STATUSES = ("open", "acknowledged", "resolved")


async def queue_page(conn: Any, flt: ExceptionFilter, now: datetime, order: str,
                     request: PageRequest) -> KeysetPage:
    """The page ``keyset_page`` would return for ``exception_query(flt)`` in ``EXCEPTION_ORDER[order]``;
    ``ValueError`` for a bad request or a cursor that is not ours. One statement reads every part."""
    request.check()
    keys, age = EXCEPTION_ORDER[order], EXCEPTION_ORDER["age"]
    forward = request.first is not None
    cursor = request.after if forward else request.before
    values = cursor_values(cursor, keys) if cursor else None
    parts: list[Any] = []
    for status in dict.fromkeys(flt.status or STATUSES):
        part = replace(flt, status=(status,))
        if order != "severity":
            parts.append(keyset_query(exception_query(part, now), keys, forward, values, request.size))
            continue
        for severity in dict.fromkeys(flt.severity) if flt.severity else await _severities(conn, status):
            rank = RANKS.get(severity, 0)
            after = None
            if values is not None:
                if (rank > values[0]) if forward else (rank < values[0]):
                    continue  # this severity is wholly before the cursor
                after = values[1:] if rank == values[0] else None
            query = exception_query(replace(part, severity=(severity,)), now)
            parts.append(keyset_query(query, age, forward, after, request.size))
    rows = list(await conn.execute(_merged(parts, keys, forward, request.size))) if parts else []
    return page_from(rows, keys, request)


async def _severities(conn: Any, status: str) -> list[str]:
    """The severities that have exceptions in ``status``, from the counters: a part per severity that has none would
    walk every row of the status looking for one."""
    c = exception_counts.c
    rows = await conn.execute(select(c.severity).where(c.status == status).group_by(c.severity)
                              .having(func.sum(c.n) > 0))
    return [row.severity for row in rows]


def _merged(parts: list[Any], keys: list[Key], forward: bool, size: int) -> Any:
    """The parts (each ordered and limited: an index walk) as one statement: the union of their keys, merged in the
    walking order and cut to ``size + 1`` by the database, joined back to those rows only; a lone part as it is."""
    if len(parts) == 1:
        return parts[0]
    merged = union_all(*(select(part.with_only_columns(*PART_KEYS).subquery()) for part in parts)).subquery()
    page = select(merged).order_by(*_walking(merged, keys, forward)).limit(size + 1).subquery()
    return (select(exceptions, SEVERITY_RANK.label("rank")).join(page, page.c.id == exceptions.c.id)
            .order_by(*_walking(page, keys, forward)))


def _walking(source: Any, keys: list[Key], forward: bool) -> list[Any]:
    """ORDER BY ``source``'s columns named like ``keys``, in the walking direction."""
    columns = [source.c[key.name or key.column.name] for key in keys]
    return [column.desc() if key.descending == forward else column.asc()
            for key, column in zip(keys, columns, strict=True)]


PART_KEYS = (exceptions.c.id, exceptions.c.opened_at, SEVERITY_RANK.label("rank"))  # every order's keys
