"""Reads over exceptions: the filtered, sorted queue (keyset pages, capped total), counts, history.

Counts whose filter names only counted dimensions (status, type, severity, source, system kind, transaction kind,
queue) read the maintained counters (:mod:`hub.store.exception_counts`, a few hundred rows). A count whose filter
adds an age or time range, and which names (filters or groups by) at most one of status, type, source or
transaction kind, sums the hourly counters and counts only the hours a bound cuts from the rows. The others
(assignee, transaction, …) count the exceptions themselves, through the indexes (a total up to a cap).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select

from hub.store.exception_counts import counted_statuses, hour_of, opened_in_hours
from hub.store.tables import exception_counts, exception_counts_hourly, exception_history, exceptions

TOTAL_COUNT_CAP = 10_000
RANKS = {"critical": 4, "error": 3, "warning": 2, "info": 1}
SEVERITY_RANK = case(RANKS, value=exceptions.c.severity, else_=0)
GROUPABLE = {"type": exceptions.c.type, "source": exceptions.c.system, "status": exceptions.c.status,
             "severity": exceptions.c.severity, "queue": exceptions.c.queue, "system_kind": exceptions.c.system_kind,
             "tx_kind": exceptions.c.tx_kind}


@dataclass(frozen=True, slots=True)
class ExceptionFilter:
    status: Sequence[str] = ()
    type: Sequence[str] = ()
    severity: Sequence[str] = ()
    source: str | None = None
    system_kind: str | None = None
    tx_kind: str | None = None
    assignee: str | None = None
    queue: str | None = None
    tx_id: str | None = None
    older_than: timedelta | None = None
    since: datetime | None = None
    until: datetime | None = None


def _counter_conditions(flt: ExceptionFilter) -> list[Any] | None:
    """The filter over the counters, or None when it names something they do not count."""
    if (flt.assignee, flt.tx_id, flt.older_than, flt.since, flt.until) != (None,) * 5:
        return None
    c = exception_counts.c
    conditions: list[Any] = [c.n != 0]
    for column, values in ((c.status, flt.status), (c.type, flt.type), (c.severity, flt.severity)):
        if values:
            conditions.append(column.in_(list(values)))
    for column, value in ((c.system, flt.source), (c.system_kind, flt.system_kind), (c.tx_kind, flt.tx_kind),
                          (c.queue, flt.queue)):
        if value is not None:
            conditions.append(column == value)
    return conditions


COUNTED = {"type": exception_counts.c.type, "source": exception_counts.c.system,
           "status": exception_counts.c.status, "severity": exception_counts.c.severity,
           "queue": exception_counts.c.queue, "system_kind": exception_counts.c.system_kind,
           "tx_kind": exception_counts.c.tx_kind}


async def counted(conn: Any, conditions: list[Any], by: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows ``{<name>: value, …, "count": n}`` from the counters grouped by ``by`` (name → counter column);
    ``''`` reads back as None, as the column it counts was NULL."""
    columns = [column.label(name) for name, column in by.items()]
    total = func.sum(exception_counts.c.n)
    query = select(*columns, total.label("count")).where(*conditions)
    if columns:
        query = query.group_by(*columns)
    rows = await conn.execute(query.having(total > 0).order_by(total.desc()))
    return [{**{name: (row._mapping[name] or None) for name in by}, "count": int(row.count)} for row in rows]


def _conditions(flt: ExceptionFilter, now: datetime) -> list[Any]:
    c = exceptions.c
    conditions: list[Any] = []
    for column, values in ((c.status, flt.status), (c.type, flt.type), (c.severity, flt.severity)):
        if values:
            conditions.append(column.in_(list(values)))
    for column, value in ((c.system, flt.source), (c.system_kind, flt.system_kind), (c.tx_kind, flt.tx_kind),
                          (c.assignee, flt.assignee), (c.queue, flt.queue), (c.tx_id, flt.tx_id)):
        if value is not None:
            conditions.append(column == value)
    if flt.older_than is not None:
        conditions.append(c.opened_at <= now - flt.older_than)
    if flt.since is not None:
        conditions.append(c.opened_at >= flt.since)
    if flt.until is not None:
        conditions.append(c.opened_at < flt.until)
    return conditions


def exception_query(flt: ExceptionFilter, now: datetime) -> Any:
    """The filtered ``select`` (with the severity ``rank``) that lists and counts share."""
    return select(exceptions, SEVERITY_RANK.label("rank")).where(*_conditions(flt, now))


async def count_exceptions(conn: Any, flt: ExceptionFilter, now: datetime) -> int:
    """How many match, counted up to :data:`TOTAL_COUNT_CAP` (GitHub and Shopify cap theirs too)."""
    conditions = _counter_conditions(flt)
    if conditions is not None:
        rows = await counted(conn, conditions, {})
        return min(rows[0]["count"] if rows else 0, TOTAL_COUNT_CAP)
    by_hours = await _by_hours(conn, flt, now, [])
    if by_hours is not None:
        return min(by_hours.get(None, 0), TOTAL_COUNT_CAP)
    inner = select(exceptions.c.id).where(*_conditions(flt, now)).limit(TOTAL_COUNT_CAP).subquery()
    return (await conn.execute(select(func.count()).select_from(inner))).scalar_one()


async def group_counts(conn: Any, flt: ExceptionFilter, now: datetime, by: Sequence[str]) -> list[dict[str, Any]]:
    """Flat rows ``{<dimension>: value, …, "count": n}`` for dashboards and BI."""
    conditions = _counter_conditions(flt)
    if conditions is not None:
        rows = await counted(conn, conditions, {name: COUNTED[name] for name in by})
        return rows if rows or by else [{"count": 0}]  # no dimension: the one total row, as GROUP BY () gives
    by_hours = await _by_hours(conn, flt, now, by)
    if by_hours is not None:
        if not by:
            return [{"count": by_hours.get(None, 0)}]
        return [{by[0]: value, "count": n} for value, n in sorted(by_hours.items(), key=lambda item: -item[1]) if n]
    columns = [GROUPABLE[name].label(name) for name in by]
    rows = await conn.execute(select(*columns, func.count().label("count")).where(*_conditions(flt, now))
                              .group_by(*columns).order_by(func.count().desc()))
    return [dict(row._mapping) for row in rows]


_HOURLY = {"status": "status", "type": "type", "source": "source", "tx_kind": "kind"}  # name → hourly dimension


async def _by_hours(conn: Any, flt: ExceptionFilter, now: datetime, by: Sequence[str]) -> dict[Any, int] | None:
    """Counts of a time-bounded filter per value of ``by`` (one dimension at most; the key None without one) from
    the hourly counters, the hours a bound cuts counted from their rows. None when they cannot answer: a filter or
    grouping on more than one of status, type, source and transaction kind, or on anything else."""
    if (flt.assignee, flt.tx_id, flt.system_kind, flt.queue) != (None,) * 4 or flt.severity:
        return None
    named = {name: list(values) for name, values in (
        ("status", flt.status), ("type", flt.type), ("source", [flt.source] if flt.source is not None else []),
        ("tx_kind", [flt.tx_kind] if flt.tx_kind is not None else [])) if values}
    names = set(named) | set(by)
    if len(names) > 1 or not names <= set(_HOURLY) or any("" in values for values in named.values()):
        return None  # '' is what the counters store for NULL
    name = next(iter(names), None)
    upper = [bound for bound in (flt.until, None if flt.older_than is None else now - flt.older_than) if bound]
    cut = {hour_of(bound) for bound in (*upper, flt.since) if bound is not None}
    h = exception_counts_hourly.c
    query = select(h.value, func.sum(h.n)).where(h.dim == (_HOURLY[name] if name else "")).group_by(h.value)
    if name in named:
        query = query.where(h.value.in_(named[name]))
    if flt.since is not None:
        query = query.where(h.hour > hour_of(flt.since))
    if upper:
        query = query.where(h.hour < hour_of(min(upper)))
    found: dict[Any, int] = defaultdict(int)
    for value, n in await conn.execute(query):  # the whole hours between the bounds
        found[(value or None) if by else None] += int(n)
    columns = [GROUPABLE[by[0]]] if by else []
    edge_hours = select(*columns, func.count()).where(*_conditions(flt, now), opened_in_hours(cut),
                                                      *([] if flt.status else [counted_statuses(cut)]))
    for row in await conn.execute(edge_hours.group_by(*columns) if columns else edge_hours):
        found[row[0] if by else None] += row[-1]
    return found


async def history_of(conn: Any, exception_ids: Sequence[str]) -> dict[str, list[Any]]:
    rows = await conn.execute(select(exception_history).where(exception_history.c.exception_id.in_(
        list(exception_ids))).order_by(exception_history.c.id))
    result: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        result[row.exception_id].append(row)
    return result


async def exceptions_by_id(conn: Any, ids: Sequence[str]) -> dict[str, Any]:
    rows = await conn.execute(select(exceptions).where(exceptions.c.id.in_(list(ids))))
    return {row.id: row for row in rows}


async def exceptions_by_transaction(conn: Any, tx_ids: Sequence[str]) -> dict[str, list[Any]]:
    rows = await conn.execute(select(exceptions).where(exceptions.c.tx_id.in_(list(tx_ids)))
                              .order_by(exceptions.c.opened_at))
    result: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        result[row.tx_id].append(row)
    return result
