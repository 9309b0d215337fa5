"""Stock queries shared by GraphQL and the web UI: positions (now or as of a time), movements, divergences.

Positions come from ``stock_positions`` (kept by :mod:`hub.stock.ledger`); "as of" a past time they are
rebuilt from ``stock_history`` with the same rule (the latest snapshot at or before it, plus the movements
after that snapshot). Divergences come from ``stock_divergences`` (kept by :mod:`hub.stock.divergence`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.stock.config import StockSettings
from hub.stock.divergence import source_view
from hub.store import Connection
from hub.store import stock as store
from hub.store.divergences import (
    DIVERGENCE_ORDERS,
    DivergenceFilter,
    count_divergences,
    divergence_counts,
    divergence_cursor,
    divergences_of,
    list_divergences,
)

# The divergence finders are the store's (hub.store.divergences); named here so callers have one stock module.
__all__ = ["DIVERGENCE_ORDERS", "DivergenceFilter", "Movement", "Position", "Quantity", "Shortfall",
           "count_divergences", "divergence_counts", "list_divergences", "movements", "positions", "shortfalls",
           "divergence_cursor"]


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


async def positions(conn: Connection, sku: str, location: str | None = None, *, as_of: datetime | None = None,
                    settings: StockSettings | None = None) -> list[Position]:
    """Every source's position for ``sku`` (at ``location``, or everywhere), by location then source."""
    if as_of is None:
        rows = await store.current_positions(conn, sku, location)
    else:
        rows = await _rebuilt(conn, sku, location, as_of)
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        grouped[(row.location, row.source)].append(row)
    divergences = {} if as_of is not None else await divergences_of(conn, sku, location)
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


async def _rebuilt(conn: Connection, sku: str, location: str | None, as_of: datetime) -> list[_Row]:
    by_key: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for row in await store.history_until(conn, sku, location, as_of):
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


async def movements(conn: Connection, sku: str, location: str | None = None, since: datetime | None = None,
                    until: datetime | None = None, limit: int = 100, source: str | None = None) -> list[Movement]:
    """Snapshots and movements of ``sku``, newest first, each with its event's (current) transaction."""
    rows = await store.movement_rows(conn, sku, location, source, since, until, limit)
    return [Movement(r.at, r.sku, r.location, r.source, r.state, r.event_type, r.delta, r.qty, bool(r.applied),
                     r.event_id, r.tx_id) for r in rows]


async def shortfalls(conn: Connection, sku: str) -> list[Shortfall]:
    """Unresolved quantity mismatches (shipped vs received, …) of transactions moving ``sku``."""
    result = []
    for row in await store.unresolved_mismatches_of(conn, sku):
        evidence = row.evidence or {}
        if evidence.get("sku") != sku:
            continue
        result.append(Shortfall(row.id, row.tx_id, sku, float(evidence.get("shortfall", 0)),
                                evidence.get("expected", {}), evidence.get("actual", {})))
    return result


OVERVIEW_LIMIT = 3000  # (sku, location, source) rows the overview reads at most


async def overview(conn: Connection, location: str | None = None, limit: int = OVERVIEW_LIMIT) -> list[Any]:
    """Per (sku, location, source): when it last reported (``as_of``) and its on-hand (the ``/stock`` overview)."""
    return await store.overview_rows(conn, location, limit)
