"""Stock queries shared by GraphQL and the web UI: positions (now or as of a time), movements, divergences.

Positions come from ``stock_positions`` (kept by :mod:`hub.stock.ledger`); "as of" a past time they are
rebuilt from ``stock_history`` with the same rule (the latest snapshot at or before it, plus the movements
after that snapshot). Divergences come from ``stock_divergences`` (kept by :mod:`hub.stock.divergence`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.stock.config import StockSettings
from hub.stock.divergence import source_view
from hub.store.queries import Page, decode_cursor, encode_cursor, page_of
from hub.store.tables import events, exceptions, stock_divergences, stock_history, stock_positions

__all__ = ["DIVERGENCE_ORDERS", "DivergenceFilter", "Movement", "Position", "Quantity", "Shortfall",
           "divergence_counts", "list_divergences", "movements", "positions", "shortfalls", "divergence_cursor"]


@dataclass(frozen=True, slots=True)
class Quantity:
    state: str
    qty: float
    as_of: datetime | None
    event_id: str | None
    derived: bool = False  # available computed as on_hand − reserved (the source does not report it)
    based: bool = True  # false: only movements seen, no snapshot yet (a relative figure)


@dataclass(slots=True)
class Position:
    sku: str
    location: str
    source: str
    quantities: list[Quantity] = field(default_factory=list)
    authoritative: bool = False
    divergence: Any = None  # the stock_divergences row for this source, if it diverges

    @property
    def as_of(self) -> datetime | None:
        times = [q.as_of for q in self.quantities if q.as_of is not None]
        return max(times) if times else None


@dataclass(frozen=True, slots=True)
class Movement:
    at: datetime
    sku: str
    location: str
    source: str
    state: str
    event_type: str
    delta: float | None  # None: a snapshot, which set the quantity to ``qty``
    qty: float
    applied: bool
    event_id: str
    tx_id: str | None


@dataclass(frozen=True, slots=True)
class Shortfall:
    exception_id: str
    tx_id: str | None
    sku: str
    shortfall: float
    expected: dict[str, str]
    actual: dict[str, str]


@dataclass(frozen=True, slots=True)
class DivergenceFilter:
    location: str | None = None
    sku_prefix: str | None = None
    source: str | None = None
    min_units: float | None = None
    older_than: timedelta | None = None  # divergent for at least this long (needs ``now``)
    status: str | None = None  # pending | open


async def positions(conn: AsyncConnection, sku: str, location: str | None = None, *, as_of: datetime | None = None,
                    settings: StockSettings | None = None) -> list[Position]:
    """Every source's position for ``sku`` (at ``location``, or everywhere), by location then source."""
    if as_of is None:
        query = select(stock_positions).where(stock_positions.c.sku == sku)
        if location is not None:
            query = query.where(stock_positions.c.location == location)
        rows = list(await conn.execute(query))
    else:
        rows = await _rebuilt(conn, sku, location, as_of)
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        grouped[(row.location, row.source)].append(row)
    divergences = {} if as_of is not None else await _divergences_of(conn, sku, location)
    result = []
    for (loc, source), group in sorted(grouped.items()):
        authoritative = settings is not None and settings.authoritative_for(loc, sku) == source
        view = source_view(group, authoritative=authoritative)
        derived = view.get("available", (0.0, False))[1]
        quantities = [Quantity(r.state, float(r.qty), r.as_of, r.event_id, based=r.base_at is not None)
                      for r in group if not (derived and r.state == "available")]
        if derived:
            quantities.append(Quantity("available", view["available"][0], max(r.as_of for r in group), None,
                                       derived=True))
        result.append(Position(sku, loc, source, sorted(quantities, key=lambda q: q.state),
                               authoritative=authoritative,
                               divergence=divergences.get((loc, source))))
    return result


@dataclass(frozen=True, slots=True)
class _Row:
    location: str
    source: str
    state: str
    qty: float
    as_of: datetime
    base_at: datetime | None
    event_id: str


async def _rebuilt(conn: AsyncConnection, sku: str, location: str | None, as_of: datetime) -> list[_Row]:
    h = stock_history.c
    query = select(stock_history).where(h.sku == sku, h.at <= as_of)
    if location is not None:
        query = query.where(h.location == location)
    by_key: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for row in await conn.execute(query.order_by(h.at, h.id)):
        by_key[(row.location, row.source, row.state)].append(row)
    result = []
    for (loc, source, state), history in by_key.items():
        snapshots = [r for r in history if r.delta is None]
        base = snapshots[-1] if snapshots else None
        qty = base.qty if base is not None else 0.0
        qty += sum(r.delta for r in history if r.delta is not None and (base is None or r.at > base.at))
        last = history[-1]
        result.append(_Row(loc, source, state, round(qty, 6), last.at, base.at if base else None, last.event_id))
    return result


async def _divergences_of(conn: AsyncConnection, sku: str, location: str | None) -> dict[tuple[str, str], Any]:
    query = select(stock_divergences).where(stock_divergences.c.sku == sku)
    if location is not None:
        query = query.where(stock_divergences.c.location == location)
    return {(r.location, r.source): r for r in await conn.execute(query)}


async def movements(conn: AsyncConnection, sku: str, location: str | None = None, since: datetime | None = None,
                    until: datetime | None = None, limit: int = 100, source: str | None = None) -> list[Movement]:
    """Snapshots and movements of ``sku``, newest first, each with its event's (current) transaction."""
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
    rows = await conn.execute(query.order_by(h.at.desc(), h.id.desc()).limit(limit))
    return [Movement(r.at, r.sku, r.location, r.source, r.state, r.event_type, r.delta, r.qty, bool(r.applied),
                     r.event_id, r.tx_id) for r in rows]


async def shortfalls(conn: AsyncConnection, sku: str) -> list[Shortfall]:
    """Unresolved quantity mismatches (shipped vs received, …) of transactions moving ``sku``."""
    rows = await conn.execute(select(exceptions).where(
        exceptions.c.type == "quantity_mismatch", exceptions.c.status != "resolved",
        exceptions.c.subject.endswith(f":{sku}", autoescape=True)).order_by(exceptions.c.opened_at))
    result = []
    for row in rows:
        evidence = row.evidence or {}
        if evidence.get("sku") != sku:
            continue
        result.append(Shortfall(row.id, row.tx_id, sku, float(evidence.get("shortfall", 0)),
                                evidence.get("expected", {}), evidence.get("actual", {})))
    return result


DIVERGENCE_ORDERS = ("units", "value")
_NO_VALUE = -1.0  # divergences without a configured unit value sort after every valued one


def _order_key(order: str) -> Any:
    d = stock_divergences.c
    return d.units if order == "units" else func.coalesce(d.value, _NO_VALUE)


def divergence_cursor(row: Any, order: str = "units") -> str:
    key = row.units if order == "units" else (row.value if row.value is not None else _NO_VALUE)
    return encode_cursor(order, repr(float(key)), row.sku, row.location, row.source)


async def list_divergences(conn: AsyncConnection, filter: DivergenceFilter, first: int, after: str | None,
                           now: datetime | None = None, order: str = "units") -> Page:
    """Current divergences, largest first by ``order`` — ``units``, or ``value`` (value at risk: units × the
    configured unit value, unvalued last) — then sku, location, source; keyset pagination.

    ``ValueError`` for a cursor that is not ours (or made for the other order), or ``older_than`` without ``now``.
    """
    if order not in DIVERGENCE_ORDERS:
        raise ValueError(f"order must be one of {DIVERGENCE_ORDERS}")
    d = stock_divergences.c
    key = _order_key(order)
    query = select(stock_divergences).where(*_conditions(filter, now))
    if after:
        cursor_order, raw, sku, location, source = decode_cursor(after, 5)
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("invalid cursor") from None
        if cursor_order != order:
            raise ValueError("invalid cursor: it belongs to another order")
        query = query.where(or_(key < value, and_(key == value,
                                                  tuple_(d.sku, d.location, d.source) > tuple_(sku, location, source))))
    rows = list(await conn.execute(query.order_by(key.desc(), d.sku, d.location, d.source).limit(first + 1)))
    return page_of(rows, first, lambda row: divergence_cursor(row, order))


async def count_divergences(conn: AsyncConnection, filter: DivergenceFilter, now: datetime | None = None) -> int:
    return int((await conn.execute(select(func.count()).select_from(stock_divergences)
                                   .where(*_conditions(filter, now)))).scalar_one())


def _conditions(filter: DivergenceFilter, now: datetime | None) -> list[Any]:
    d = stock_divergences.c
    conditions: list[Any] = []
    if filter.location is not None:
        conditions.append(d.location == filter.location)
    if filter.sku_prefix:
        conditions.append(d.sku.startswith(filter.sku_prefix, autoescape=True))
    if filter.source is not None:
        conditions.append(d.source == filter.source)
    if filter.min_units is not None:
        conditions.append(d.units >= filter.min_units)
    if filter.status is not None:
        conditions.append(d.status == filter.status)
    if filter.older_than is not None:
        if now is None:
            raise ValueError("older_than needs the current time")
        conditions.append(d.since <= now - filter.older_than)
    return conditions


async def divergence_counts(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Divergent SKUs per location and source (all, and those raised as exceptions), for BI."""
    d = stock_divergences.c
    raised = func.sum(case((d.status == "open", 1), else_=0))
    rows = await conn.execute(select(d.location, d.source, func.count().label("divergent"),
                                     raised.label("raised"))
                              .group_by(d.location, d.source).order_by(d.location, d.source))
    return [{"location": r.location, "source": r.source, "divergent": int(r.divergent), "raised": int(r.raised or 0)}
            for r in rows]
