"""Issue 13: no delivery holds up the others. A correctly signed delivery whose write the database refuses is
dead-lettered with the error and the rest of its batch is recorded; a database that is merely unavailable
(locked) dead-letters nothing. Real signed webhooks, a real SQLite file and the real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from hub.correlation.plan import CorrelationSettings
from hub.ingest.inbox import EVALUATE_NOW
from hub.model import Event, Ref
from hub.store.record import Incoming, record_events
from hub.store.tables import deliveries, tx_due
from tests.conftest import pg_execute
from tests.support import cloudevent, dumps, gql, moved, running_app, signed_headers

TRACE = 'query($ref: String!) { transaction(ref: $ref) { id events { type refs { namespace value } } } }'
EXCEPTIONS = '{ exceptions(filter: {type: ["dead_letter"]}, first: 20) { nodes { subject message evidence } } }'


async def refuse_values_like(hub, prefix: str) -> None:  # type: ignore[no-untyped-def]
    """A real constraint in the database: it refuses to store a ref whose value starts with ``prefix``."""
    async with hub.store.write() as conn:
        if hub.store.dialect == "sqlite":
            await conn.execute(text(f"CREATE TRIGGER refuse_ref BEFORE INSERT ON refs WHEN NEW.value LIKE '{prefix}%' "
                                    "BEGIN SELECT RAISE(ABORT, 'refuse_ref: this value is refused'); END"))
        else:
            await conn.execute(text(f"ALTER TABLE refs ADD CONSTRAINT refuse_ref CHECK (value NOT LIKE '{prefix}%')"))


async def post(client, value: str, event_id: str) -> str:  # type: ignore[no-untyped-def]
    body = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", value)], id=event_id))
    response = await client.post("/hooks/erp", content=body, headers=signed_headers(body))
    assert response.status_code == 202, response.text
    return response.json()["delivery"]


async def states(hub) -> dict[str, tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    await moved(hub)
    async with hub.store.read() as conn:
        return {r.id: (r.state, r.error) for r in await conn.execute(select(deliveries.c.id, deliveries.c.state,
                                                                           deliveries.c.error))}


async def traced(client, ref: str) -> bool:  # type: ignore[no-untyped-def]
    return (await gql(client, TRACE, ref=ref))["data"]["transaction"] is not None


@pytest.mark.asyncio
async def test_a_delivery_the_database_refuses_is_dead_lettered_and_its_batch_is_recorded(store_url: str) -> None:
    values = ["SO-1", "SO-2", "REFUSED-A", "SO-4", "SO-5", "SO-6", "REFUSED-B", "SO-8"]
    async with running_app(store_url) as (client, hub):
        await refuse_values_like(hub, "REFUSED-")
        await hub.normalizer.stop()  # everything lands first, so all eight are taken in one batch
        ids = {value: await post(client, value, f"e-{n}") for n, value in enumerate(values)}
        assert await hub.normalizer.run_until_idle() == len(values)
        after = await states(hub)
        for value, delivery_id in ids.items():
            state, error = after[delivery_id]
            if value.startswith("REFUSED-"):
                assert state == "dead" and "refuse_ref" in error, (value, error)
            else:
                assert (state, error) == ("done", None), value
                assert await traced(client, value), value
        dead = {x["subject"]: x for x in (await gql(client, EXCEPTIONS))["data"]["exceptions"]["nodes"]}
        assert set(dead) == {ids["REFUSED-A"], ids["REFUSED-B"]}
        letter = dead[ids["REFUSED-A"]]
        assert "could not be recorded" in letter["message"] and "refuse_ref" in letter["evidence"]["error"]
        assert letter["evidence"]["stage"] == "recorded"
        assert hub.metrics.value("crosstrace_deliveries_dead_total", source="erp") == 2
        assert await hub.normalizer.run_until_idle() == 0  # the failure is not retried

        hub.normalizer.start()  # the background worker: a good delivery posted after is traced
        late = await post(client, "SO-9", "e-9")
        async with asyncio.timeout(30):  # a bound against hanging, not a timing assertion
            while (await states(hub))[late][0] != "done":
                await asyncio.sleep(0.02)
        assert await traced(client, "SO-9")

    async with running_app(store_url) as (client, hub):  # a restart: nothing is waiting, nothing comes back
        assert await hub.normalizer.run_until_idle() == 0
        assert [s for s, _ in (await states(hub)).values()].count("dead") == 2


@pytest.mark.asyncio
async def test_a_database_that_is_unavailable_dead_letters_nothing(store_url: str) -> None:
    """A write that fails on a lock held elsewhere is the database's state, not the deliveries' data: the batch
    stays pending and is recorded once the lock goes."""
    async with running_app(store_url) as (client, hub):
        await hub.normalizer.stop()
        ids = [await post(client, f"SO-L{n}", f"l-{n}") for n in range(3)]
        url = make_url(store_url)
        if hub.store.dialect == "sqlite":
            holder = sqlite3.connect(url.database, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # the write lock, held by another process's connection
            release = holder.close
        else:
            await pg_execute(f'ALTER DATABASE "{url.database}" SET lock_timeout = \'200ms\'')
            await hub.store.engine.dispose()  # new sessions take the database's lock_timeout
            engine = hub.store.engine  # the same server, another session holds the lock
            holder_conn = await engine.connect()
            await holder_conn.execute(text("LOCK TABLE deliveries IN EXCLUSIVE MODE"))  # reads pass, writes wait

            async def release_pg() -> None:
                await holder_conn.rollback()
                await holder_conn.close()
            release = None
        try:
            with pytest.raises(DBAPIError) as raised:
                await hub.normalizer.process_batch()
            assert "lock" in str(raised.value).lower()
        finally:
            if release is not None:
                release()
            else:
                await release_pg()
        assert {state for state, _ in (await states(hub)).values()} == {"pending"}
        assert await hub.normalizer.run_until_idle() == 3
        assert {(await states(hub))[i] for i in ids} == {("done", None)}


@pytest.mark.asyncio
async def test_a_transaction_the_rules_cannot_evaluate_costs_a_new_delivery_nothing(store_url: str) -> None:
    """An order stored before values were checked (placed at the last instant a datetime holds: its SLA due
    time overflows) gets a valid delivery: the delivery is recorded, the evaluation is left to the tick."""
    async with running_app(store_url) as (client, hub):
        async with hub.store.write() as conn:  # as it was stored before hub.ingest.values refused such a time
            await record_events(hub.store, conn, [Incoming(Event(
                source="shop", source_event_id="legacy", type="order.placed",
                occurred_at=datetime(9999, 12, 31, 23, 59, 59), refs=[Ref("shop:order", "LEGACY-1")]),
                "dlv_legacy", datetime(2026, 11, 1))], CorrelationSettings(frozenset(), 50))
        await hub.normalizer.stop()
        body = dumps(cloudevent("shop", "payment.authorized", [("shop:order", "LEGACY-1")], id="authorized-1"))
        response = await client.post("/hooks/shop", content=body, headers=signed_headers(body))
        assert response.status_code == 202
        await hub.normalizer.run_until_idle()
        assert (await states(hub))[response.json()["delivery"]] == ("done", None)
        trace = (await gql(client, TRACE, ref="shop:order:LEGACY-1"))["data"]["transaction"]
        assert sorted(e["type"] for e in trace["events"]) == ["order.placed", "payment.authorized"]
        async with hub.store.read() as conn:
            due = (await conn.execute(select(tx_due.c.due_at).where(tx_due.c.tx_id == trace["id"]))).scalar_one()
        assert due == EVALUATE_NOW  # the evaluator's tick takes it, and isolates it there
        result = await hub.evaluator.tick()
        assert result.evaluated == 0  # logged and postponed, the tick went on
