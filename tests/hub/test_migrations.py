"""The Alembic migrations build exactly the tables the code declares, on both stores, idempotently."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hub.store import Store
from hub.store.engine import migrate
from hub.store.tables import metadata


@pytest.mark.asyncio
async def test_migrated_schema_matches_the_tables(store: Store) -> None:
    await migrate(store.engine)  # a second start migrates nothing and fails nothing

    def diff(connection):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(connection), metadata)

    async with store.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []
