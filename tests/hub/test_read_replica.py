"""[store] read_url: callers' reads go to a PostgreSQL replica, writes to the primary, with read-your-writes.

The "replica" is a second real database on the local server, migrated by the test: it replicates nothing, so it
is a replica lagging forever behind the primary — whatever the hub writes lands on the primary only.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from hub.app import create_app
from hub.errors import ConfigError
from hub.store import Store, cost_budgets
from hub.store.replica import reading_as
from hub.store.tables import deliveries
from tests.conftest import PG_URL, pg_execute
from tests.support import (
    ADMIN_KEY,
    OPERATOR_KEY,
    VIEWER_KEY,
    cloudevent,
    config_for,
    dumps,
    gql,
    running_app,
    signed_headers,
)

LISTED = "{ transactions(first: 50) { nodes { refs { namespace value } } } }"
TRACE = "query($ref: String!) { transaction(ref: $ref) { id refs { namespace value } } }"
FRESH_SECONDS = 1.5


@pytest_asyncio.fixture
async def primary_and_replica() -> AsyncIterator[tuple[str, str]]:
    names = [f"ct_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    for name in names:
        await pg_execute(f'CREATE DATABASE "{name}"')
    try:
        yield tuple(PG_URL.rsplit("/", 1)[0] + f"/{name}" for name in names)  # type: ignore[misc]
    finally:
        for name in names:
            await pg_execute(f'DROP DATABASE "{name}" WITH (FORCE)')


async def _order(client, order: str) -> None:  # type: ignore[no-untyped-def]
    body = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", order)]))
    assert (await client.post("/hooks/erp", content=body, headers=signed_headers(body))).status_code == 202


def _values(listed: dict) -> set[str]:  # type: ignore[type-arg]
    assert "errors" not in listed, listed
    return {r["value"] for node in listed["data"]["transactions"]["nodes"] for r in node["refs"]}


async def _deliveries(url: str) -> int:
    store = await Store.open(url)
    try:
        async with store.read() as conn:
            return (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one()
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_reads_go_to_the_replica_writes_to_the_primary_and_a_caller_reads_its_own_writes(
        primary_and_replica: tuple[str, str]) -> None:
    primary, replica = primary_and_replica
    async with running_app(replica) as (client, hub):  # what the replica already holds: one order, SO-R
        await _order(client, "SO-R")
        await hub.normalizer.run_until_idle()

    extra = {"store": {"url": primary, "read_url": replica, "fresh_seconds": FRESH_SECONDS}}
    async with running_app(primary, extra=extra) as (client, hub):
        assert _values(await gql(client, LISTED, key=VIEWER_KEY)) == {"SO-R"}  # the list is read on the replica

        await _order(client, "SO-P")  # a webhook: stored and normalized on the primary only
        await hub.normalizer.run_until_idle()
        assert await _deliveries(primary) == 1 and await _deliveries(replica) == 1
        assert _values(await gql(client, LISTED, key=VIEWER_KEY)) == {"SO-R"}

        # a ref the replica does not know yet is read on the primary, and so is the rest for a while
        found = (await gql(client, TRACE, key=VIEWER_KEY, ref="SO-P"))["data"]["transaction"]
        assert found is not None and {r["value"] for r in found["refs"]} == {"SO-P"}
        assert _values(await gql(client, LISTED, key=VIEWER_KEY)) == {"SO-P"}

        # the caller's own ingest: its reads go to the primary; another caller's stay on the replica
        batch = [cloudevent("shop", "order.placed", [("shop:order", "5550001")])]
        response = await client.post("/ingest", content=dumps(batch), headers={
            "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"})
        assert response.status_code == 202, response.text
        await hub.normalizer.run_until_idle()
        assert _values(await gql(client, LISTED, key=OPERATOR_KEY)) == {"SO-P", "5550001"}

        await asyncio.sleep(FRESH_SECONDS + 0.2)  # past the window: both callers read the replica again
        assert _values(await gql(client, LISTED, key=VIEWER_KEY)) == {"SO-R"}
        assert _values(await gql(client, LISTED, key=OPERATOR_KEY)) == {"SO-R"}
        assert (await gql(client, TRACE, key=VIEWER_KEY, ref="SO-R"))["data"]["transaction"] is not None

        metrics = (await client.get("/metrics", headers={"authorization": f"Bearer {OPERATOR_KEY}"})).text
        reads = {target: hub.store.reads[target] for target in ("primary", "replica")}
        assert reads["replica"] >= 5 and reads["primary"] > 0, reads
        assert 'crosstrace_store_reads_total{target="replica"' in metrics


@pytest.mark.asyncio
async def test_a_replica_needs_a_postgresql_primary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = config_for(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
                        extra={"store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}", "read_url": PG_URL}})
    app = create_app(config, evaluate_every=3600)
    with pytest.raises(ConfigError, match="read replica needs a PostgreSQL primary"):
        async with app.router.lifespan_context(app):
            pass


WINDOWS = "{ maintenanceWindows { id } }"
SCHEDULE = """mutation($from: DateTime!, $until: DateTime!) {
  scheduleMaintenance(source: "erp", from: $from, until: $until) { id } }"""
ACROSS_SECONDS = 60.0  # a window no step of this test outlasts, however loaded the machine


@pytest.mark.asyncio
async def test_a_caller_reads_its_own_writes_through_another_process(primary_and_replica: tuple[str, str]) -> None:
    """Two app instances on one primary and one replica, as two receivers behind a load balancer: a caller writes
    through one and reads through the other, which never saw the write; its reads there are not stale."""
    primary, replica = primary_and_replica
    async with running_app(replica) as (client, hub):  # what the replica already holds: one order, SO-R
        await _order(client, "SO-R")
        await hub.normalizer.run_until_idle()

    extra = {"store": {"url": primary, "read_url": replica, "fresh_seconds": ACROSS_SECONDS}}
    async with running_app(primary, extra=extra) as (one, one_hub), \
            running_app(primary, extra=extra) as (other, other_hub):
        assert _values(await gql(other, LISTED, key=OPERATOR_KEY)) == {"SO-R"}  # nothing written yet: the replica

        # /ingest through one (its rows are written by the inbox's task): a GraphQL list through the other
        batch = [cloudevent("shop", "order.placed", [("shop:order", "5550001")])]
        response = await one.post("/ingest", content=dumps(batch), headers={
            "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"})
        assert response.status_code == 202, response.text
        await one_hub.normalizer.run_until_idle()
        await other_hub.normalizer.run_until_idle()
        assert _values(await gql(other, LISTED, key=OPERATOR_KEY)) == {"5550001"}
        # … and a read that charges no cost budget (an export) asks the primary's mark itself
        exported = await other.get("/export/transactions.ndjson", headers={"authorization": f"Bearer {OPERATOR_KEY}"})
        assert exported.status_code == 200 and exported.text.count("\n") == 1, exported.text

        # a mutation (a write transaction of the caller's) through one: read through the other
        start = datetime.now(UTC)
        scheduled = await gql(one, SCHEDULE, key=ADMIN_KEY, **{"from": start.isoformat(),
                                                                "until": (start + timedelta(hours=1)).isoformat()})
        assert "errors" not in scheduled, scheduled
        listed = (await gql(other, WINDOWS, key=ADMIN_KEY))["data"]["maintenanceWindows"]
        assert [w["id"] for w in listed] == [scheduled["data"]["scheduleMaintenance"]["id"]]

        # another caller, who wrote nothing, still reads the replica on both
        assert _values(await gql(other, LISTED, key=VIEWER_KEY)) == {"SO-R"}
        assert _values(await gql(one, LISTED, key=VIEWER_KEY)) == {"SO-R"}
        assert (await gql(other, WINDOWS, key=VIEWER_KEY))["data"]["maintenanceWindows"] == []


@pytest.mark.asyncio
async def test_the_cost_budget_take_says_whether_the_caller_wrote_on_another_process(
        primary_and_replica: tuple[str, str]) -> None:
    """No lookup of its own for a GraphQL request: the take's one statement answers for the caller's reads."""
    primary, replica = primary_and_replica
    writer = await Store.open(primary, read_url=replica, fresh_seconds=ACROSS_SECONDS)
    reader = await Store.open(primary, read_url=replica, fresh_seconds=ACROSS_SECONDS)  # another process
    bucket = cost_budgets.Bucket(size=100, rate=1.0)
    try:
        with reading_as("caller-a"):
            async with writer.write():
                pass  # a write transaction made for caller-a (a mutation's)
        for caller, wrote in (("caller-a", True), ("caller-b", False)):
            with reading_as(caller):
                assert reader.freshness.replica() is None  # unknown here until the primary says
                await cost_budgets.take(reader, bucket, caller, 1, time.time())
                assert reader.freshness.replica() is (not wrote)
                assert await reader.on_replica() is (not wrote)
    finally:
        await writer.close()
        await reader.close()
