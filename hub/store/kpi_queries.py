"""Reads behind the business KPIs (``hub.kpis``): orders and their value, order milestones, timelines, stock
freshness. Plain rows; the KPI arithmetic (percentiles, SLA attainment, variants) is done by the callers.

An order is a transaction with an ``order.placed`` event; its *channel* is the source that reported it, its time
that event's ``occurred_at``. A KPI asked per business attribute groups by the transaction's value of it (None
where it has none) instead of the channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import exports
from hub.store.metrics_queries import QUARTER, Window, epoch_seconds
from hub.store.tables import events, exceptions, stock_positions, transaction_attributes, transactions

PLACED = "order.placed"
SHIPPED = ("shipment.shipped", "shipment.delivered")  # delivered without a shipped scan was shipped too (the flow)
DELIVERED = "shipment.delivered"
CANCELLED = "order.cancelled"
# A stock problem on an order: a failed reservation, allocation or pick, or an exception saying stock was short.
STOCK_EVENT_PREFIXES = ("inventory.", "fulfillment.")
STOCK_EXCEPTIONS = ("quantity_mismatch", "stock_divergence", "oversell", "out_of_stock")
_MONEY = Numeric(24, 4)


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """One order placed in the window and the first time of each milestone after it (None: not yet)."""

    tx_id: str
    group: str | None  # its channel, or its value of the asked attribute
    placed_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    stock_problem_at: datetime | None


def _grouping(attribute: str | None, tx_column: Any, channel: Any) -> tuple[Any, Any]:
    """(the group column, an outer join adder) for a KPI per channel or per attribute value."""
    if attribute is None:
        return channel, lambda table: table
    attrs = transaction_attributes.alias("attr")
    return attrs.c.value, lambda table: table.outerjoin(attrs, and_(attrs.c.tx_id == tx_column,
                                                                    attrs.c.name == attribute))


def _in_window(query: Any, column: Any, window: Window) -> Any:
    if window.since is not None:
        query = query.where(column >= window.since)
    if window.until is not None:
        query = query.where(column < window.until)
    return query


async def order_totals(conn: AsyncConnection, window: Window, attribute: str | None,
                       bucketed: bool) -> list[dict[str, Any]]:
    """Per (group, UTC quarter hour when ``bucketed``, currency): orders (distinct transactions) and the sum of
    their placed amounts of kind ``total``. Rows ``{group, quarter, currency, orders, value: Decimal | None}``."""
    placed = events.alias("placed")
    group, join = _grouping(attribute, placed.c.tx_id, placed.c.source)
    total = case((placed.c.amount_kind == "total", cast(placed.c.amount_value, _MONEY)))
    currency = case((placed.c.amount_kind == "total", placed.c.amount_currency))
    selected = [group.label("grp"), currency.label("currency")]
    if bucketed:
        selected.append((epoch_seconds(conn, placed.c.occurred_at) // QUARTER).label("quarter"))
    query = (select(*selected, func.count(placed.c.tx_id.distinct()).label("orders"), func.sum(total).label("value"))
             .select_from(join(placed)).where(placed.c.type == PLACED, placed.c.tx_id.is_not(None)))
    if window.source is not None:
        query = query.where(placed.c.source == window.source)
    rows = (await conn.execute(_in_window(query, placed.c.occurred_at, window).group_by(*selected))).all()
    return [{"group": row.grp, "quarter": row.quarter if bucketed else None, "currency": row.currency,
             "orders": int(row.orders), "value": None if row.value is None else Decimal(row.value)} for row in rows]


async def order_facts(conn: AsyncConnection, window: Window, attribute: str | None,
                      cap: int) -> tuple[list[OrderFacts], bool]:
    """The newest ``cap`` orders placed in the window with their milestones; True when more were placed.

    Set-based: one statement over the window's ``order.placed`` events (the (type, occurred_at) index) joined to
    their transactions' milestone events, one for the stock exceptions; past ``cap`` orders the window starts at
    the newest ``cap``-th one instead."""
    placed, later = events.alias("placed"), events.alias("later")
    group, join = _grouping(attribute, placed.c.tx_id, placed.c.source)
    in_window = [placed.c.type == PLACED, placed.c.tx_id.is_not(None)]
    if window.source is not None:
        in_window.append(placed.c.source == window.source)
    edge = (await conn.execute(_in_window(select(placed.c.occurred_at).where(*in_window), placed.c.occurred_at,
                                          window).order_by(placed.c.occurred_at.desc()).offset(cap).limit(1))).scalar()
    capped = edge is not None
    if capped:
        in_window.append(placed.c.occurred_at > edge)
    stock_failed = and_(later.c.status == "failed", or_(*(later.c.type.startswith(p) for p in STOCK_EVENT_PREFIXES)))

    def first(condition: Any) -> Any:
        return func.min(case((condition, later.c.occurred_at)))

    query = (select(placed.c.tx_id, group.label("grp"), func.min(placed.c.occurred_at).label("placed_at"),
                    first(later.c.type.in_(SHIPPED)).label("shipped_at"),
                    first(later.c.type == DELIVERED).label("delivered_at"),
                    first(later.c.type == CANCELLED).label("cancelled_at"),
                    first(stock_failed).label("stock_failed_at"))
             .select_from(join(placed).outerjoin(later, and_(later.c.tx_id == placed.c.tx_id, or_(
                 later.c.type.in_((*SHIPPED, CANCELLED)), stock_failed))))
             .where(*in_window).group_by(placed.c.tx_id, group))
    rows = (await conn.execute(_in_window(query, placed.c.occurred_at, window))).all()
    chosen = _in_window(select(placed.c.tx_id).where(*in_window), placed.c.occurred_at, window)
    problems = dict((await conn.execute(
        select(exceptions.c.tx_id, func.min(exceptions.c.opened_at))
        .where(exceptions.c.type.in_(STOCK_EXCEPTIONS), exceptions.c.tx_id.in_(chosen.scalar_subquery()))
        .group_by(exceptions.c.tx_id))).all())
    facts: dict[str, OrderFacts] = {}
    for row in rows:
        seen = facts.get(row.tx_id)
        if seen is not None and seen.placed_at <= row.placed_at:
            continue  # two channels placed it: the first one counts
        problem = min((t for t in (row.stock_failed_at, problems.get(row.tx_id)) if t is not None), default=None)
        facts[row.tx_id] = OrderFacts(row.tx_id, row.grp, row.placed_at, row.shipped_at, row.delivered_at,
                                      row.cancelled_at, problem)
    return list(facts.values()), capped


@dataclass(frozen=True, slots=True)
class Timeline:
    """A transaction's events in timeline order (occurred_at, received_at, id) and its attribute value."""

    tx_id: str
    group: str | None
    events: list[Any]  # rows with id, type, source, occurred_at


async def timelines(conn: AsyncConnection, kind: str, window: Window, attribute: str | None,
                    cap: int) -> tuple[list[Timeline], bool]:
    """The newest ``cap`` transactions of ``kind`` whose first event is in the window, each with its events;
    True when more matched. ``group`` is the attribute's value (None when not asked or absent)."""
    chosen = _in_window(select(transactions.c.id).where(transactions.c.kind == kind), transactions.c.first_at, window)
    tx_ids = list((await conn.execute(chosen.order_by(transactions.c.id.desc()).limit(cap + 1))).scalars())
    return await timelines_of(conn, tx_ids[:cap], attribute), len(tx_ids) > cap


async def timelines_of(conn: AsyncConnection, tx_ids: list[str], attribute: str | None) -> list[Timeline]:
    """These transactions, each with its events and its value of ``attribute`` (None when not asked or absent)."""
    found = await exports.timelines(conn, tx_ids)
    groups: dict[str, str] = {}
    for start in range(0, len(tx_ids) if attribute is not None else 0, 500):
        groups.update((await conn.execute(
            select(transaction_attributes.c.tx_id, transaction_attributes.c.value)
            .where(transaction_attributes.c.tx_id.in_(tx_ids[start:start + 500]),
                   transaction_attributes.c.name == attribute))).all())
    return [Timeline(tx, groups.get(tx), found[tx]) for tx in tx_ids if found.get(tx)]


async def latest_positions(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Per (source, location): the time of its newest stock position and how many positions it holds."""
    p = stock_positions.c
    rows = await conn.execute(select(p.source, p.location, func.max(p.as_of).label("latest"),
                                     func.count().label("positions")).group_by(p.source, p.location)
                              .order_by(p.source, p.location))
    return [{"source": row.source, "location": row.location, "latest": row.latest, "positions": int(row.positions)}
            for row in rows]
