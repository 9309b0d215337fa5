"""Raising divergences costs a fixed number of statements per chunk, not per divergence.

Measured as work, not time: the statements a tick sends when the settle window of 10, then 40, divergent
pairs ends. The reads (their exceptions so far, the last movements on both sides) and the writes (new
exceptions, their history lines, the divergence rows) are one statement each per chunk, however many pairs
fell due. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hub.config import parse
from hub.exceptions.lifecycle import Changes
from hub.stock.divergence import evaluate_all, tick_divergences
from hub.store import Store
from hub.store.tables import exceptions, stock_history, stock_positions
from tests.hub.test_due_index import StatementLog

NOW = datetime(2026, 11, 24, 9, 0)
CONFIG = parse({"sources": [{"name": "erp", "kind": "erp", "adapter": "cloudevents"},
                            {"name": "pos", "kind": "pos", "adapter": "cloudevents"}],
                "stock": {"settle_minutes": 15}}, {})


async def diverge(store: Store, prefix: str, pairs: int) -> None:
    """``pairs`` SKUs where the POS counts one more than the ERP, and a movement history for the first."""
    stamp = NOW - timedelta(hours=1)
    rows = [{"sku": f"{prefix}-{n:03d}", "location": "ST-1", "source": source, "state": "on_hand",
             "qty": qty, "as_of": stamp, "base_at": stamp, "event_id": f"evt_{prefix}{n}", "updated_at": stamp}
            for n in range(pairs) for source, qty in (("erp", 10.0), ("pos", 11.0))]
    history = [{"sku": f"{prefix}-000", "location": "ST-1", "source": "pos", "state": "on_hand",
                "at": stamp + timedelta(minutes=m), "event_id": f"evt_h{m}", "event_type": "inventory.adjusted",
                "delta": 1.0, "qty": 1.0, "applied": True} for m in range(5)]
    async with store.write() as conn:
        await conn.execute(stock_positions.insert(), rows)
        await conn.execute(stock_history.insert(), history)
        await evaluate_all(conn, CONFIG, NOW, Changes())  # pending: inside the settle window


async def raise_due(store: Store, now: datetime) -> tuple[int, int]:
    log = StatementLog(store)
    changes = Changes()
    try:
        async with store.write() as conn:
            await tick_divergences(conn, CONFIG, now, changes, limit=1000)
    finally:
        log.close()
    return len(log.statements), sum(1 for c in changes.items if c.action == "opened")


@pytest.mark.asyncio
async def test_raising_divergences_costs_the_same_statements_for_ten_as_for_forty(store: Store) -> None:
    await diverge(store, "A", 10)
    small, opened_small = await raise_due(store, NOW + timedelta(minutes=20))
    await diverge(store, "B", 40)
    large, opened_large = await raise_due(store, NOW + timedelta(minutes=20))
    assert (opened_small, opened_large) == (10, 40)
    assert large == small  # nothing read or written one divergence at a time

    async with store.read() as conn:
        [evidence] = (await conn.execute(exceptions.select().with_only_columns(exceptions.c.evidence)
                                         .where(exceptions.c.subject == "A-000@ST-1/pos"))).scalars()
    pos = evidence["last_movements"]["pos"]
    assert [m["event"] for m in pos] == ["evt_h4", "evt_h3", "evt_h2"]  # the newest three, newest first
    assert evidence["last_movements"]["erp"] == []
