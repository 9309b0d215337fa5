"""What the exports read: keyset batches of the four lists (flat rows), an OCEL window's events, refs and
transactions, and the timelines behind the process map. Shaping the output is :mod:`hub.export`'s job."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import deliveries, events, exceptions, refs, transactions


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


_LISTS: dict[str, Callable[[ExportFilter], Any]] = {
    "transactions": _transactions, "events": _events, "exceptions": _exceptions, "deliveries": _deliveries}


async def export_batch(conn: AsyncConnection, name: str, flt: ExportFilter, after: str | None,
                       size: int) -> list[dict[str, Any]]:
    """The next ``size`` rows of list ``name`` matching ``flt`` with an id above ``after``, in id order, as dicts;
    events carry ``refs`` (``[{"namespace", "value", "role"}]``) and ``lines`` (a list). ``KeyError`` for an
    unknown list."""
    query, key = _LISTS[name](flt)
    if after is not None:
        query = query.where(key > after)
    rows = [{str(k): v for k, v in r._mapping.items()} for r in await conn.execute(query.order_by(key).limit(size))]
    if name == "events" and rows:
        stated = await _refs_of(conn, [r["id"] for r in rows])
        for row in rows:
            row["refs"] = stated.get(row["id"], [])
            row["lines"] = row["lines"] or []
    return rows


async def _refs_of(conn: AsyncConnection, event_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    result: dict[str, list[dict[str, str]]] = defaultdict(list)
    rows = await conn.execute(select(refs.c.event_id, refs.c.namespace, refs.c.value, refs.c.role)
                              .where(refs.c.event_id.in_(event_ids))
                              .order_by(refs.c.event_id, refs.c.namespace, refs.c.value))
    for row in rows:
        result[row.event_id].append({"namespace": row.namespace, "value": row.value, "role": row.role})
    return result


def _window(since: datetime | None, until: datetime | None) -> list[Any]:
    window = []
    if since is not None:
        window.append(events.c.occurred_at >= since)
    if until is not None:
        window.append(events.c.occurred_at < until)
    return window


async def events_in_window(conn: AsyncConnection, since: datetime | None, until: datetime | None,
                           limit: int) -> list[Any]:
    """At most ``limit`` events that occurred in ``[since, until)``, by occurred_at then id."""
    return list((await conn.execute(select(events).where(*_window(since, until))
                                    .order_by(events.c.occurred_at, events.c.id).limit(limit))).all())


async def refs_in_window(conn: AsyncConnection, since: datetime | None, until: datetime | None) -> list[Any]:
    """The refs (event_id, namespace, value, role) stated by events that occurred in ``[since, until)``."""
    return list((await conn.execute(
        select(refs.c.event_id, refs.c.namespace, refs.c.value, refs.c.role)
        .select_from(refs.join(events, events.c.id == refs.c.event_id)).where(*_window(since, until))
        .order_by(refs.c.event_id, refs.c.namespace, refs.c.value))).all())


async def transactions_in_chunks(conn: AsyncConnection, tx_ids: list[str], chunk: int = 1000) -> dict[str, Any]:
    """The transaction rows with these ids, read ``chunk`` ids at a time."""
    txs = {}
    for start in range(0, len(tx_ids), chunk):
        for tx in await conn.execute(select(transactions).where(transactions.c.id.in_(tx_ids[start:start + chunk]))):
            txs[tx.id] = tx
    return txs


async def newest_transactions_started(conn: AsyncConnection, kind: str, since: datetime, until: datetime,
                                      limit: int) -> list[str]:
    """Ids of at most ``limit`` transactions of ``kind`` whose first event falls in ``[since, until)``, newest
    first."""
    return list((await conn.execute(
        select(transactions.c.id).where(transactions.c.kind == kind, transactions.c.first_at >= since,
                                        transactions.c.first_at < until)
        .order_by(transactions.c.id.desc()).limit(limit))).scalars())


async def timelines(conn: AsyncConnection, tx_ids: list[str], chunk: int = 500) -> dict[str, list[Any]]:
    """Each transaction's events (tx_id, id, source, type, occurred_at) in timeline order: occurred_at, then
    received_at, then id."""
    result: dict[str, list[Any]] = defaultdict(list)
    for start in range(0, len(tx_ids), chunk):
        rows = await conn.execute(
            select(events.c.tx_id, events.c.id, events.c.source, events.c.type, events.c.occurred_at)
            .where(events.c.tx_id.in_(tx_ids[start:start + chunk]))
            .order_by(events.c.tx_id, events.c.occurred_at, events.c.received_at, events.c.id))
        for row in rows:
            result[row.tx_id].append(row)
    return result
