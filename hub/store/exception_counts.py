"""The exception counters, kept by :mod:`hub.exceptions.lifecycle` in one transaction as every change it makes (open,
refresh, reopen, resolve, acknowledge), as deltas: ``-1`` for the row as it was, ``+1`` for the row as it is.

- ``exception_counts``: how many per (status, type, system, severity, queue, system_kind, tx_kind); ``None`` is
  stored as ``''`` (a primary key column cannot be NULL). A few hundred rows whatever the number of exceptions.
- ``exception_counts_hourly``: per UTC hour opened (hours since 1970) and per one dimension (``''`` for all,
  ``status``, ``type``, ``source``, ``kind``), how many: the time series of ``metrics`` counts reads 24 × 5 rows a
  day instead of every exception (each dimension alone: the cross product per hour would be as big as the rows).
  One more dimension, ``unres`` (:data:`UNRESOLVED_BY_TYPE`), counts only the unresolved (open or acknowledged)
  ones per type: the dashboard's age tiles sum its hours instead of reading the last week's rows.
- ``backlog_counts`` and ``backlog_counts_daily``: the reconciliation backlog (:mod:`hub.store.backlog_counts`),
  moved by the same deltas.

Read by :mod:`hub.store.exception_queries`, :mod:`hub.store.metrics_queries` and
:mod:`hub.store.dashboard_queries` whenever a question names only what they count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import backlog_counts, tables
from hub.store.tables import exception_counts, exception_counts_hourly

DIMS = ("status", "type", "system", "severity", "queue", "system_kind", "tx_kind")
HOURLY = {"status": 0, "type": 1, "source": 2, "kind": 6}  # hourly dimension → its place in a key
UNRESOLVED = ("open", "acknowledged")
UNRESOLVED_BY_TYPE = "unres"  # the hourly dimension of unresolved exceptions by type (not a metrics dimension)
Key = tuple[Any, ...]  # the DIMS values, then the hour opened; or a backlog_counts.Key


EPOCH = datetime(1970, 1, 1)  # hour 0 of the hourly counters


def hour_of(at: datetime) -> int:
    """Hours since 1970 of a naive-UTC time."""
    return int((at - EPOCH).total_seconds() // 3600)


def opened_in_hours(hours: Iterable[int]) -> Any:
    """The condition: an exception opened in one of these hours (an index range each)."""
    opened = tables.exceptions.c.opened_at
    return or_(*(and_(opened >= EPOCH + timedelta(hours=hour), opened < EPOCH + timedelta(hours=hour + 1))
                 for hour in sorted(hours)))


def counted_statuses(hours: Iterable[int]) -> Any:
    """The condition: an exception in a status the hourly counters count in these hours. It keeps the same rows and
    lets an index led by status walk an hour's range (without a status PostgreSQL reads the whole table)."""
    h = tables.exception_counts_hourly.c
    return tables.exceptions.c.status.in_(select(h.value).where(h.dim == "status", h.hour.in_(sorted(hours)),
                                                                h.n != 0))


def key_of(row: Any, **changed: Any) -> Key:
    """The counters a row (a Row or a dict) counts in, with ``changed`` columns as they are about to become."""
    def value(name: str) -> Any:
        if name in changed:
            return changed[name]
        return row[name] if isinstance(row, dict) else getattr(row, name)
    return (*(value(name) or "" for name in DIMS), hour_of(value("opened_at")))


def keys_of(row: Any, **changed: Any) -> list[Key]:
    """Every counter key a row counts in, with ``changed`` as it is about to become: its :func:`key_of`, and its
    reconciliation backlog key when it has one (:mod:`hub.store.backlog_counts`)."""
    key = key_of(row, **changed)
    values = {name: changed[name] if name in changed else (row[name] if isinstance(row, dict) else getattr(row, name))
              for name in ("type", "status", "evidence")}
    backlog = backlog_counts.key_of(values, key[-1])
    return [key] if backlog is None else [key, backlog]


def move(deltas: Counter[Key], row: Any, **changed: Any) -> None:
    """Count ``row`` out of its counters and into the ones it moves to with ``changed`` (nothing when the same)."""
    before, after = keys_of(row), keys_of(row, **changed)
    if before != after:
        deltas.subtract(before)
        deltas.update(after)


_PENDING = "crosstrace.exception_count_deltas"


def defer(conn: AsyncConnection) -> None:
    """Collect the deltas of this write transaction and add them once, at :func:`flush`: each counter row is then
    locked once, late and in key order, so two hubs writing exceptions on one PostgreSQL never deadlock on them
    and hold them only for the commit."""
    conn.info[_PENDING] = Counter()


async def flush(conn: AsyncConnection) -> None:
    """Add what :func:`defer` collected (the transaction is about to commit)."""
    pending = conn.info.pop(_PENDING, None)
    if pending:
        await _apply_now(conn, pending)


def discard(conn: AsyncConnection) -> None:
    """Forget what was collected (the transaction rolled back); the connection goes back to the pool clean.
    A connection invalidated mid-transaction (its task cancelled inside a statement) is discarded with its info:
    nothing to forget, and raising here would hide the cancellation behind a PendingRollbackError."""
    try:
        conn.info.pop(_PENDING, None)
    except PendingRollbackError:
        pass


async def apply(conn: AsyncConnection, deltas: Counter[Key]) -> None:
    """Add the deltas: at the commit when the transaction deferred them (:func:`defer`), else now."""
    pending = conn.info.get(_PENDING)
    if pending is not None:
        pending.update(deltas)
    else:
        await _apply_now(conn, deltas)


async def _apply_now(conn: AsyncConnection, deltas: Counter[Key]) -> None:
    """One statement per table; rows go in key order so concurrent writers lock them in one order."""
    totals: Counter[Key] = Counter()
    hourly: Counter[Key] = Counter()
    backlog: Counter[Key] = Counter()
    for key, n in deltas.items():
        if key[0] == backlog_counts.BACKLOG:
            backlog[key] += n
            continue
        totals[key[:-1]] += n
        hourly[("", key[-1], "")] += n
        for dim, place in HOURLY.items():
            hourly[(dim, key[-1], key[place])] += n
        if key[0] in UNRESOLVED:
            hourly[(UNRESOLVED_BY_TYPE, key[-1], key[1])] += n
    await _add(conn, exception_counts, DIMS, totals)
    await _add(conn, exception_counts_hourly, ("dim", "hour", "value"), hourly)
    await backlog_counts.apply(conn, backlog)


async def _add(conn: AsyncConnection, table: Any, columns: tuple[str, ...], deltas: Counter[Key]) -> None:
    rows = [{**dict(zip(columns, key, strict=True)), "n": n} for key, n in sorted(deltas.items()) if n]
    if not rows:
        return
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
    await conn.execute(insert.on_conflict_do_update(index_elements=list(columns),
                                                    set_={"n": table.c.n + insert.excluded.n}), rows)


def _hour_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return "CAST(FLOOR(EXTRACT(EPOCH FROM opened_at) / 3600) AS INTEGER)"
    return "CAST(strftime('%s', opened_at) AS INTEGER) / 3600"


def rebuild_statements(dialect: str) -> list[str]:
    """The statements that count every exception afresh (the migration's back-fill runs them too)."""
    dims = ", ".join(f"COALESCE({d}, '')" for d in DIMS)
    hour = _hour_sql(dialect)
    statements = ["DELETE FROM exception_counts", "DELETE FROM exception_counts_hourly",
                  f"INSERT INTO exception_counts ({', '.join(DIMS)}, n) SELECT {dims}, COUNT(*) FROM exceptions "
                  f"GROUP BY {dims}",
                  f"INSERT INTO exception_counts_hourly (hour, dim, value, n) SELECT {hour}, '', '', COUNT(*) "
                  f"FROM exceptions GROUP BY {hour}"]
    for dim, place in HOURLY.items():
        column = f"COALESCE({DIMS[place]}, '')"
        statements.append(f"INSERT INTO exception_counts_hourly (hour, dim, value, n) SELECT {hour}, '{dim}', "
                          f"{column}, COUNT(*) FROM exceptions GROUP BY {hour}, {column}")
    statements.append(unresolved_by_type_statement(dialect))
    return statements


def unresolved_by_type_statement(dialect: str) -> str:
    """The statement that counts the unresolved exceptions per hour opened and type afresh (migration 0025)."""
    hour, statuses = _hour_sql(dialect), ", ".join(f"'{status}'" for status in UNRESOLVED)
    return (f"INSERT INTO exception_counts_hourly (hour, dim, value, n) SELECT {hour}, '{UNRESOLVED_BY_TYPE}', type, "
            f"COUNT(*) FROM exceptions WHERE status IN ({statuses}) GROUP BY {hour}, type")


async def rebuild(conn: AsyncConnection) -> None:
    """Count every exception afresh (a bulk load that bypassed the hub calls it)."""
    for statement in rebuild_statements(conn.dialect.name):
        await conn.execute(text(statement))
    await conn.execute(delete(tables.backlog_counts))
    await conn.execute(delete(tables.backlog_counts_daily))
    rows = backlog_counts.rebuild_rows(await conn.execute(backlog_counts.UNRESOLVED_MISMATCHES), hour_of)
    if rows:
        await conn.execute(insert(tables.backlog_counts), rows)
        await conn.execute(insert(tables.backlog_counts_daily), backlog_counts.daily_rows(rows))
