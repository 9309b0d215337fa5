"""A ``json`` source fed both ways: webhooks and the generic REST poller (``style = "rest"``) share one mapping,
and an event that arrives by both is stored once (dedup on source + event id), whichever comes first. An API
that lists objects (not events) maps ``id = ["id", "version"]``, so each version is its own event.

The upstream is a real uvicorn on loopback (``polling_server``) serving the ERP API's ``{"data": {"items"}}``
pages; the app runs its own poller and normalizer.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from collectors import json_mapping
from hub.ingest.polling import PollState, load_poll_state
from hub.store import Store
from hub.store.tables import deliveries, events
from tests.collectors.polling_server import Upstream, iso
from tests.support import gql, running_app

SECRET = "erp-hmac-secret"
ERP = {"name": "erp", "kind": "erp", "adapter": "json", "secret": SECRET,
       "options": {"signature": "hmac-sha256-hex",
                   "mapping": {"id": ["id", "version"], "type": "status", "occurred_at": "updated_at",
                               "type_map": {"RELEASED": "order.accepted", "POSTED": "erp.posted"},
                               "refs": [{"path": "id", "namespace": "erp:sales_order"},
                                        {"path": "web_order", "namespace": "shop:order"}],
                               "lines": {"path": "lines", "sku": "item", "qty": "qty"}}}}
TRACE = "query($ref: String!) { transaction(ref: $ref) { events { source type } } }"


def item(n: int, updated: datetime, version: int = 1, status: str = "RELEASED") -> dict:
    return {"id": f"SO-{n}", "status": status, "web_order": str(5000 + n), "version": version,
            "updated_at": iso(updated), "lines": [{"item": "SKU-1", "qty": n}]}


async def poll_done(store: Store) -> PollState:
    """The poller's first run, once it has committed."""
    deadline = time.monotonic() + 30
    while not ((state := await load_poll_state(store, "erp")) and state.last_success_at):
        assert time.monotonic() < deadline, "the poller did not finish a run"
        await asyncio.sleep(0.02)
    return state


@pytest.mark.asyncio
@pytest.mark.parametrize("first", ["either", "webhook", "poller"])
async def test_webhook_and_poll_of_one_json_source_store_each_event_once(store_url: str, upstream: Upstream,
                                                                         first: str) -> None:
    """``either``: the webhooks race the poller's first run; ``webhook`` holds the poller's request until they
    are stored; ``poller`` sends them once its run has committed. Each order stores every event once."""
    now = datetime.now(UTC)
    if first == "webhook":
        upstream.block["rest"] = 1
    for n in (1, 3):
        upstream.put_item(item(n, now - timedelta(minutes=10 - n)))
    upstream.put_item(item(2, now - timedelta(minutes=5), version=2, status="POSTED"))  # the API lists the latest
    poll = {"style": "rest", "url": upstream.url + "/erp/items", "interval_seconds": 3600,
            "items_path": "data.items", "version_field": "version", "params": {"sort": "updated_at"}}
    source = {**ERP, "options": {**ERP["options"], "poll": poll}}
    async with running_app(store_url, extra={"sources": [source]}) as (client, hub):
        store = hub.started().store
        if first == "poller":
            await poll_done(store)
        elif first == "webhook":  # the poller's run has started and waits on its first page
            await asyncio.wait_for(upstream.blocked.wait(), 30)
        # Webhooks for both versions of SO-2 (the poller reads version 2 too) and one the API does not list.
        answers = []
        for payload in (item(2, now - timedelta(minutes=8)), item(2, now - timedelta(minutes=5), 2, "POSTED"),
                        item(9, now)):
            body = json.dumps(payload).encode()
            response = await client.post("/hooks/erp", content=body, headers={
                "x-signature": json_mapping.sign(SECRET, body), "content-type": "application/json"})
            # 200 when the poller stored that very version first: its dedup key ("SO-2@2") is the same.
            assert response.status_code in (200, 202), response.text
            answers.append(response.status_code)
        upstream.release.set()
        state = await poll_done(store)
        await hub.normalizer.run_until_idle()

        async with store.read() as conn:
            stored = sorted(tuple(r) for r in await conn.execute(
                select(events.c.source_event_id, events.c.type).where(events.c.source == "erp")))
            dead = (await conn.execute(select(func.count()).select_from(deliveries)
                                       .where(deliveries.c.state == "dead"))).scalar_one()
        assert stored == [("SO-1@1", "order.accepted"), ("SO-2@1", "order.accepted"), ("SO-2@2", "erp.posted"),
                          ("SO-3@1", "order.accepted"), ("SO-9@1", "order.accepted")]
        # The poller counts the rows it inserted: SO-2@2 is its own only when it got there before the webhook.
        assert dead == 0 and state.items_total == 2 + (answers[1] == 200)
        assert answers == {"either": answers, "webhook": [202, 202, 202], "poller": [202, 200, 202]}[first]
        tx = (await gql(client, TRACE, ref="shop:order:5002"))["data"]["transaction"]
        assert tx["events"] == [{"source": "erp", "type": "order.accepted"}, {"source": "erp", "type": "erp.posted"}]
