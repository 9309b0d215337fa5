"""The ``stock_divergences`` table: what :mod:`hub.stock.divergence` reads and writes, and the finders GraphQL,
the web UI and BI page through (largest first, keyset pages). The comparison rules stay in ``hub.stock``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.lookups import chunks, one_of, per_statement
from hub.store.paging import Key, KeysetPage, PageRequest, cursor_for, keyset_page
from hub.store.stock import in_pairs
from hub.store.tables import events, exceptions, stock_divergences, stock_history, stock_positions

Pair = tuple[str, str]  # sku, location
Side = tuple[str, str, str]  # sku, location, source
DIVERGENCE_ORDERS = ("units", "value")
_NO_VALUE = -1.0  # divergences without a configured unit value sort after every valued one
_UPDATED = ("status", "due_at", "exception_id", "authoritative", "units", "value", "states", "updated_at")


@dataclass(frozen=True, slots=True)
class DivergenceFilter:
    location: str | None = None
    sku_prefix: str | None = None
    source: str | None = None
    min_units: float | None = None
    older_than: timedelta | None = None  # divergent for at least this long (needs ``now``)
    status: str | None = None  # pending | open


async def due_pairs(conn: AsyncConnection, now: datetime, limit: int) -> list[Pair]:
    """(sku, location) of each row whose settle window ended by ``now``, first due first (a pair once per row)."""
    d = stock_divergences.c
    due = (await conn.execute(select(d.sku, d.location).where(d.due_at <= now).order_by(d.due_at)
                              .limit(limit))).all()
    return [(r.sku, r.location) for r in due]


async def postpone(conn: AsyncConnection, pair: Pair, until: datetime) -> None:
    """Move the due time of the pair's pending rows to ``until``."""
    d = stock_divergences.c
    await conn.execute(update(stock_divergences).where(d.sku == pair[0], d.location == pair[1], d.due_at.is_not(None))
                       .values(due_at=until))


async def position_pairs_after(conn: AsyncConnection, last: Pair | None, limit: int) -> list[Pair]:
    """The next ``limit`` distinct (sku, location) with a stock position, in order, after ``last``."""
    p = stock_positions.c
    query = select(p.sku, p.location).distinct().order_by(p.sku, p.location).limit(limit)
    if last is not None:
        query = query.where(tuple_(p.sku, p.location) > tuple_(*last))
    return [(r.sku, r.location) for r in await conn.execute(query)]


async def positions_at(conn: AsyncConnection, keys: list[Pair]) -> list[Any]:
    """Every source's position rows at these (sku, location)."""
    p = stock_positions.c
    wanted = set(keys)
    return [r for r in await conn.execute(select(stock_positions).where(in_pairs(conn, p.sku, p.location, keys)))
            if (r.sku, r.location) in wanted]


async def divergences_at(conn: AsyncConnection, keys: list[Pair]) -> list[Any]:
    """The divergence rows at these (sku, location)."""
    d = stock_divergences.c
    wanted = set(keys)
    return [r for r in await conn.execute(select(stock_divergences).where(in_pairs(conn, d.sku, d.location, keys)))
            if (r.sku, r.location) in wanted]


async def movements_at(conn: AsyncConnection, keys: list[Pair], event_types: tuple[str, ...]) -> list[Any]:
    """The movements (not snapshots) of these event types at these (sku, location), with their events' tx_id."""
    h = stock_history.c
    rows = await conn.execute(
        select(h.sku, h.location, h.source, h.state, h.at, h.delta, h.event_type, events.c.tx_id)
        .select_from(stock_history.join(events, events.c.id == h.event_id))
        .where(in_pairs(conn, h.sku, h.location, keys), one_of(conn, h.event_type, event_types),
               h.delta.is_not(None)))
    wanted = set(keys)
    return [r for r in rows if (r.sku, r.location) in wanted]


async def exceptions_by_open_key(conn: AsyncConnection, open_keys: list[str]) -> list[Any]:
    """The open exception rows with these open keys."""
    return list(await conn.execute(select(exceptions).where(one_of(conn, exceptions.c.open_key, open_keys))))


async def latest_exceptions(conn: AsyncConnection, keys: list[str]) -> dict[str, Any]:
    """The latest exception row per key (open or resolved), in one read per chunk."""
    latest: dict[str, Any] = {}
    for chunk in chunks(keys, per_statement(conn)):
        rows = await conn.execute(select(exceptions).where(one_of(conn, exceptions.c.key, chunk))
                                  .order_by(exceptions.c.opened_at))
        latest.update({row.key: row for row in rows})
    return latest


async def last_movements(conn: AsyncConnection, sides: list[Side], per_side: int) -> dict[Side, list[Any]]:
    """The newest ``per_side`` history rows of each (sku, location, source), newest first, one read per chunk."""
    h = stock_history.c
    wanted = set(sides)
    result: dict[Side, list[Any]] = {}
    for chunk in chunks(sorted(wanted), per_statement(conn)):
        rank = func.row_number().over(partition_by=(h.sku, h.location, h.source),
                                      order_by=(h.at.desc(), h.id.desc())).label("rank")
        ranked = (select(h.sku, h.location, h.source, h.at, h.event_type, h.state, h.delta, h.qty, h.event_id, rank)
                  .where(in_pairs(conn, h.sku, h.location, [(s, loc) for s, loc, _ in chunk]),
                         one_of(conn, h.source, sorted({side for _, _, side in chunk}))).subquery())
        for r in await conn.execute(select(ranked).where(ranked.c.rank <= per_side)
                                    .order_by(ranked.c.sku, ranked.c.location, ranked.c.source, ranked.c.rank)):
            if (r.sku, r.location, r.source) in wanted:
                result.setdefault((r.sku, r.location, r.source), []).append(r)
    return result


async def delete_divergences(conn: AsyncConnection, sides: list[Side]) -> None:
    d = stock_divergences.c
    await conn.execute(delete(stock_divergences).where(
        d.sku == bindparam("b_sku"), d.location == bindparam("b_location"), d.source == bindparam("b_source")),
        [{"b_sku": k[0], "b_location": k[1], "b_source": k[2]} for k in sides])


async def save_divergences(conn: AsyncConnection, inserts: list[dict[str, Any]],
                           updates: list[dict[str, Any]]) -> None:
    """Insert new rows; update others (each dict: sku, location, source and the columns that change)."""
    d = stock_divergences.c
    if updates:
        await conn.execute(update(stock_divergences).where(
            d.sku == bindparam("b_sku"), d.location == bindparam("b_location"), d.source == bindparam("b_source"))
            .values({name: bindparam(f"b_{name}", type_=d[name].type) for name in _UPDATED}),
            [{f"b_{name}": value for name, value in row.items()} for row in updates])
    if inserts:
        await conn.execute(stock_divergences.insert(), inserts)


def _order(key: Any, name: str) -> list[Key]:
    d = stock_divergences.c
    return [Key(key, descending=True, parse=float, name=name), Key(d.sku), Key(d.location), Key(d.source)]


# Largest first, then sku, location, source. Value at risk: units × the configured unit value, unvalued last.
_AT_RISK = func.coalesce(stock_divergences.c.value, _NO_VALUE)
DIVERGENCE_ORDER = {"units": _order(stock_divergences.c.units, "units"), "value": _order(_AT_RISK, "at_risk")}


def divergence_cursor(row: Any, order: str = "units") -> str:
    """A row's cursor in ``order`` (a row of :func:`list_divergences`); it names the order it was made for."""
    return cursor_for(row, DIVERGENCE_ORDER[order], tag=order)


async def list_divergences(conn: AsyncConnection, filter: DivergenceFilter, first: int, after: str | None,
                           now: datetime | None = None, order: str = "units") -> KeysetPage:
    """Current divergences, largest first by ``order`` — ``units``, or ``value`` (value at risk: units × the
    configured unit value, unvalued last) — then sku, location, source; a keyset page (:mod:`hub.store.paging`).

    ``ValueError`` for a cursor that is not ours (or made for the other order), or ``older_than`` without ``now``.
    """
    if order not in DIVERGENCE_ORDERS:
        raise ValueError(f"order must be one of {DIVERGENCE_ORDERS}")
    return await keyset_page(conn, divergence_query(filter, now), DIVERGENCE_ORDER[order],
                             PageRequest(first=first, after=after), tag=order)


def divergence_query(filter: DivergenceFilter, now: datetime | None = None) -> Any:
    """The filtered select of divergences that :data:`DIVERGENCE_ORDER` pages (rows carry their ``at_risk``)."""
    return select(stock_divergences, _AT_RISK.label("at_risk")).where(*_conditions(filter, now))


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


async def divergences_of(conn: AsyncConnection, sku: str, location: str | None) -> dict[tuple[str, str], Any]:
    """The divergence rows of ``sku`` (at ``location``, or everywhere) by (location, source)."""
    query = select(stock_divergences).where(stock_divergences.c.sku == sku)
    if location is not None:
        query = query.where(stock_divergences.c.location == location)
    return {(r.location, r.source): r for r in await conn.execute(query)}


async def divergence_counts(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Divergent SKUs per location and source (all, and those raised as exceptions), for BI."""
    d = stock_divergences.c
    raised = func.sum(case((d.status == "open", 1), else_=0))
    rows = await conn.execute(select(d.location, d.source, func.count().label("divergent"),
                                     raised.label("raised"))
                              .group_by(d.location, d.source).order_by(d.location, d.source))
    return [{"location": r.location, "source": r.source, "divergent": int(r.divergent), "raised": int(r.raised or 0)}
            for r in rows]
