"""hub.store.faults: "the database is unavailable" (retry) told apart from "this data cannot be written"
(dead-letter), on errors the real SQLite file and the real PostgreSQL raise."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from hub.store import Store, describe, is_transient
from tests.conftest import pg_execute


async def failure(store: Store, *statements: str, **params: object) -> Exception:
    try:
        async with store.write() as conn:
            for statement in statements:
                await conn.execute(text(statement), params)
    except Exception as exc:  # noqa: BLE001 - the test inspects what the store raised
        return exc
    raise AssertionError(f"{statements} did not fail")


@pytest.mark.asyncio
async def test_data_errors_are_not_transient_and_are_described_without_the_sql(store_url: str) -> None:
    store = await Store.open(store_url)
    try:
        async with store.write() as conn:
            await conn.execute(text("CREATE TABLE t (v VARCHAR(3) NOT NULL)"))
        refused = [await failure(store, "INSERT INTO t VALUES (NULL)")]
        if store.dialect == "postgresql":
            refused += [await failure(store, "INSERT INTO t VALUES (:v)", v="a\x00b"),
                        await failure(store, "INSERT INTO t VALUES (:v)", v="abcdef")]
        for exc in refused:
            assert not is_transient(exc), exc
            assert "INSERT" not in describe(exc) and len(describe(exc)) < 200, describe(exc)
        for exc in (OverflowError("date value out of range"), UnicodeEncodeError("utf-8", "\ud800", 0, 1, "x"),
                    ValueError("NaN")):
            assert not is_transient(exc)
        try:
            datetime(9999, 12, 31) + timedelta(days=1)
        except OverflowError as exc:
            assert describe(exc) == "OverflowError: date value out of range"
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_a_lock_held_elsewhere_is_transient(store_url: str) -> None:
    store = await Store.open(store_url)
    url = make_url(store_url)
    try:
        if store.dialect == "sqlite":
            holder = sqlite3.connect(url.database, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # another process's connection holds the write lock
            impatient = Store(create_async_engine(url, connect_args={"timeout": 0.05}))  # waits 50 ms, not 10 s
            try:
                exc = await failure(impatient, "UPDATE deliveries SET state = 'done' WHERE id = 'none'")
            finally:
                holder.close()
                await impatient.close()
            assert is_transient(exc) and describe(exc) == "OperationalError: database is locked", describe(exc)
        else:
            async with store.engine.connect() as holding:
                await holding.execute(text("LOCK TABLE deliveries IN EXCLUSIVE MODE"))
                exc = await failure(store, "SET LOCAL lock_timeout = '50ms'",
                                    "UPDATE deliveries SET state = 'done' WHERE id = 'none'")
                await holding.rollback()
            assert is_transient(exc) and "lock timeout" in describe(exc), describe(exc)
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_an_unreachable_or_closed_database_is_transient(store_url: str) -> None:
    if store_url.startswith("sqlite"):
        engine = create_async_engine("sqlite+aiosqlite:////nonexistent-dir/hub.db")
        with pytest.raises(Exception) as raised:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        await engine.dispose()
        assert is_transient(raised.value), raised.value  # SQLITE_CANTOPEN
        return
    refused = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/test")
    with pytest.raises(OSError) as raised:
        async with refused.connect() as conn:
            await conn.execute(text("SELECT 1"))
    await refused.dispose()
    assert is_transient(raised.value)
    name = make_url(store_url).database
    store = await Store.open(store_url)
    try:
        await pg_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await pg_execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        for _ in range(2):  # first the pooled connection that was cut, then a new one that is refused
            exc = await failure(store, "SELECT 1")
            assert is_transient(exc), describe(exc)
    finally:
        await pg_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await store.close()
