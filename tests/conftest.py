"""Shared fixtures: a real store on an SQLite file and on the real PostgreSQL (never a mock).

PostgreSQL is at 127.0.0.1:5432, database ``test`` (override with CROSSTRACE_TEST_PG_URL); when it is
missing the PostgreSQL half of every store test fails rather than skips. Each test gets its own schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from hub.store import Store

PG_URL = os.environ.get("CROSSTRACE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@pytest_asyncio.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """A store URL on an SQLite file and on a fresh PostgreSQL database (for tests that run the whole app)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
        return
    async with scratch_database() as url:
        yield url


@asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """The URL of a fresh PostgreSQL database on the test server, dropped after."""
    name = f"ct_{uuid.uuid4().hex[:12]}"
    await pg_execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await pg_execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Store]:  # type: ignore[no-untyped-def]
    """A migrated store, on an SQLite file in tmp_path and on the real PostgreSQL."""
    if request.param == "sqlite":
        opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
        yield opened
        await opened.close()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    await pg_execute(f'CREATE SCHEMA "{schema}"')
    try:
        opened = await Store.open(PG_URL, search_path=schema)
        yield opened
        await opened.close()
    finally:
        await pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


async def pg_execute(statement: str) -> None:
    engine = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()
