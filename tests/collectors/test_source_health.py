"""Per-source health in GraphQL ``sources`` and ``/metrics``: webhook-only and polled sources, healthy and failing.

The app runs its real pollers against a local upstream (real uvicorn on loopback, ``polling_server``) and
against a closed port; a webhook arrives over HTTP. Time comes from an injected clock, so lags are exact.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from collectors import json_mapping
from hub.ingest.polling import load_poll_state
from hub.store.tables import deliveries
from tests.collectors.polling_server import Upstream, iso
from tests.e2e.server import free_port
from tests.support import VIEWER_KEY, gql, moved, running_app

SECRET = "returns-hmac-secret"
SOURCES = """{ sources { name kind adapter polled lastDeliveryAt lastPollAt lastSuccessAt lastError
  consecutiveFailures circuit itemsTotal lag state } }"""
MAPPING = {"id": "id", "type": "type", "occurred_at": "updated_at",
           "refs": [{"path": "order_no", "namespace": "erp:sales_order"}]}


def sources(upstream_url: str, dead_url: str) -> list[dict[str, Any]]:
    rest = {"style": "rest", "interval_seconds": 3600, "items_path": "data.items", "version_field": "version",
            "params": {"sort": "updated_at"}}
    return [
        {"name": "erp", "kind": "erp", "adapter": "json", "secret": SECRET,
         "options": {"signature": "hmac-sha256-hex", "mapping": MAPPING,
                     "poll": {**rest, "url": upstream_url + "/erp/items"}}},
        {"name": "wms", "kind": "wms", "adapter": "json", "secret": SECRET,
         "options": {"signature": "hmac-sha256-hex", "mapping": MAPPING,
                     "poll": {**rest, "url": dead_url, "max_attempts": 1, "failure_threshold": 1,
                              "cooldown_seconds": 600}}},
        {"name": "returns", "kind": "returns", "adapter": "json", "secret": SECRET,
         "options": {"signature": "hmac-sha256-hex", "mapping": MAPPING}},
        {"name": "shop", "kind": "commerce", "adapter": "shopify", "secret": "shpss_x"},
    ]


async def until(condition: Any, what: str) -> None:
    """Wait for the app's own background tasks (poller, normalizer) to reach a state; never a fixed sleep."""
    deadline = asyncio.get_running_loop().time() + 30
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.02)


def when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=None)


@pytest.mark.asyncio
async def test_sources_health_in_graphql_and_metrics(store_url: str, upstream: Upstream) -> None:
    start = int(time.time())
    clock = {"now": float(start)}
    t0 = datetime.fromtimestamp(start, UTC).replace(tzinfo=None)
    for n in (1, 2):
        upstream.put_item({"id": f"SO-{n}", "type": "order.accepted", "order_no": f"SO-{n}", "version": 1,
                           "updated_at": iso(t0.replace(tzinfo=UTC) - timedelta(minutes=n))})
    config = {"sources": sources(upstream.url, f"http://127.0.0.1:{free_port()}/items")}
    async with running_app(store_url, clock=lambda: clock["now"], extra=config) as (client, hub):
        store = hub.started().store

        async def polled() -> bool:
            erp, wms = await load_poll_state(store, "erp"), await load_poll_state(store, "wms")
            return bool(erp and erp.last_success_at and wms and wms.consecutive_failures)

        await until(polled, "both pollers ran once")
        body = b'{"id": "RMA-1", "type": "return.requested", "order_no": "SO-1"}'
        response = await client.post("/hooks/returns", content=body, headers={
            "x-signature": json_mapping.sign(SECRET, body), "content-type": "application/json"})
        assert response.status_code == 202
        await moved(hub)
        async with store.read() as conn:
            received = (await conn.execute(select(deliveries.c.received_at)
                                           .where(deliveries.c.id == response.json()["delivery"]))).scalar_one()
        later = max(t0, received) + timedelta(seconds=120)
        clock["now"] = later.replace(tzinfo=UTC).timestamp()

        result = await gql(client, SOURCES, key=VIEWER_KEY)
        assert "errors" not in result, result
        rows = {row["name"]: row for row in result["data"]["sources"]}
        assert [row["name"] for row in result["data"]["sources"]] == ["erp", "wms", "returns", "shop"]

        erp = rows["erp"]
        assert (erp["kind"], erp["adapter"], erp["polled"], erp["state"], erp["circuit"]) == (
            "erp", "json", True, "ok", "closed")
        assert when(erp["lastPollAt"]) == when(erp["lastSuccessAt"]) == when(erp["lastDeliveryAt"]) == t0
        assert (erp["lastError"], erp["consecutiveFailures"], erp["itemsTotal"]) == (None, 0, 2)
        assert erp["lag"] == (later - t0).total_seconds()

        wms = rows["wms"]
        assert (wms["polled"], wms["state"], wms["circuit"], wms["consecutiveFailures"]) == (True, "open", "open", 1)
        assert "connection failed" in wms["lastError"] and when(wms["lastPollAt"]) == t0
        assert (wms["lastSuccessAt"], wms["lastDeliveryAt"], wms["lag"], wms["itemsTotal"]) == (None, None, None, 0)

        returns = rows["returns"]
        assert (returns["polled"], returns["state"], returns["lastPollAt"]) == (False, "webhook", None)
        assert when(returns["lastDeliveryAt"]) == received
        assert returns["lag"] == (later - received).total_seconds()

        shop = rows["shop"]
        assert (shop["adapter"], shop["state"], shop["lastDeliveryAt"], shop["lag"]) == ("shopify", "webhook",
                                                                                         None, None)

        metrics = (await client.get("/metrics")).text
        lag = f"{(later - t0).total_seconds():g}"
        for line in ('crosstrace_source_state{source="wms",state="open"} 1',
                     'crosstrace_source_state{source="wms",state="ok"} 0',
                     'crosstrace_source_state{source="erp",state="ok"} 1',
                     'crosstrace_source_state{source="shop",state="webhook"} 1',
                     'crosstrace_source_consecutive_failures{source="wms"} 1',
                     f'crosstrace_source_lag_seconds{{source="erp"}} {lag}',
                     f'crosstrace_source_seconds_since_last_poll{{source="wms"}} {lag}',
                     "# TYPE crosstrace_source_lag_seconds gauge"):
            assert line + "\n" in metrics, line
        assert 'crosstrace_source_lag_seconds{source="shop"}' not in metrics
        assert 'crosstrace_source_seconds_since_last_delivery{source="returns"}' in metrics
