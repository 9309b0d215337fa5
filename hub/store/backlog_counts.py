"""The reconciliation backlog's counters: unresolved amount mismatches per currency and UTC hour opened (and per UTC
day opened, for the backlog older than a week), how many and the sum of their absolute differences (an exact
decimal, kept as text: SQLite has no exact decimal sum).

Kept with the exception counters (:mod:`hub.store.exception_counts`): every change the lifecycle makes moves the
exception out of its backlog key as it was and into the one it has after (none once resolved, or when it is no
amount mismatch, or its evidence holds no readable difference). The deltas of a write transaction are added
once, at its end, in key order; PostgreSQL adds the sums itself (``numeric``), SQLite in Python under its
one writer. :mod:`hub.store.metrics_queries` reads them for ``reconciliationBacklog``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Text, and_, cast, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import NUMERIC
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import backlog_counts, backlog_counts_daily, exceptions

BACKLOG = "backlog"
TYPE = "amount_mismatch"
Key = tuple[str, str, int, str]  # (BACKLOG, currency, hour opened, absolute difference)


def contribution(evidence: Any) -> tuple[str, Decimal] | None:
    """(currency, absolute difference) an amount mismatch's evidence adds to the backlog; None when unreadable."""
    evidence = evidence if isinstance(evidence, dict) else {}
    try:
        difference = abs(Decimal(str(evidence.get("difference", "0"))))
    except InvalidOperation:
        return None
    if not difference.is_finite():
        return None
    return str(evidence.get("currency") or "?"), difference


def key_of(values: dict[str, Any], hour: int) -> Key | None:
    """The backlog key of an exception with these column ``values`` opened in ``hour`` (None: not in it)."""
    if values["type"] != TYPE or values["status"] == "resolved":
        return None
    found = contribution(values["evidence"])
    return None if found is None else (BACKLOG, found[0], hour, str(found[1]))


def sums(deltas: Iterable[tuple[Key, int]]) -> dict[tuple[str, int], tuple[int, Decimal]]:
    """(currency, hour) → (exceptions, unmatched) the deltas add."""
    added: dict[tuple[str, int], tuple[int, Decimal]] = {}
    for (_, currency, hour, amount), n in deltas:
        count, total = added.get((currency, hour), (0, Decimal(0)))
        added[(currency, hour)] = (count + n, total + n * Decimal(amount))
    return added


async def apply(conn: AsyncConnection, deltas: Counter[Key]) -> None:
    """Add the deltas to the stored counters, per hour and per day (rows in key order)."""
    hourly = sums(item for item in deltas.items() if item[1])
    daily: dict[tuple[str, int], tuple[int, Decimal]] = {}
    for (currency, hour), (n, total) in hourly.items():
        count, amount = daily.get((currency, hour // 24), (0, Decimal(0)))
        daily[(currency, hour // 24)] = (count + n, amount + total)
    await _add(conn, backlog_counts, "hour", hourly)
    await _add(conn, backlog_counts_daily, "day", daily)


async def _add(conn: AsyncConnection, table: Any, period: str,
               added: dict[tuple[str, int], tuple[int, Decimal]]) -> None:
    """Add (currency, ``period``) → (exceptions, unmatched) to ``table``; PostgreSQL sums the decimals itself."""
    rows = [{"currency": c, period: p, "n": n, "unmatched": str(total)}
            for (c, p), (n, total) in sorted(added.items()) if n or total]
    if not rows:
        return
    keys = ["currency", period]
    if conn.dialect.name == "postgresql":
        insert = postgresql.insert(table)
        await conn.execute(insert.on_conflict_do_update(
            index_elements=keys,
            set_={"n": table.c.n + insert.excluded.n,
                  "unmatched": cast(cast(table.c.unmatched, NUMERIC) + cast(insert.excluded.unmatched, NUMERIC),
                                    Text)}), rows)
        return
    stored = {(row.currency, row[1]): (row.n, Decimal(row.unmatched)) for row in await conn.execute(
        select(table.c.currency, table.c[period], table.c.n, table.c.unmatched).where(
            or_(*(and_(table.c.currency == row["currency"], table.c[period] == row[period]) for row in rows))))}
    for row in rows:
        before_n, before_total = stored.get((row["currency"], row[period]), (0, Decimal(0)))
        row.update(n=before_n + row["n"], unmatched=str(before_total + Decimal(row["unmatched"])))
    replace = sqlite.insert(table)
    await conn.execute(replace.on_conflict_do_update(index_elements=keys, set_={
        "n": replace.excluded.n, "unmatched": replace.excluded.unmatched}), rows)


def rebuild_rows(rows: Iterable[Any], hour_of: Any) -> list[dict[str, Any]]:
    """Counter rows for these unresolved amount mismatches (``opened_at``, ``evidence``), counted afresh."""
    deltas: Counter[Key] = Counter()
    for row in rows:
        found = contribution(row.evidence)
        if found is not None:
            deltas[(BACKLOG, found[0], hour_of(row.opened_at), str(found[1]))] += 1
    return [{"currency": c, "hour": h, "n": n, "unmatched": str(total)}
            for (c, h), (n, total) in sorted(sums(deltas.items()).items())]


def daily_rows(hourly: Iterable[Any]) -> list[dict[str, Any]]:
    """The per-day counter rows of these per-hour ones (``currency``, ``hour``, ``n``, ``unmatched``)."""
    days: dict[tuple[str, int], tuple[int, Decimal]] = {}
    for row in hourly:
        n, total = days.get((row["currency"], row["hour"] // 24), (0, Decimal(0)))
        days[(row["currency"], row["hour"] // 24)] = (n + row["n"], total + Decimal(row["unmatched"]))
    return [{"currency": c, "day": d, "n": n, "unmatched": str(total)} for (c, d), (n, total) in sorted(days.items())]


UNRESOLVED_MISMATCHES = (select(exceptions.c.opened_at, exceptions.c.evidence)
                         .where(exceptions.c.type == TYPE, exceptions.c.status.in_(("open", "acknowledged"))))
