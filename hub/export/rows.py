"""Exports of the lists (transactions, events, exceptions, deliveries) as streams of flat rows.

Rows come in id order, read in keyset batches of :data:`BATCH` with a fresh read connection per batch, so an
export of millions of rows holds neither a connection nor the rows in memory. Filters mirror the GraphQL ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select

from hub.store import Store
from hub.store.tables import deliveries, events, exceptions, refs, transactions

BATCH = 1000


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Every field narrows; ``since``/``until`` bound each list's own time (UTC, naive)."""

    source: str | None = None
    kind: str | None = None
    type: str | None = None
    status: str | None = None
    tx_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None


def _narrow(query: Any, equal: tuple[tuple[Any, str | None], ...], since: Any, until: Any,
            flt: ExportFilter) -> Any:
    """``query`` where each column equals its given value, ``since`` >= the filter's since, ``until`` < its until."""
    for column, value in equal:
        if value:
            query = query.where(column == value)
    if flt.since:
        query = query.where(since >= flt.since)
    if flt.until:
        query = query.where(until < flt.until)
    return query


def _transactions(flt: ExportFilter) -> Any:
    c = transactions.c
    query = select(c.id, c.kind, c.first_at, c.last_at, c.events, c.systems, c.open_exceptions)
    if flt.source:
        query = query.where(exists().where(events.c.tx_id == c.id, events.c.source == flt.source))
    return _narrow(query, ((c.kind, flt.kind),), c.last_at, c.first_at, flt), c.id  # overlapping the window


def _events(flt: ExportFilter) -> Any:
    c = events.c
    query = select(c.id, c.tx_id, c.source, c.source_event_id, c.type, c.occurred_at, c.received_at, c.status,
                   c.error, c.amount_value, c.amount_currency, c.amount_kind, c.lines, c.delivery_id)
    equal = ((c.source, flt.source), (c.type, flt.type), (c.status, flt.status), (c.tx_id, flt.tx_id))
    return _narrow(query, equal, c.occurred_at, c.occurred_at, flt), c.id


def _exceptions(flt: ExportFilter) -> Any:
    c = exceptions.c
    query = select(c.id, c.type, c.severity, c.rule, c.subject, c.tx_id, c.tx_kind, c.system, c.queue, c.status,
                   c.message, c.assignee, c.opened_at, c.updated_at, c.resolved_at, c.resolved_by)
    equal = ((c.system, flt.source), (c.type, flt.type), (c.status, flt.status), (c.tx_kind, flt.kind),
             (c.tx_id, flt.tx_id))
    return _narrow(query, equal, c.opened_at, c.opened_at, flt), c.id


def _deliveries(flt: ExportFilter) -> Any:
    c = deliveries.c
    query = select(c.id, c.source, c.received_at, c.state, c.error, c.attempts, c.repeats, c.content_type,
                   func.length(c.body).label("size"))
    return _narrow(query, ((c.source, flt.source), (c.state, flt.status)), c.received_at, c.received_at, flt), c.id


LISTS: dict[str, Callable[[ExportFilter], Any]] = {
    "transactions": _transactions, "events": _events, "exceptions": _exceptions, "deliveries": _deliveries}
COLUMNS: dict[str, list[str]] = {
    "transactions": ["id", "kind", "first_at", "last_at", "events", "systems", "open_exceptions"],
    "events": ["id", "tx_id", "source", "source_event_id", "type", "occurred_at", "received_at", "status", "error",
               "amount_value", "amount_currency", "amount_kind", "refs", "lines", "delivery_id"],
    "exceptions": ["id", "type", "severity", "rule", "subject", "tx_id", "tx_kind", "system", "queue", "status",
                   "message", "assignee", "opened_at", "updated_at", "resolved_at", "resolved_by"],
    "deliveries": ["id", "source", "received_at", "state", "error", "attempts", "repeats", "content_type", "size"],
}


async def export_rows(store: Store, name: str, flt: ExportFilter) -> AsyncIterator[dict[str, Any]]:
    """Every matching row of list ``name`` as a dict with :data:`COLUMNS` keys, in id order.

    Events carry ``refs`` as ``[{"namespace", "value", "role"}]``. ``KeyError`` for an unknown list.
    """
    build = LISTS[name]
    query, key = build(flt)
    after: str | None = None
    sent = 0
    while flt.limit is None or sent < flt.limit:
        size = BATCH if flt.limit is None else min(BATCH, flt.limit - sent)
        page = query.where(key > after) if after is not None else query
        async with store.read() as conn:
            rows = [{str(k): v for k, v in r._mapping.items()}
                    for r in await conn.execute(page.order_by(key).limit(size))]
            if name == "events" and rows:
                stated = await _refs_of(conn, [r["id"] for r in rows])
                for row in rows:
                    row["refs"] = stated.get(row["id"], [])
                    row["lines"] = row["lines"] or []
        for row in rows:
            yield row
        sent += len(rows)
        if len(rows) < size:
            return
        after = rows[-1]["id"]


async def _refs_of(conn: Any, event_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    result: dict[str, list[dict[str, str]]] = defaultdict(list)
    rows = await conn.execute(select(refs.c.event_id, refs.c.namespace, refs.c.value, refs.c.role)
                              .where(refs.c.event_id.in_(event_ids))
                              .order_by(refs.c.event_id, refs.c.namespace, refs.c.value))
    for row in rows:
        result[row.event_id].append({"namespace": row.namespace, "value": row.value, "role": row.role})
    return result
