"""The SQLite inbox log (a web-only receiver's own file): the inbox's promise, then moved into ``deliveries`` once.

SQLite only: on PostgreSQL a web-only receiver appends to ``deliveries`` itself (no write lock to share).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.ingest.inbox import Inbox
from hub.ingest.inbox_transfer import InboxTransfer
from hub.store import Store
from hub.store.inbox_log import InboxLog
from hub.store.tables import deliveries
from hub.telemetry import new_metrics
from tests.hub.test_inbox import submission


@pytest.mark.asyncio
async def test_the_log_dedups_and_its_entries_and_repeats_move_into_deliveries_once(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    assert store.inbox_log_path == tmp_path / "hub.db.inbox"
    log = InboxLog(store.inbox_log_path)
    inbox = Inbox(store, new_metrics(), log=log)
    inbox.start()
    transfer = InboxTransfer(store)
    try:
        receipts = await asyncio.gather(*(inbox.submit(**submission(f"k{n % 20}")) for n in range(60)))
        async with store.read() as conn:  # acknowledged into the log, not in the main file yet
            assert (await conn.execute(select(deliveries.c.id))).all() == []
        assert await transfer.run_once() == 20
        again = await inbox.submit(**submission("k3"))  # a repeat after its delivery moved
        assert await transfer.run_once() == 0  # no new entry; the repeat is counted
        assert await transfer.run_once() == 0  # and only once
    finally:
        await inbox.stop()
        log.close()
    ids = {f"k{n % 20}": r.delivery_id for n, r in enumerate(receipts) if r.new}
    assert len(ids) == 20 and not again.new and again.delivery_id == ids["k3"]
    async with store.read() as conn:
        rows = {r.dedup_key: r for r in (await conn.execute(select(deliveries))).all()}
    await store.close()
    assert {key: row.id for key, row in rows.items()} == ids
    assert all(row.state == "pending" and row.headers == {"x": "1"} and row.body == b"{}" for row in rows.values())
    assert sum(row.repeats for row in rows.values()) == 41 and rows["k3"].repeats == 3
    with sqlite3.connect(tmp_path / "hub.db.inbox") as conn:  # moved bodies leave the log (the main file has them)
        assert conn.execute("SELECT count(*) FROM entries WHERE body IS NOT NULL").fetchone()[0] == 0
