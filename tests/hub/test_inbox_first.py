"""Inbox first: the normalizer yields the one writer while webhook senders wait, and still drains everything."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from collectors import parser_for
from hub.config import parse
from hub.ingest.inbox import Inbox
from hub.ingest.normalize import Normalizer
from hub.store import Store
from hub.store.tables import deliveries, events
from hub.telemetry import new_metrics
from tests.support import cloudevent, dumps, running_app, signed_headers


@pytest.mark.asyncio
async def test_inbox_is_busy_while_a_batch_waits_for_the_writer(store: Store) -> None:
    inbox = Inbox(store, new_metrics())
    assert not inbox.busy  # nothing queued, nothing committed yet
    inbox.start()
    try:
        async with store.write():  # a background writer holds the store: the inbox batch must wait
            waiting = asyncio.create_task(inbox.submit(source="erp", dedup_key="k", headers={}, body=b"{}",
                                                       content_type="application/json"))
            while inbox.depth == 0:  # until the delivery is queued
                await asyncio.sleep(0)
            while inbox.depth:  # until the writer has taken it and waits for the store
                await asyncio.sleep(0)
            for _ in range(20):  # however long it waits, the inbox says senders are waiting
                assert inbox.busy and not waiting.done()  # and nothing is acknowledged before it is committed
                await asyncio.sleep(0)
        assert (await waiting).new
    finally:
        await inbox.stop()


@pytest.mark.asyncio
async def test_a_normalizer_that_always_yields_still_normalizes_every_delivery(store_url: str) -> None:
    config = parse({"store": {"url": store_url}, "sources": [{"name": "erp", "kind": "erp",
                                                              "adapter": "cloudevents"}]}, {})
    store = await Store.open(store_url)
    normalizer = Normalizer(store, parser_for(config), config, new_metrics(), batch_size=7, idle_poll_seconds=0.05,
                            senders_waiting=lambda: True)  # as if a burst never ended
    inbox = Inbox(store, new_metrics(), on_commit=normalizer.wake)
    inbox.start()
    normalizer.start()
    try:
        bodies = [json.dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", f"SO-{n}")], id=f"e-{n}")).encode()
                  for n in range(40)]
        receipts = await asyncio.gather(*(inbox.submit(source="erp", dedup_key=f"d-{n}", headers={}, body=body,
                                                       content_type="application/json")
                                          for n, body in enumerate(bodies)))
        assert all(r.new for r in receipts)
        async with asyncio.timeout(60):  # a liveness bound, not a timing assertion
            while True:
                async with store.read() as conn:
                    pending = (await conn.execute(select(func.count()).select_from(deliveries)
                                                  .where(deliveries.c.state == "pending"))).scalar_one()
                    stored = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
                if not pending and stored == 40:
                    break
                await asyncio.sleep(0.05)
    finally:
        await inbox.stop()
        await normalizer.stop()
        await store.close()


@pytest.mark.asyncio
async def test_metrics_show_how_long_the_inbox_waited_for_the_writer(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        body = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1")]))
        assert (await client.post("/hooks/erp", content=body, headers=signed_headers(body))).status_code == 202
        await hub.normalizer.run_until_idle()
        samples = dict(line.rsplit(" ", 1) for line in (await client.get("/metrics")).text.splitlines()
                       if line.startswith("crosstrace_store_"))
    assert float(samples['crosstrace_store_write_transactions_total{writer="inbox"}']) >= 1
    assert float(samples['crosstrace_store_write_transactions_total{writer="background"}']) >= 1
    for name in ("wait", "hold"):
        for writer in ("inbox", "background"):
            assert float(samples[f'crosstrace_store_writer_{name}_seconds_total{{writer="{writer}"}}']) >= 0


@pytest.mark.asyncio
async def test_a_batch_is_recorded_in_short_transactions_at_delivery_boundaries(store_url: str) -> None:
    config = parse({"store": {"url": store_url}, "sources": [{"name": "erp", "kind": "erp",
                                                              "adapter": "cloudevents"}]}, {})
    store = await Store.open(store_url)
    try:
        inbox = Inbox(store, new_metrics())
        inbox.start()
        sizes = [1, 1, 3, 1, 1]  # the 3-event delivery is bigger than the limit: it goes whole, on its own
        for n, size in enumerate(sizes):
            batch = [cloudevent("erp", "erp.posted", [("erp:sales_order", f"SO-{n}")], id=f"e-{n}-{k}")
                     for k in range(size)]
            await inbox.submit(source="erp", dedup_key=f"d-{n}", headers={}, body=json.dumps(batch).encode(),
                               content_type="application/cloudevents-batch+json")
        await inbox.stop()
        before = store.writer_stats["background"].transactions
        normalizer = Normalizer(store, parser_for(config), config, new_metrics(), max_events_per_transaction=2)
        assert await normalizer.run_until_idle() == 5
        assert store.writer_stats["background"].transactions - before == 3  # [1, 1] [3] [1, 1]
        async with store.read() as conn:
            stored = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
            pending = (await conn.execute(select(func.count()).select_from(deliveries)
                                          .where(deliveries.c.state != "done"))).scalar_one()
        assert (stored, pending) == (7, 0)
    finally:
        await store.close()
