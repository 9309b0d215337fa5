"""/ingest hands the events it parsed to the normalizer of its process (hub/ingest/handoff.py): a body is parsed
once, the events recorded are those a fresh parse gives, and a replay parses the stored body again."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

import collectors.ingest
from hub.ingest.handoff import Handoff
from hub.ingest.normalize import ReplayFilter, replay
from hub.model import Event
from hub.store.tables import events
from tests.support import OPERATOR_KEY, cloudevent, dumps, running_app

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def event(n: int) -> Event:
    return Event(source="shop", source_event_id=f"e{n}", type="order.placed", occurred_at=None)


def test_events_are_taken_once_for_the_same_body_and_traceparent() -> None:
    handoff = Handoff()
    handoff.put("d1", b"body", TRACEPARENT, [event(1)])
    handoff.put("d2", b"body", None, [event(2)])
    handoff.put("d3", b"body", None, [event(3)])
    assert handoff.take("d1", b"other body", TRACEPARENT) is None  # not what was parsed: parse it
    assert handoff.take("d1", b"body", TRACEPARENT) is None  # gone: taken (or refused) once
    assert handoff.take("d2", b"body", TRACEPARENT) is None
    assert handoff.take("d3", b"body", None) == [event(3)]
    assert len(handoff) == 0


def test_a_full_handoff_keeps_the_oldest_and_lets_stale_ones_go() -> None:
    now = [0.0]
    handoff = Handoff(max_events=3, max_age=60, clock=lambda: now[0])
    handoff.put("d1", b"1", None, [event(1), event(2)])
    handoff.put("d2", b"2", None, [event(3)])
    handoff.put("d3", b"3", None, [event(4)])  # full: the normalizer takes d1 and d2 first
    assert handoff.take("d3", b"3", None) is None
    now[0] = 30.0
    handoff.put("d4", b"4", None, [event(5)])  # still full
    assert handoff.take("d4", b"4", None) is None
    assert handoff.take("d2", b"2", None) == [event(3)]
    handoff.put("d5", b"5", None, [event(6)])  # room again
    now[0] = 61.0
    handoff.put("d6", b"6", None, [event(7), event(8)])  # d1 was never taken (another process): let go
    assert handoff.take("d1", b"1", None) is None
    assert len(handoff) == 3
    assert handoff.take("d5", b"5", None) == [event(6)]
    assert handoff.take("d6", b"6", None) == [event(7), event(8)]
    assert len(handoff) == 0


@pytest.mark.asyncio
async def test_an_ingested_body_is_parsed_once(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = []
    parse = collectors.ingest._events

    def counted(*args: Any) -> list[Event]:
        parsed.append(1)
        return parse(*args)

    monkeypatch.setattr(collectors.ingest, "_events", counted)
    async with running_app(store_url) as (client, hub):
        await hub.normalizer.stop()  # taken below, not by the background loop
        batch = [cloudevent("shop", "order.placed", [("shop:order", "1001")], id="a"),
                 cloudevent("erp", "erp.posted", [("shop:order", "1001")], id="b")]
        response = await client.post("/ingest", content=dumps(batch), headers={
            "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json",
            "traceparent": TRACEPARENT})
        assert response.status_code == 202, response.text
        assert await hub.normalizer.run_until_idle() == 1
        assert len(parsed) == 1  # by the receiver only
        stored = await _stored(hub)
        await replay(hub.store, ReplayFilter(ids=(response.json()["delivery"],), state="done"))
        assert await hub.normalizer.run_until_idle() == 1
        assert len(parsed) == 2  # a replay parses the stored body
        assert await _stored(hub) == stored == [("a", "order.placed", TRACEPARENT), ("b", "erp.posted", TRACEPARENT)]


async def _stored(hub: Any) -> list[tuple[str, str, str | None]]:
    async with hub.store.read() as conn:
        rows = await conn.execute(select(events.c.source_event_id, events.c.type, events.c.traceparent)
                                  .order_by(events.c.source_event_id))
        return [tuple(row) for row in rows]
