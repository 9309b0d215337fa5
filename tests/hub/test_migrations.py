"""The Alembic migrations build exactly the tables the code declares, on both stores, idempotently."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE
from datetime import datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from hub.ids import new_id
from hub.store import Store
from hub.store.engine import MIGRATIONS, migrate, open_engine
from hub.store.inbox import append_deliveries
from hub.store.partitions import PREFIXES
from hub.store.tables import POSTGRESQL_ONLY_TABLES, SQLITE_ONLY_CONSTRAINTS, deliveries, metadata


def declared(connection):  # type: ignore[no-untyped-def]
    """The migration context comparing what this store is declared to have: PostgreSQL has the dedup key tables
    and the partitions of deliveries and events, SQLite the unique constraints those replace (hub.store.tables)."""
    dialect = connection.dialect.name

    def include(obj, name, kind, reflected, compare_to):  # type: ignore[no-untyped-def]
        if kind == "table" and reflected and compare_to is None and name.startswith(
                tuple(f"{table}_" for table in PREFIXES)):
            return dialect != "postgresql"  # a partition
        if kind == "table" and name in POSTGRESQL_ONLY_TABLES:
            return dialect == "postgresql"
        if kind == "unique_constraint" and name in SQLITE_ONLY_CONSTRAINTS:
            return dialect == "sqlite"
        return True

    return MigrationContext.configure(connection, opts={"include_object": include})


@pytest.mark.asyncio
async def test_migrated_schema_matches_the_tables(store: Store) -> None:
    await migrate(store.engine)  # a second start migrates nothing and fails nothing

    def diff(connection):  # type: ignore[no-untyped-def]
        return compare_metadata(declared(connection), metadata)

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
                lambda sync: compare_metadata(declared(sync), metadata))
        assert len(versions) == 1
        assert differences == []
    finally:
        await engine.dispose()


def alembic(connection, verb: str, revision: str) -> None:  # type: ignore[no-untyped-def]
    """Run Alembic's ``verb`` (upgrade, downgrade) to ``revision`` on this connection."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    getattr(command, verb)(config, revision)


@pytest.mark.asyncio
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_partitioning_downgrades_to_plain_tables_and_upgrades_again_with_every_row(store: Store) -> None:
    """0023 on PostgreSQL: down, the rows of every partition are in one plain table with its unique constraint;
    up again, the table is the first partition and the key tables hold every key."""
    rows = [{"id": new_id("dlv"), "source": "shop", "dedup_key": f"k{n}", "received_at": datetime(2026, 11, 1),
             "headers": {}, "body": b"{}", "content_type": "application/json"} for n in range(3)]
    rows[2]["id"] = "dlv_test"  # not time-shaped: in deliveries_other
    await append_deliveries(store, rows)

    async def state() -> tuple[list[str], list[str], list[str]]:
        async with store.engine.connect() as conn:
            ids = list((await conn.execute(select(deliveries.c.id).order_by(deliveries.c.id))).scalars())
            kinds = list((await conn.execute(text(
                "SELECT relkind::text FROM pg_class WHERE oid IN (to_regclass('deliveries'), to_regclass('events')) "
                "ORDER BY relname"))).scalars())
            unique = list((await conn.execute(text(
                "SELECT conname FROM pg_constraint WHERE contype = 'u' AND connamespace = "
                "(SELECT oid FROM pg_namespace WHERE nspname = current_schema()) ORDER BY conname"))).scalars())
        return ids, kinds, unique

    async with store.engine.begin() as conn:
        await conn.run_sync(alembic, "downgrade", "0022")
    ids, kinds, unique = await state()
    assert ids == sorted(row["id"] for row in rows) and kinds == ["r", "r"]
    assert {"uq_deliveries_source_dedup", "uq_events_source_event"} <= set(unique)
    async with store.engine.begin() as conn:
        await conn.run_sync(alembic, "upgrade", "head")
    ids, kinds, unique = await state()
    assert ids == sorted(row["id"] for row in rows) and kinds == ["p", "p"]
    assert not {"uq_deliveries_source_dedup", "uq_events_source_event"} & set(unique)
    assert await append_deliveries(store, [{**rows[0], "id": new_id("dlv")}]) == {("shop", "k0"): rows[0]["id"]}


@pytest.mark.asyncio
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_the_default_partition_downgrades_and_upgrades_with_the_rows_in_it(store: Store) -> None:
    """0027 on PostgreSQL: rows no month takes (an id beyond every month, a hand-made one) live in the DEFAULT
    partition; down, in ``deliveries_other`` (widened to take the one beyond every month); up again, in the default."""
    rows = [{"id": ident, "source": "shop", "dedup_key": ident, "received_at": datetime(2026, 11, 1), "headers": {},
             "body": b"{}", "content_type": "application/json"} for ident in ("dlv_0200", "dlv_test", new_id("dlv"))]
    await append_deliveries(store, rows)

    async def homes() -> dict[str, str]:
        async with store.engine.connect() as conn:
            return dict((await conn.execute(text("SELECT id, tableoid::regclass::text FROM deliveries"))).all())

    async with store.engine.begin() as conn:
        await conn.run_sync(alembic, "downgrade", "0026")
    down = await homes()
    assert sorted(down) == sorted(row["id"] for row in rows)
    assert down["dlv_0200"] == down["dlv_test"] == "deliveries_other"
    async with store.engine.begin() as conn:
        await conn.run_sync(alembic, "upgrade", "head")
    up = await homes()
    assert sorted(up) == sorted(row["id"] for row in rows)
    assert up["dlv_0200"] == up["dlv_test"] == "deliveries_default"
    async with store.engine.begin() as conn:
        await conn.run_sync(alembic, "downgrade", "0022")
        await conn.run_sync(alembic, "upgrade", "head")
    assert sorted(await homes()) == sorted(row["id"] for row in rows)
    again = {**rows[0], "id": new_id("dlv")}  # its key is still stored: a repeat
    assert await append_deliveries(store, [again]) == {("shop", "dlv_0200"): "dlv_0200"}
