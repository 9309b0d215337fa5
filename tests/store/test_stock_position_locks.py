"""Two batches moving one stock position at once (two worker processes on PostgreSQL) take turns: the ledger reads
a position, adds to it and writes it back, so without a lock one batch's movement would be lost."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from hub.store import Store, stock

AT = datetime(2026, 12, 1, 12, 0)
TRIPLE = ("SKU-1", "WH-1", "wms")


async def move(store: Store, delta: float, event_id: str) -> None:
    """One batch's ledger step: read the position, wait a moment, write it back moved. On PostgreSQL on a
    connection of its own, as another worker process would (not this process's writer turn, which would serialize
    the two here anyway); SQLite has one writer, the store's write turn."""
    transaction = store.engine.begin() if store.dialect == "postgresql" else store.write()
    async with transaction as conn:
        rows = [r for r in await stock.positions_of(conn, {TRIPLE}) if r.state == "on_hand"]
        qty = rows[0].qty if rows else 0.0
        await asyncio.sleep(0.3)  # the other batch reads meanwhile, unless it waits for this one
        await stock.save_positions(conn, [{
            "sku": TRIPLE[0], "location": TRIPLE[1], "source": TRIPLE[2], "state": "on_hand", "qty": qty + delta,
            "as_of": AT, "base_at": None, "event_id": event_id, "updated_at": AT}], [])


@pytest.mark.asyncio
async def test_two_batches_moving_one_position_at_once_lose_neither(store: Store) -> None:
    await asyncio.gather(move(store, 1.0, "evt_a"), move(store, 2.0, "evt_b"))
    await asyncio.gather(move(store, 4.0, "evt_c"), move(store, 8.0, "evt_d"))
    async with store.read() as conn:
        rows = [r for r in await stock.positions_of(conn, {TRIPLE}) if r.state == "on_hand"]
    assert [r.qty for r in rows] == [15.0]
