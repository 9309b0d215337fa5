"""The stock ledger's tables: ``stock_positions`` (the current figure per key) and ``stock_history`` (every effect).

Reads and writes only; the rules (what a snapshot or a movement does) are in :mod:`hub.stock.ledger`, and
the read model (positions as of a time) in :mod:`hub.stock.queries`. Rows come back as SQLAlchemy rows
(attribute access by column name).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import pairs_in
from hub.store.bulk import insert_rows
from hub.store.correlation_locks import lock_stock_positions
from hub.store.dedup_keys import events_by_key
from hub.store.lookups import chunks, one_of, per_statement
from hub.store.tables import events, exceptions, stock_history, stock_positions

Key = tuple[str, str, str, str]  # sku, location, source, state
_POSITION_KEY = ("sku", "location", "source", "state")
_POSITION_VALUES = ("qty", "as_of", "base_at", "event_id", "updated_at")


def in_pairs(conn: AsyncConnection, first: Any, second: Any, pairs: Iterable[tuple[str, str]]) -> Any:
    """``(first, second)`` is one of ``pairs`` (at most :func:`~hub.store.lookups.per_statement`), one statement text
    whatever their number. PostgreSQL: a semi-join against ``unnest`` of two arrays (:func:`hub.store.pairs_match`),
    the two-column index probed per pair. SQLite: ``first IN (…) AND second IN (…)``, an index search where a
    row-value ``(a, b) IN (…)`` scans the table; callers drop the cross-product extras."""
    pairs = list(pairs)
    if conn.dialect.name == "postgresql":
        return pairs_in(first, second, pairs, "postgresql")
    return and_(first.in_(sorted({a for a, _ in pairs})), second.in_(sorted({b for _, b in pairs})))


async def events_by_source_id(conn: AsyncConnection, keys: Iterable[tuple[str, str]]) -> list[Any]:
    """The stored events with these (source, source_event_id): id, source, source_event_id, type, occurred_at."""
    keys = list(keys)
    wanted = set(keys)
    rows: list[Any] = []
    stored, (source, source_event_id) = events_by_key(conn.dialect.name, events.c.id, events.c.source,
                                                      events.c.source_event_id, events.c.type, events.c.occurred_at)
    for chunk in chunks(keys, per_statement(conn)):
        rows.extend((await conn.execute(stored.where(in_pairs(conn, source, source_event_id, chunk)))).all())
    return [r for r in rows if (r.source, r.source_event_id) in wanted]


async def events_in_history(conn: AsyncConnection, event_ids: list[str]) -> set[str]:
    """Which of these events already have their stock effects recorded."""
    seen: set[str] = set()
    for chunk in chunks(event_ids, per_statement(conn)):
        seen.update((await conn.execute(select(stock_history.c.event_id).distinct()
                                        .where(one_of(conn, stock_history.c.event_id, chunk)))).scalars())
    return seen


async def positions_of(conn: AsyncConnection, triples: set[tuple[str, str, str]]) -> list[Any]:
    """The stored position rows of these (sku, location, source), every state; on PostgreSQL they are locked
    first, to the end of the caller's transaction (the ledger writes them back: no concurrent batch in between)."""
    await lock_stock_positions(conn, triples)
    p = stock_positions.c
    result: list[Any] = []
    for chunk in chunks(sorted(triples), per_statement(conn)):
        query = select(stock_positions).where(in_pairs(conn, p.sku, p.location, [(t[0], t[1]) for t in chunk]),
                                              one_of(conn, p.source, sorted({t[2] for t in chunk})))
        result.extend(r for r in await conn.execute(query) if (r.sku, r.location, r.source) in triples)
    return result


async def stored_deltas_after(conn: AsyncConnection, key: Key, after: datetime) -> float:
    """The sum of the movements of one position key that occurred after ``after``."""
    h = stock_history.c
    return float((await conn.execute(select(func.coalesce(func.sum(h.delta), 0.0)).where(
        h.sku == key[0], h.location == key[1], h.source == key[2], h.state == key[3], h.at > after,
        h.delta.is_not(None)))).scalar_one())


async def save_positions(conn: AsyncConnection, rows: list[dict[str, Any]], history: list[dict[str, Any]]) -> None:
    """Write these positions (each a full row; one already stored under its sku, location, source and state takes
    the new figures) in one statement, in key order, and append the history."""
    await insert_rows(conn, stock_positions, sorted(rows, key=lambda row: tuple(row[k] for k in _POSITION_KEY)),
                      conflict=_POSITION_KEY, update=_POSITION_VALUES)
    await insert_rows(conn, stock_history, history)


async def current_positions(conn: AsyncConnection, sku: str, location: str | None) -> list[Any]:
    """The position rows of ``sku`` (at ``location``, or everywhere)."""
    query = select(stock_positions).where(stock_positions.c.sku == sku)
    if location is not None:
        query = query.where(stock_positions.c.location == location)
    return list(await conn.execute(query))


async def overview_rows(conn: AsyncConnection, location: str | None, limit: int) -> list[Any]:
    """Per (sku, location, source): the latest figure's time, the on-hand figure and its latest snapshot (``base_at``,
    null when only movements were reported), at most ``limit`` rows
    (sku, location, source order) — what the stock overview lists."""
    on_hand = func.max(case((stock_positions.c.state == "on_hand", stock_positions.c.qty), else_=None))
    query = (select(stock_positions.c.sku, stock_positions.c.location, stock_positions.c.source,
                    func.max(stock_positions.c.as_of).label("as_of"), on_hand.label("on_hand"),
                    func.max(stock_positions.c.base_at).label("base_at"))
             .group_by(stock_positions.c.sku, stock_positions.c.location, stock_positions.c.source)
             .order_by(stock_positions.c.sku, stock_positions.c.location, stock_positions.c.source).limit(limit))
    if location is not None:
        query = query.where(stock_positions.c.location == location)
    return list(await conn.execute(query))


async def history_until(conn: AsyncConnection, sku: str, location: str | None, until: datetime) -> list[Any]:
    """The history rows of ``sku`` (at ``location``, or everywhere) at or before ``until``, oldest first."""
    h = stock_history.c
    query = select(stock_history).where(h.sku == sku, h.at <= until)
    if location is not None:
        query = query.where(h.location == location)
    return list(await conn.execute(query.order_by(h.at, h.id)))


async def movement_rows(conn: AsyncConnection, sku: str, location: str | None, source: str | None,
                        since: datetime | None, until: datetime | None, limit: int) -> list[Any]:
    """History rows of ``sku``, newest first, each with its event's current ``tx_id``."""
    h = stock_history.c
    query = (select(stock_history, events.c.tx_id).select_from(stock_history.outerjoin(events,
                                                                                        events.c.id == h.event_id))
             .where(h.sku == sku))
    if location is not None:
        query = query.where(h.location == location)
    if source is not None:
        query = query.where(h.source == source)
    if since is not None:
        query = query.where(h.at >= since)
    if until is not None:
        query = query.where(h.at < until)
    return list(await conn.execute(query.order_by(h.at.desc(), h.id.desc()).limit(limit)))


async def unresolved_mismatches_of(conn: AsyncConnection, sku: str) -> list[Any]:
    """Unresolved ``quantity_mismatch`` exception rows whose subject ends in ``:sku``, oldest first."""
    return list(await conn.execute(select(exceptions).where(
        exceptions.c.type == "quantity_mismatch", exceptions.c.status != "resolved",
        exceptions.c.subject.endswith(f":{sku}", autoescape=True)).order_by(exceptions.c.opened_at)))
