"""Work is taken, never shared (issue 15 item 2): several normalizers on one PostgreSQL claim pending deliveries
with FOR UPDATE SKIP LOCKED; a dead worker's claim is taken over after its lease; a worker whose claim was taken
over records nothing twice."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import pytest
import pytest_asyncio
from sqlalchemy import select, text, update

from collectors import parser_for
from hub.config import parse
from hub.ingest.inbox import Inbox
from hub.ingest.normalize import Normalizer
from hub.store import Store, claims
from hub.store.tables import deliveries, events
from hub.telemetry import new_metrics
from tests.conftest import PG_URL, pg_execute
from tests.support import cloudevent


def _config():  # type: ignore[no-untyped-def]
    return parse({"sources": [{"name": "erp", "kind": "erp", "adapter": "cloudevents"}]}, {})


async def _submit(store: Store, count: int, orders: int) -> None:
    inbox = Inbox(store, new_metrics())
    inbox.start()
    try:
        for n in range(count):  # events of a few orders, so the workers also meet on their keys
            body = json.dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", f"SO-{n % orders}"),
                                                               ("erp:line", f"L-{n}")], id=f"e-{n}")).encode()
            await inbox.submit(source="erp", dedup_key=f"d-{n}", headers={}, body=body,
                               content_type="application/cloudevents+json")
    finally:
        await inbox.stop()


@pytest_asyncio.fixture
async def schema():  # type: ignore[no-untyped-def]
    name = f"cl_{uuid.uuid4().hex[:10]}"
    await pg_execute(f'CREATE SCHEMA "{name}"')
    yield name
    await pg_execute(f'DROP SCHEMA "{name}" CASCADE')


def _normalizer(store: Store, node: str, **options) -> Normalizer:  # type: ignore[no-untyped-def]
    config = _config()
    return Normalizer(store, parser_for(config), config, new_metrics(), node=node, **options)


@pytest.mark.asyncio
async def test_three_workers_take_every_delivery_once(schema: str, caplog: pytest.LogCaptureFixture) -> None:
    stores = [await Store.open(PG_URL, search_path=schema) for _ in range(3)]
    try:
        await _submit(stores[0], 300, orders=7)
        workers = [_normalizer(store, f"w{n}", batch_size=16) for n, store in enumerate(stores)]
        with caplog.at_level(logging.WARNING):
            done = await asyncio.gather(*(worker.run_until_idle() for worker in workers))
        assert sum(done) == 300  # each taken by exactly one worker
        assert all(done), done  # and all three took some
        async with stores[0].read() as conn:
            rows = (await conn.execute(select(deliveries.c.state, deliveries.c.attempts,
                                              deliveries.c.claimed_by))).all()
            stored = (await conn.execute(text("SELECT count(*), count(DISTINCT source_event_id) FROM events"))).one()
            orders = (await conn.execute(text("SELECT count(DISTINCT tx_id) FROM events"))).scalar_one()
        assert {(row.state, row.attempts) for row in rows} == {("done", 1)}
        assert {row.claimed_by for row in rows} == {"w0", "w1", "w2"}
        assert tuple(stored) == (300, 300) and orders == 7
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    finally:
        for store in stores:
            await store.close()


@pytest.mark.asyncio
async def test_a_dead_workers_claim_is_taken_over_after_its_lease(schema: str) -> None:
    store = await Store.open(PG_URL, search_path=schema)
    try:
        await _submit(store, 4, orders=2)
        async with store.write() as conn:
            assert len(await claims.claim(conn, "dead", 2, lease=3600)) == 2  # held for an hour: not taken over
        live = _normalizer(store, "live")
        assert await live.run_until_idle() == 2
        async with store.write() as conn:  # the dead worker's lease ends
            await conn.execute(update(deliveries).where(deliveries.c.claimed_by == "dead")
                               .values(claim_until=text("(now() AT TIME ZONE 'UTC') - interval '1 second'")))
        assert await live.run_until_idle() == 2
        async with store.read() as conn:
            rows = (await conn.execute(select(deliveries.c.state, deliveries.c.claimed_by))).all()
        assert sorted(rows) == [("done", "live")] * 4
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_a_worker_whose_claim_was_taken_over_records_nothing(schema: str) -> None:
    stores = [await Store.open(PG_URL, search_path=schema) for _ in range(2)]
    try:
        await _submit(stores[0], 3, orders=1)
        slow = _normalizer(stores[0], "slow", claim_seconds=0.2)
        taken = asyncio.Event()
        resume = asyncio.Event()
        parse_one = slow._parse

        def parse_slowly(delivery):  # type: ignore[no-untyped-def]
            taken.set()
            return parse_one(delivery)

        slow._parse = parse_slowly
        original = slow._record_group

        async def record_late(group, tally):  # type: ignore[no-untyped-def]
            await resume.wait()  # stalled past its lease (a long GC pause, a frozen VM)
            await original(group, tally)

        slow._record_group = record_late
        stalled = asyncio.create_task(slow.process_batch())
        await taken.wait()
        await asyncio.sleep(0.5)
        other = _normalizer(stores[1], "other")
        assert await other.run_until_idle() == 3
        resume.set()
        await stalled
        async with stores[0].read() as conn:
            rows = (await conn.execute(select(deliveries.c.attempts, deliveries.c.claimed_by))).all()
            stored = (await conn.execute(select(events.c.duplicates))).scalars().all()
        assert sorted(rows) == [(1, "other")] * 3
        assert stored == [0, 0, 0]  # not recorded again, not counted as duplicates
    finally:
        for store in stores:
            await store.close()
