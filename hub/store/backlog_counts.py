"""The reconciliation backlog's counters: unresolved amount mismatches per currency and UTC hour opened, how many
and the sum of their absolute differences (an exact decimal, kept as text: SQLite has no exact decimal sum).

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

from hub.store.tables import backlog_counts, exceptions

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
    """Add the deltas to the stored counters (rows in key order)."""
    added = sorted((key, value) for key, value in sums(item for item in deltas.items() if item[1]).items()
                   if value[0] or value[1])
    if not added:
        return
    if conn.dialect.name == "postgresql":
        insert = postgresql.insert(backlog_counts)
        await conn.execute(insert.on_conflict_do_update(
            index_elements=["currency", "hour"],
            set_={"n": backlog_counts.c.n + insert.excluded.n,
                  "unmatched": cast(cast(backlog_counts.c.unmatched, NUMERIC)
                                    + cast(insert.excluded.unmatched, NUMERIC), Text)}),
            [{"currency": c, "hour": h, "n": n, "unmatched": str(total)} for (c, h), (n, total) in added])
        return
    stored = {(row.currency, row.hour): (row.n, Decimal(row.unmatched)) for row in await conn.execute(
        select(backlog_counts).where(or_(*(and_(backlog_counts.c.currency == c, backlog_counts.c.hour == h)
                                           for (c, h), _ in added))))}
    rows = []
    for key, (n, total) in added:
        before_n, before_total = stored.get(key, (0, Decimal(0)))
        rows.append({"currency": key[0], "hour": key[1], "n": before_n + n, "unmatched": str(before_total + total)})
    replace = sqlite.insert(backlog_counts)
    await conn.execute(replace.on_conflict_do_update(index_elements=["currency", "hour"],
                                                     set_={"n": replace.excluded.n,
                                                           "unmatched": replace.excluded.unmatched}), rows)


def rebuild_rows(rows: Iterable[Any], hour_of: Any) -> list[dict[str, Any]]:
    """Counter rows for these unresolved amount mismatches (``opened_at``, ``evidence``), counted afresh."""
    deltas: Counter[Key] = Counter()
    for row in rows:
        found = contribution(row.evidence)
        if found is not None:
            deltas[(BACKLOG, found[0], hour_of(row.opened_at), str(found[1]))] += 1
    return [{"currency": c, "hour": h, "n": n, "unmatched": str(total)}
            for (c, h), (n, total) in sorted(sums(deltas.items()).items())]


UNRESOLVED_MISMATCHES = (select(exceptions.c.opened_at, exceptions.c.evidence)
                         .where(exceptions.c.type == TYPE, exceptions.c.status.in_(("open", "acknowledged"))))
