"""The inbox's promise on both stores: durable before acknowledged, stored once, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select, text

from hub.errors import Busy
from hub.ingest.inbox import Inbox, dedup_key_for
from hub.store import Store
from hub.store.tables import deliveries
from hub.telemetry import new_metrics
from tests.hub.test_exception_rules import FakeClock, at
from tests.support import OPERATOR_KEY, cloudevent, dumps, gql, running_app, signed_headers


def submission(key: str, body: bytes = b"{}") -> dict:
    return {"source": "erp", "dedup_key": key, "headers": {"x": "1"}, "body": body, "content_type": "application/json"}


@pytest.mark.asyncio
async def test_group_commit_dedups_within_and_across_batches(store: Store) -> None:
    inbox = Inbox(store, new_metrics())
    inbox.start()
    try:
        receipts = await asyncio.gather(*(inbox.submit(**submission(f"k{n % 50}")) for n in range(200)))
        later = await inbox.submit(**submission("k7"))
    finally:
        await inbox.stop()
    by_key: dict[str, set[str]] = {}
    for n, receipt in enumerate(receipts):
        by_key.setdefault(f"k{n % 50}", set()).add(receipt.delivery_id)
    assert all(len(ids) == 1 for ids in by_key.values())
    assert sum(r.new for r in receipts) == 50 and not later.new and later.delivery_id in by_key["k7"]
    async with store.read() as conn:
        rows = (await conn.execute(select(deliveries.c.dedup_key, deliveries.c.repeats))).all()
    assert len(rows) == 50 and sum(r.repeats for r in rows) == 151


@asynccontextmanager
async def inbox_writes_blocked(store: Store) -> AsyncIterator[None]:
    """While inside, the inbox's group commit cannot write: SQLite's one writer turn is held; on PostgreSQL (where
    the inbox commits beside the process's writer) another transaction holds ``deliveries`` in EXCLUSIVE mode."""
    if store.dialect != "postgresql":
        async with store.write():
            yield
        return
    async with store.engine.begin() as conn:
        await conn.execute(text("LOCK TABLE deliveries IN EXCLUSIVE MODE"))
        yield


@pytest.mark.asyncio
async def test_full_queue_answers_busy_instead_of_waiting(store: Store) -> None:
    inbox = Inbox(store, new_metrics(), queue_size=2, max_batch=1, writers=1)
    inbox.start()
    try:
        async with inbox_writes_blocked(store):
            first = asyncio.create_task(inbox.submit(**submission("a")))
            while inbox.depth == 0:  # until "a" is queued
                await asyncio.sleep(0)
            while inbox.depth:  # until the writer has taken "a" (it stays blocked on the store)
                await asyncio.sleep(0)
            queued = [asyncio.create_task(inbox.submit(**submission(k))) for k in ("b", "c")]
            while inbox.depth < 2:
                await asyncio.sleep(0)
            await asyncio.sleep(0.2)  # the writer is still blocked: nothing left the queue
            assert inbox.depth == 2 and not first.done()
            with pytest.raises(Busy) as caught:
                await inbox.submit(**submission("d"))
            assert caught.value.status == 503 and caught.value.headers["Retry-After"] == "1"
        assert all(r.new for r in await asyncio.gather(first, *queued))
    finally:
        await inbox.stop()


def test_dedup_key_uses_sender_id_or_body_hash() -> None:
    assert dedup_key_for("msg_1", b"x") == "msg_1"
    assert dedup_key_for(None, b"x") == dedup_key_for(None, b"x") != dedup_key_for(None, b"y")
    assert dedup_key_for("m" * 500, b"x").startswith("sha256:")


@pytest.mark.asyncio
async def test_a_group_commit_of_new_deliveries_is_one_statement(store: Store) -> None:
    """The insert returns the new deliveries' ids; only keys stored before (repeats) are looked up after it."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        written = statement.lstrip().upper()
        if written.startswith("WITH"):  # PostgreSQL takes the keys (delivery_keys) in a CTE: what follows is the insert
            written = written[written.rindex(") INSERT ") + 2:]
        if written.startswith(("INSERT", "SELECT", "UPDATE", "DELETE")):
            statements.append(written.split()[0])

    inbox = Inbox(store, new_metrics())
    inbox.start()
    event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        fresh = await asyncio.gather(*(inbox.submit(**submission(f"n{n}")) for n in range(20)))
        await inbox.stop()
        assert all(r.new for r in fresh) and len({r.delivery_id for r in fresh}) == 20
        new_batches = len(statements)
        assert new_batches >= 1 and statements == ["INSERT"] * new_batches  # no read-back of what was just inserted
        statements.clear()
        inbox.start()
        again = await inbox.submit(**submission("n3"))
        assert not again.new and again.delivery_id == fresh[3].delivery_id
        assert statements[:2] == ["INSERT", "SELECT"]  # a repeat's id is read back, then its counters updated
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", count)
        await inbox.stop()


@pytest.mark.asyncio
async def test_every_way_in_is_received_at_by_the_hub_clock(store_url: str) -> None:
    """A fixed hub clock (as tests and the demo set it): an /ingest batch and a signed webhook are received at its
    time, their events say so, and the normalizer's lag is measured on it (not the wall clock, weeks later)."""
    clock = FakeClock()
    t0 = clock.now
    async with running_app(store_url, clock=clock) as (client, hub):
        # The test drives the normalizer: both deliveries in one batch, whenever the background loop would have run
        # (on PostgreSQL the inbox no longer waits for the writer turn, and the loop took the batch alone at once).
        await hub.started().normalizer.stop()
        batch = dumps([cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1")], id="e-1")])
        ingested = await client.post("/ingest", content=batch, headers={
            "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"})
        assert ingested.status_code == 202, ingested.text
        clock.now = t0 + timedelta(minutes=5)
        body = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-2")], id="e-2"))
        hooked = await client.post("/hooks/erp", content=body,
                                   headers=signed_headers(body, timestamp=int(clock.now.timestamp())))
        assert hooked.status_code == 202, hooked.text
        await hub.started().normalizer.run_until_idle()
        assert hub.metrics.value("crosstrace_normalize_lag_seconds") == 300  # the /ingest batch waited 5 minutes

        answer = await gql(client, """{ deliveries(first: 10) { nodes { source receivedAt } }
          a: transaction(ref: "SO-1") { events { receivedAt } }
          b: transaction(ref: "SO-2") { events { receivedAt } } }""")
        assert "errors" not in answer, answer
        data = answer["data"]
        assert sorted((d["source"], d["receivedAt"]) for d in data["deliveries"]["nodes"]) == [
            ("erp", at(5)), ("ingest", at(0))]
        assert [e["receivedAt"] for e in data["a"]["events"] + data["b"]["events"]] == [at(0), at(5)]


@pytest.mark.asyncio
async def test_bodies_waiting_for_their_commit_are_bounded_in_bytes(store: Store) -> None:
    """Memory is bounded by what is in flight: past ``max_queued_bytes`` of bodies not yet committed, a sender
    gets a 503 at once, however few deliveries that is; once committed, the room is there again."""
    inbox = Inbox(store, new_metrics(), max_queued_bytes=2500)
    inbox.start()
    big = b"x" * 1000
    try:
        async with store.write():  # the writer is stuck behind this transaction
            first = asyncio.create_task(inbox.submit(**submission("a", big)))
            while inbox.depth == 0:  # until "a" is queued
                await asyncio.sleep(0)
            while inbox.depth:  # until the writer has taken "a" and blocks on the store: its body still counts
                await asyncio.sleep(0)
            second = asyncio.create_task(inbox.submit(**submission("b", big)))
            while inbox.depth < 1:
                await asyncio.sleep(0)
            with pytest.raises(Busy) as caught:  # at once: never left waiting behind the stuck commit
                await asyncio.wait_for(inbox.submit(**submission("c", big)), 10)
            assert caught.value.status == 503
        assert all(r.new for r in await asyncio.gather(first, second))
        assert (await inbox.submit(**submission("c", big))).new  # answered: their bytes no longer count
    finally:
        await inbox.stop()
