"""The exception relay reads other processes' messages; one it cannot read is logged and dropped, never raised,
and the next good message still reaches the local subscribers."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from hub.exceptions.broadcast import Broadcaster
from hub.exceptions.relay import Relay

GOOD = {"node": "other", "changes": [{"exception_id": "exc_1", "action": "opened", "status": "open", "type": "late",
                                      "severity": "warning", "tx_id": "tx_1", "at": "2026-12-06T10:00:00+00:00"}]}


@pytest.mark.asyncio
async def test_an_unreadable_message_is_dropped_and_the_next_one_read(caplog: pytest.LogCaptureFixture) -> None:
    broadcaster = Broadcaster()
    relay = Relay(store=None, broadcaster=broadcaster, node="this")  # type: ignore[arg-type]  # never started
    events = broadcaster.subscribe()
    first = asyncio.ensure_future(events.__anext__())
    await asyncio.sleep(0)  # the subscription's queue is in place
    with caplog.at_level(logging.WARNING, logger="hub.exceptions.relay"):
        for bad in ["not json", "[]", json.dumps({"node": "other"}), json.dumps({**GOOD, "changes": [{}]}),
                    json.dumps({"node": "other", "changes": [{**GOOD["changes"][0], "at": "yesterday"}]})]:
            relay._received(bad)
    assert len([r for r in caplog.records if "unreadable message" in r.getMessage()]) == 5
    assert not first.done()  # nothing reached the subscriber
    relay._received(json.dumps(GOOD))
    change = await asyncio.wait_for(first, 1)
    assert change.exception_id == "exc_1" and change.tx_id == "tx_1"
    await events.aclose()
