"""bench.lookup's stored data (bench/lookup_data.py): loaded set-based as correlation leaves it, and a kept file
reused only when its size, shape and schema revision match."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine

from bench.common import sqlite_url
from bench.lookup_data import BIG, SMALL, Dataset, head_revision, sqlite_data
from hub.store import Store
from hub.store.engine import MIGRATIONS
from hub.store.trace import get_trace


@pytest.mark.asyncio
async def test_loaded_traces_are_what_correlation_leaves(tmp_path: Path) -> None:
    data = Dataset(3_000, 5)
    async with sqlite_data(tmp_path, data) as (db, loaded):
        assert loaded["seconds"] is not None and loaded["rows"] == data.rows
    conn = sqlite3.connect(db)
    counts = [conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
              for table in ("events", "refs", "ref_keys", "transactions")]
    assert counts == [data.events, 2 * data.events, 4 * data.traces, data.traces]
    assert conn.execute(  # each key counts the events stating it, each transaction its events
        "SELECT count(*) FROM ref_keys k WHERE events != (SELECT count(*) FROM refs r JOIN events e "
        "ON e.id = r.event_id WHERE r.namespace = k.namespace AND r.value = k.value AND e.tx_id = k.tx_id)"
    ).fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM transactions t WHERE events != "
                        "(SELECT count(*) FROM events e WHERE e.tx_id = t.id)").fetchone() == (0,)
    assert sorted(conn.execute("SELECT events, count(*) FROM transactions GROUP BY events")) == [
        (SMALL, data.traces - data.big), (BIG, data.big)]
    conn.close()
    store = await Store.open(sqlite_url(str(db)))
    try:
        async with store.read() as read:
            for ref in data.lookup_refs(8):  # any of a big trace's refs finds its one transaction, linked end to end
                trace = await get_trace(read, ref)
                assert trace is not None and len(trace.events) == BIG
                assert [e.source for e in trace.events] == ["shop"] * 17 + ["erp"] * 17 + ["wms"] * 16
                assert {r.namespace for r in trace.refs} == {"shop:order", "shop:order_name", "erp:sales_order",
                                                            "wms:shipment"}
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_kept_data_is_reused_only_when_it_matches(tmp_path: Path) -> None:
    data = Dataset(3_000, 5)
    async with sqlite_data(tmp_path, data) as (db, _):
        pass
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO cost_budgets VALUES ('key:bench', -67.5, 0, 0)")  # a budget a run drained
    conn.commit()
    conn.close()
    async with sqlite_data(tmp_path, data) as (_, loaded):
        assert loaded["seconds"] is None
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM cost_budgets").fetchone() == (0,)  # as on a new database
    conn.close()
    async with sqlite_data(tmp_path, Dataset(3_000, 6)) as (_, loaded):  # same size, another shape
        assert loaded["seconds"] is not None
    await asyncio.to_thread(_alembic_downgrade, db)  # an older schema: migrated forward, the rows reused
    async with sqlite_data(tmp_path, Dataset(3_000, 6)) as (_, loaded):
        assert loaded["seconds"] is None
    assert _revision(db) == head_revision()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = 'ffff'")  # a revision this tree does not know
    conn.commit()
    conn.close()
    async with sqlite_data(tmp_path, Dataset(3_000, 6)) as (_, loaded):
        assert loaded["seconds"] is not None
    assert _revision(db) == head_revision()


def _revision(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        conn.close()


def _alembic_downgrade(db: Path) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with create_engine(f"sqlite:///{db}").begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
