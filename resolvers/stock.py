"""Stock resolvers: ``stock``, ``divergences``, ``divergenceCounts`` and ``movements`` over :mod:`hub.stock.queries`."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Annotated

import strawberry

from hub.model import as_utc
from hub.stock import queries as stock
from resolvers.query import connection, cursor_error, minutes, page_size
from schema.pagination import Connection
from schema.stock import (
    DivergenceCount,
    DivergenceFilter,
    DivergenceOrder,
    StockDivergence,
    StockMovement,
    StockPosition,
    StockQuantity,
    StockShortfall,
)

RECENT = 20


def _now(info: strawberry.Info) -> datetime:
    hub = info.context["hub"]
    return hub.now()


def _filter(flt: DivergenceFilter | None) -> stock.DivergenceFilter:
    flt = flt or DivergenceFilter()
    return stock.DivergenceFilter(
        location=flt.location, sku_prefix=flt.sku_prefix, source=flt.source, min_units=flt.min_units,
        older_than=minutes(flt.older_than_minutes), status=flt.status)


@strawberry.type
class StockQuery:
    @strawberry.field(description="Every source's position for a SKU (at one location, or all), with its "
                                  "divergence from the authoritative source, recent movements and open shortfalls. "
                                  "`asOf` rebuilds the positions at a past time.")
    async def stock(self, info: strawberry.Info, sku: str, location: str | None = None,
                    as_of: datetime | None = None) -> list[StockPosition]:
        hub = info.context["hub"]
        async with hub.started().store.read() as conn:
            found = await stock.positions(conn, sku, location, as_of=as_utc(as_of) if as_of else None,
                                          settings=hub.config.stock)
            recent = await stock.movements(conn, sku, location, until=as_utc(as_of) if as_of else None, limit=500)
            short = [StockShortfall(exception_id=s.exception_id, transaction_id=s.tx_id, shortfall=s.shortfall,
                                    expected=s.expected, actual=s.actual) for s in await stock.shortfalls(conn, sku)]
        by_place: dict[tuple[str, str], list[StockMovement]] = defaultdict(list)
        for m in recent:
            if len(by_place[(m.location, m.source)]) < RECENT:
                by_place[(m.location, m.source)].append(StockMovement.from_movement(m))
        return [StockPosition(
            sku=p.sku, location=p.location, source=p.source, authoritative=p.authoritative, as_of=p.as_of,
            quantities=[StockQuantity.from_quantity(q) for q in p.quantities],
            divergence=StockDivergence.from_row(p.divergence) if p.divergence is not None else None,
            movements=by_place.get((p.location, p.source), []), shortfalls=short) for p in found]

    @strawberry.field(description="Current stock divergences, largest first by units or by value at risk "
                                  "(keyset pagination).")
    async def divergences(self, info: strawberry.Info, filter: DivergenceFilter | None = None, first: int = 20,
                          after: str | None = None,
                          order_by: DivergenceOrder = DivergenceOrder.UNITS) -> Connection[StockDivergence]:
        flt, now, order = _filter(filter), _now(info), order_by.value
        try:
            async with info.context["hub"].started().store.read() as conn:
                page = await stock.list_divergences(conn, flt, page_size(first), after, now, order)
                total = await stock.count_divergences(conn, flt, now)
        except ValueError as exc:
            raise cursor_error(exc) from None
        return connection(page, StockDivergence.from_row, lambda row: stock.divergence_cursor(row, order), total)

    @strawberry.field(description="Divergent SKUs per location and source (for BI).")
    async def divergence_counts(self, info: strawberry.Info) -> list[DivergenceCount]:
        async with info.context["hub"].started().store.read() as conn:
            rows = await stock.divergence_counts(conn)
        return [DivergenceCount(**row) for row in rows]

    @strawberry.field(description="Snapshots and movements of a SKU, newest first, with their transactions.")
    async def movements(self, info: strawberry.Info, sku: str, location: str | None = None,
                        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
                        to: datetime | None = None, first: int = 100) -> list[StockMovement]:
        async with info.context["hub"].started().store.read() as conn:
            rows = await stock.movements(conn, sku, location, since=as_utc(from_) if from_ else None,
                                         until=as_utc(to) if to else None, limit=page_size(first))
        return [StockMovement.from_movement(m) for m in rows]
