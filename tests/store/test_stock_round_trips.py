"""The statements the stock ledger sends for a batch, counted (a real count on a real store, as in
test_round_trips.py): one text per family whatever the batch's size, and positions written in one statement.

On PostgreSQL a text that changes with the number of values (``IN ($1, …, $n)``) is prepared again, in one more
round trip, for each new length, and an ``executemany`` runs its statement once per row.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event

from hub.config import parse
from hub.exceptions.lifecycle import Changes
from hub.model import Event, Line, Ref
from hub.stock.ledger import StockLedger
from hub.store import Store
from hub.store.record import Incoming, record_events
from tests.store.test_round_trips import SETTINGS, T0

SOURCES = [{"name": name, "kind": kind, "adapter": "cloudevents", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
           for name, kind in (("erp", "erp"), ("wms", "wms"))]
CONFIG = parse({"sources": SOURCES, "stock": {"settle_minutes": 15, "tolerance": 0}}, {})


def batch(run: str, count: int, stage: int) -> list[Incoming]:
    """``count`` SKUs at one location: stage 0 the ERP's and the WMS's snapshots (new positions, the WMS's a unit
    short), stage 1 the WMS's shipments of them (stored positions move; the divergences are read and updated)."""
    at = T0 + timedelta(minutes=stage)

    def event(source: str, kind: str, n: int, qty: int) -> Event:
        return Event(source=source, source_event_id=f"{run}-{source}-{stage}-{n}", type=kind, occurred_at=at,
                     refs=[Ref(f"{source}:doc", f"{run}-{stage}-{n}")],
                     lines=[Line(f"SKU-{run}-{n}", Decimal(qty), "DC1")])

    made = ([event("erp", "inventory.snapshot", n, 10) for n in range(count)]
            + [event("wms", "inventory.snapshot", n, 9) for n in range(count)] if stage == 0
            else [event("wms", "shipment.shipped", n, 1) for n in range(count)])
    return [Incoming(e, f"dlv_{run}{stage}{n // 10}", at) for n, e in enumerate(made)]


async def applied(store: Store, items: list[Incoming]) -> list[tuple[str, bool]]:
    """Record the items, then apply their stock effects; the statements the ledger sent (text, executemany)."""
    statements: list[tuple[str, bool]] = []

    def sent(_conn, _cursor, statement, _parameters, _context, many) -> None:  # type: ignore[no-untyped-def]
        statements.append((statement, many))

    async with store.write() as conn:
        await record_events(store, conn, items, SETTINGS, whole={item.delivery_id for item in items})
        event.listen(store.engine.sync_engine, "before_cursor_execute", sent)
        try:
            assert await StockLedger(CONFIG).apply(conn, items, T0 + timedelta(minutes=2), Changes()) == len(items)
        finally:
            event.remove(store.engine.sync_engine, "before_cursor_execute", sent)
    return statements


@pytest.mark.asyncio
async def test_the_ledger_sends_the_same_statements_for_any_batch_size(store: Store) -> None:
    texts = []
    for run, count in (("s", 3), ("m", 7), ("l", 450)):  # 450: more than SQLite's 400 values per statement
        await applied(store, batch(run, count, 0))
        statements = await applied(store, batch(run, count, 1))
        if store.dialect == "postgresql":
            # the events by key, those already in the history, the positions' locks (shared "all stock", then the
            # positions': two), the positions, the positions written (one upsert)
            # and the history (COPY: not counted), then per 300 pairs the divergences' positions, rows, movements in
            # flight and their update
            assert not any(many for text, many in statements if "stock_positions" in text), statements
            texts.append({text for text, _ in statements})
        else:  # no prepared statements to reuse: a chunk of 400 values a statement, positions in one executemany
            assert sum("stock_positions" in text and many for text, many in statements) == 1, statements
        limit = {"postgresql": (10, 14), "sqlite": (9, 16)}[store.dialect][count > 300]  # 450: two chunks of 300 pairs
        assert len(statements) <= limit, statements
    if store.dialect == "postgresql":
        assert texts[0] == texts[1] == texts[2]  # one text each, prepared once
