"""What the webhook receiver stores: ``received_at`` on the hub's clock (the one ``create_app`` is given), as the
poller's deliveries are, so a simulated clock (``crosstrace demo``) keeps lag and delivery charts on one timeline;
and the headers without any credential (a shared API-key header is the secret itself, unlike a signature)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from hub.store.tables import deliveries
from tests.paths import FIXTURES
from tests.support import cloudevent, dumps, moved, running_app, signed_headers

SIMULATED = 1_793_000_000.0  # 2026-10-26T07:33:20Z, far from the wall clock


@pytest.mark.asyncio
async def test_received_at_comes_from_the_hubs_clock(store_url: str) -> None:
    async with running_app(store_url, clock=lambda: SIMULATED) as (client, hub):
        body = dumps(cloudevent("shop", "order.placed", [("shop:order", "W-CLOCK-1")]))
        headers = signed_headers(body, timestamp=int(SIMULATED))
        response = await client.post("/hooks/shop", content=body, headers=headers)
        assert response.status_code == 202, response.text
        await moved(hub)
        async with hub.started().store.read() as conn:
            received = (await conn.execute(select(deliveries.c.received_at)
                                           .where(deliveries.c.id == response.json()["delivery"]))).scalar_one()
    assert received == datetime(2026, 10, 26, 7, 33, 20)


@pytest.mark.asyncio
async def test_a_header_carrying_the_secret_is_not_stored(store_url: str) -> None:
    amazon = {"name": "amazon", "kind": "marketplace", "adapter": "amazon-sp", "secret": "api-key-for-amazon-hooks"}
    async with running_app(store_url, extra={"sources": [amazon]}) as (client, hub):
        body = (FIXTURES / "amazon-sp" / "OrderChangeNotification.example.json").read_bytes()
        response = await client.post("/hooks/amazon", content=body, headers={
            "content-type": "application/json", "x-crosstrace-secret": "api-key-for-amazon-hooks",
            "user-agent": "Amazon/EventBridge/ApiDestinations"})
        assert response.status_code == 202, response.text
        await moved(hub)
        async with hub.started().store.read() as conn:
            stored = (await conn.execute(select(deliveries.c.headers)
                                         .where(deliveries.c.id == response.json()["delivery"]))).scalar_one()
    assert "x-crosstrace-secret" not in stored and stored["user-agent"] == "Amazon/EventBridge/ApiDestinations"


@pytest.mark.asyncio
async def test_credentials_and_the_pollers_marker_are_not_stored_from_a_webhook(store_url: str) -> None:
    """Webhook headers are not signed: a sender must not be able to pass a delivery off as polled."""
    async with running_app(store_url) as (client, hub):
        body = dumps(cloudevent("shop", "order.placed", [("shop:order", "W-HEADERS-1")]))
        headers = {**signed_headers(body), "x-crosstrace-polled": "stripe-payout-detail",
                   "cookie": "session=abc", "x-request-id": "req-1"}
        response = await client.post("/hooks/shop", content=body, headers=headers)
        assert response.status_code == 202, response.text
        await moved(hub)
        async with hub.started().store.read() as conn:
            stored = (await conn.execute(select(deliveries.c.headers)
                                         .where(deliveries.c.id == response.json()["delivery"]))).scalar_one()
    assert not {"x-crosstrace-polled", "cookie"} & set(stored) and stored["x-request-id"] == "req-1"
