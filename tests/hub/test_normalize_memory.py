"""The normalizer's memory is bounded by events in flight, not by deliveries (issue 14: one /ingest delivery is
500 events, and a batch of 256 of them was 128k parsed events at once)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from sqlalchemy import func, select

from collectors import parser_for
from hub.config import parse
from hub.ingest.inbox import Inbox
from hub.ingest.normalize import Normalizer
from hub.model import Delivery, Event
from hub.store import Store
from hub.store.tables import deliveries, events
from hub.telemetry import new_metrics
from tests.support import cloudevent


def _config(store_url: str):  # type: ignore[no-untyped-def]
    return parse({"store": {"url": store_url}, "sources": [{"name": "erp", "kind": "erp",
                                                            "adapter": "cloudevents"}]}, {})


async def _submit(store: Store, sizes: list[int]) -> list[int]:
    """One CloudEvents batch delivery per size; returns each body's length in bytes."""
    inbox = Inbox(store, new_metrics())
    inbox.start()
    lengths = []
    try:
        for n, size in enumerate(sizes):
            body = json.dumps([cloudevent("erp", "erp.posted", [("erp:sales_order", f"SO-{n}-{k}")], id=f"e-{n}-{k}")
                               for k in range(size)]).encode()
            lengths.append(len(body))
            await inbox.submit(source="erp", dedup_key=f"d-{n}", headers={}, body=body,
                               content_type="application/cloudevents-batch+json")
    finally:
        await inbox.stop()
    return lengths


@pytest.mark.asyncio
async def test_parsed_events_wait_at_most_one_transaction(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each group is recorded as soon as it is parsed: parsed-but-unrecorded events never exceed one
    transaction's worth plus one delivery. Read from the real SQLite file, beside the hub, while it parses."""
    path = tmp_path / "hub.db"
    url = f"sqlite+aiosqlite:///{path}"
    store = await Store.open(url)
    try:
        await _submit(store, [50] * 12)
        parse_one = parser_for(_config(url))
        parsed = 0
        in_flight: list[int] = []

        def counting(delivery: Delivery) -> list[Event]:
            nonlocal parsed
            with sqlite3.connect(path) as reader:
                stored = reader.execute("SELECT count(*) FROM events").fetchone()[0]
            in_flight.append(parsed - stored)
            found = parse_one(delivery)
            parsed += len(found)
            return found

        normalizer = Normalizer(store, counting, _config(url), new_metrics(), max_events_per_transaction=100)
        assert await normalizer.run_until_idle() == 12
        async with store.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(events))).scalar_one() == 600
        assert max(in_flight) <= 100 + 50, in_flight
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_a_batch_takes_bodies_up_to_the_byte_budget(store_url: str) -> None:
    store = await Store.open(store_url)
    try:
        lengths = await _submit(store, [20] * 6 + [200, 20])
        normalizer = Normalizer(store, parser_for(_config(store_url)), _config(store_url), new_metrics(),
                                max_body_bytes=int(lengths[0] * 2.5))
        taken = []
        while processed := await normalizer.process_batch():
            taken.append(processed)
        assert taken == [2, 2, 2, 1, 1]  # the 200-event body is over the budget alone: it goes, on its own
        async with store.read() as conn:
            stored = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
            left = (await conn.execute(select(func.count()).select_from(deliveries)
                                       .where(deliveries.c.state != "done"))).scalar_one()
        assert (stored, left) == (340, 0)
    finally:
        await store.close()
