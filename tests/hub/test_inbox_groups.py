"""Group commit when the database refuses a delivery: the others of its group are stored and acknowledged,
the refused one alone gets a 400, and nothing is acknowledged that was not committed.

The refusal is the database's own: a trigger that rejects keys starting with ``poison`` (in ``deliveries`` on
both stores, and in the SQLite inbox log's ``entries``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select, text

from hub.errors import BadRequest
from hub.ingest.inbox import Inbox
from hub.store import Store
from hub.store.inbox_log import InboxLog
from hub.store.tables import deliveries
from hub.telemetry import new_metrics
from tests.hub.test_inbox import submission

SQLITE_POISON = """CREATE TRIGGER poison BEFORE INSERT ON {table} WHEN NEW.dedup_key LIKE 'poison%'
BEGIN SELECT RAISE(ABORT, 'poisoned delivery'); END"""
POSTGRES_POISON = (
    """CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.dedup_key LIKE 'poison%' THEN RAISE EXCEPTION 'poisoned delivery'; END IF; RETURN NEW; END $$""",
    "CREATE TRIGGER poison BEFORE INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION poison()",
)


async def poison_deliveries(store: Store) -> None:
    """The database refuses every delivery whose key starts with ``poison`` (a real refusal: a trigger)."""
    statements = POSTGRES_POISON if store.dialect == "postgresql" else (SQLITE_POISON.format(table="deliveries"),)
    async with store.write() as conn:
        for statement in statements:
            await conn.execute(text(statement))


def poison_log(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(SQLITE_POISON.format(table="entries"))
    conn.close()


async def submit_all(inbox: Inbox, keys: list[str]) -> list[object]:
    """Submit every key at once (they are queued before the writer wakes: one group); receipts or errors."""
    return await asyncio.gather(*(inbox.submit(**submission(key)) for key in keys), return_exceptions=True)


def mixed_keys() -> list[str]:
    keys = [f"k{n}" for n in range(30)]
    keys[7:7] = ["poison-1"]
    keys[20:20] = ["poison-2", "k3"]  # and a repeat of k3 inside the same group
    return keys


def check_answers(keys: list[str], answers: list[object]) -> dict[str, str]:
    """Poisoned keys got a 400, every other key a receipt; returns the ids the good keys were acknowledged with."""
    acked: dict[str, str] = {}
    for key, answer in zip(keys, answers, strict=True):
        if key.startswith("poison"):
            assert isinstance(answer, BadRequest) and answer.status == 400, answer
            assert "cannot be stored" in answer.message and "poisoned delivery" in answer.message
        else:
            assert not isinstance(answer, BaseException), answer
            assert acked.setdefault(key, answer.delivery_id) == answer.delivery_id  # type: ignore[attr-defined]
    return acked


@pytest.mark.asyncio
async def test_a_refused_delivery_fails_alone_and_the_rest_of_its_group_is_stored(store: Store) -> None:
    await poison_deliveries(store)
    inbox = Inbox(store, new_metrics())
    inbox.start()
    try:
        keys = mixed_keys()
        acked = check_answers(keys, await submit_all(inbox, keys))
        all_poisoned = await submit_all(inbox, ["poison-3", "poison-4"])  # a group the database refuses whole
    finally:
        await inbox.stop()
    assert all(isinstance(answer, BadRequest) for answer in all_poisoned)
    async with store.read() as conn:
        rows = (await conn.execute(select(deliveries.c.dedup_key, deliveries.c.id, deliveries.c.repeats))).all()
    assert {row.dedup_key: row.id for row in rows} == acked  # every acknowledged one, once; no poisoned one
    assert len(rows) == 30 and {row.dedup_key: row.repeats for row in rows}["k3"] == 1


@pytest.mark.asyncio
async def test_a_refused_delivery_fails_alone_in_the_inbox_log(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    assert store.inbox_log_path is not None
    poison_log(store.inbox_log_path)
    log = InboxLog(store.inbox_log_path)
    inbox = Inbox(store, new_metrics(), log=log)
    inbox.start()
    try:
        keys = mixed_keys()
        acked = check_answers(keys, await submit_all(inbox, keys))
    finally:
        await inbox.stop()
        log.close()
        await store.close()
    with sqlite3.connect(store.inbox_log_path) as conn:
        stored = dict(conn.execute("SELECT dedup_key, id FROM entries").fetchall())
        repeats = conn.execute("SELECT source, dedup_key, count FROM repeats").fetchall()
    conn.close()
    assert stored == acked and repeats == [("erp", "k3", 1)]
