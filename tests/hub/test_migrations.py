"""The Alembic migrations build exactly the tables the code declares, on both stores, idempotently."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from hub.store import Store
from hub.store.engine import migrate, open_engine
from hub.store.tables import metadata


@pytest.mark.asyncio
async def test_migrated_schema_matches_the_tables(store: Store) -> None:
    await migrate(store.engine)  # a second start migrates nothing and fails nothing

    def diff(connection):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(connection), metadata)

    async with store.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


# Each child imports the hub, says it is ready, and migrates when the parent says go: both start together.
_CHILD = """
import asyncio, sys
from hub.store.engine import migrate, open_engine

async def main():
    engine = open_engine(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        await migrate(engine)
    finally:
        await engine.dispose()

asyncio.run(main())
"""


@pytest.mark.asyncio
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_two_processes_migrate_one_fresh_postgresql_database_together(store_url: str) -> None:
    """Two ``crosstrace serve`` starting at the same moment on a fresh database: both start, one schema."""
    children = [await asyncio.create_subprocess_exec(sys.executable, "-c", _CHILD, store_url,
                                                     stdin=PIPE, stdout=PIPE, stderr=PIPE) for _ in range(2)]
    for child in children:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 60) == b"ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        await child.stdin.drain()
    outcomes = [await asyncio.wait_for(child.communicate(), 120) for child in children]
    assert [(child.returncode, err.decode()[-400:]) for child, (_, err) in zip(children, outcomes, strict=True)] \
        == [(0, ""), (0, "")]
    engine = open_engine(store_url)
    try:
        async with engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
        assert len(versions) == 1
        assert differences == []
    finally:
        await engine.dispose()
