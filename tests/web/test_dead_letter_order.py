"""A dead letter whose raw body cites a known ref lands on that order: its exception has the transaction and shows
on the trace, and its times are the hub's clock (real HTTP over ASGITransport, on SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.support import dumps, gql, signed_headers
from tests.web.app import deliver_story, web_app

DEAD = '{ exceptions(first: 10, filter: {type: ["dead_letter"]}) { nodes { subject transactionId openedAt } } }'


@pytest.mark.asyncio
async def test_a_dead_letter_citing_an_order_lands_on_it_at_the_hubs_time(store_url: str) -> None:
    frozen = time.time() - 120  # the hub's clock: two minutes behind the wall, standing still
    async with web_app(store_url, clock=lambda: frozen) as (client, hub):
        await deliver_story(client, hub)  # its own dead letter ({"hello": …}) cites nothing known
        drifted = dumps({"eventId": "7a8d", "eventType": "PICKED", "order": {"reference": "SO-1042"}, "qty": 2})
        assert (await client.post("/hooks/wms", content=drifted, headers=signed_headers(drifted))).status_code == 202
        assert hub.normalizer is not None
        await hub.normalizer.run_until_idle()

        order = (await client.get("/search", params={"ref": "W1001"})).headers["location"].rsplit("/", 1)[1]
        answer = await gql(client, DEAD)
        assert "errors" not in answer, answer
        nodes = answer["data"]["exceptions"]["nodes"]
        assert sorted(n["transactionId"] or "" for n in nodes) == ["", order]
        opened = [datetime.fromisoformat(n["openedAt"]) for n in nodes]
        assert all(abs(at.timestamp() - frozen) < 1 for at in opened), (opened, frozen)  # not the wall clock

        trace = await client.get(f"/t/{order}")
        linked = next(n["subject"] for n in nodes if n["transactionId"])
        assert "dead_letter" in trace.text and f"delivery {linked} from wms could not be parsed" in trace.text
