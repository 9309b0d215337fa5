"""Stock from real signed webhooks, on SQLite and PostgreSQL: Shopify's ``inventory_levels/update`` (Shopify's
own fixture, HMAC-signed) becomes the storefront's position and Square's ``inventory.count.updated`` (the shape
of Square's reference example, signed over the notification URL and body) the store's; each is compared with
the ERP's and diverges or agrees.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from collectors import shopify, square
from hub.stock import queries as stock
from tests.hub.test_exception_rules import T0, FakeClock
from tests.hub.test_stock import line, listed, move, snapshot
from tests.paths import FIXTURES
from tests.support import ERP_SECRET, running_app

SHOPIFY_SECRET = "shpss_app-secret-for-tests"
SOURCES = [{"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": ERP_SECRET},
           {"name": "shopify", "kind": "commerce", "adapter": "shopify", "secret": SHOPIFY_SECRET}]
LEVEL = json.loads((FIXTURES / "shopify" / "inventory_level.json").read_text())["inventory_level"]
SKU, LOCATION = str(LEVEL["inventory_item_id"]), str(LEVEL["location_id"])
SQUARE_KEY, SQUARE_URL = "sq0wsk_signature-key-for-tests", "https://hub.example.com/hooks/square"
SQUARE_SOURCES = [SOURCES[0], {"name": "square", "kind": "pos", "adapter": "square", "secret": SQUARE_KEY,
                               "options": {"notification_url": SQUARE_URL}}]
ITEM, STORE = "FGQ5JJWT2PYTHF35CKZ2DSKP", "YYQR03DGCTXA4"


async def shopify_update(client: Any, hub: Any, available: int, event_id: str, updated_at: str) -> None:
    body = json.dumps({**LEVEL, "available": available, "updated_at": updated_at}).encode()
    response = await client.post("/hooks/shopify", content=body, headers={
        "content-type": "application/json", "x-shopify-topic": "inventory_levels/update",
        "x-shopify-hmac-sha256": shopify.sign(SHOPIFY_SECRET, body), "x-shopify-webhook-id": event_id,
        "x-shopify-event-id": event_id, "x-shopify-shop-domain": "demo.myshopify.com"})
    assert response.status_code == 202, response.text
    await hub.normalizer.run_until_idle()


@pytest.mark.asyncio
async def test_a_shopify_inventory_level_is_a_position_that_diverges_and_agrees(store_url: str) -> None:
    clock = FakeClock()
    extra = {"sources": SOURCES, "stock": {"settle_minutes": 15}}
    async with running_app(store_url, clock=clock, extra=extra) as (client, hub):
        await move(client, hub, clock, 0, snapshot("erp", 0, line(SKU, LOCATION, 4)))
        await shopify_update(client, hub, LEVEL["available"], "evt-1", LEVEL["updated_at"])  # the fixture says 6
        async with hub.store.read() as conn:
            shown = {p.source: {q.state: q.qty for q in p.quantities}
                     for p in await stock.positions(conn, SKU, LOCATION, settings=hub.config.stock)}
        assert shown == {"erp": {"on_hand": 4, "available": 4}, "shopify": {"available": 6}}

        clock.now = T0 + timedelta(minutes=16)
        await hub.evaluator.tick(clock.naive())
        [stale] = await listed(client, type=["stock_divergence"])
        assert (stale["system"], stale["subject"]) == ("shopify", f"{SKU}@{LOCATION}/shopify")
        assert stale["evidence"]["states"]["available"] == {"source": 6, "authoritative": 4, "in_flight": 0,
                                                            "difference": 2}

        await shopify_update(client, hub, 4, "evt-2", "2018-05-07T16:05:00-04:00")
        [agreed] = await listed(client, type=["stock_divergence"])
        assert (agreed["id"], agreed["status"]) == (stale["id"], "resolved")


async def square_counts(client: Any, hub: Any, event_id: str, at: str, **by_state: str) -> None:
    counts = [{"calculated_at": at, "catalog_object_id": ITEM, "catalog_object_type": "ITEM_VARIATION",
               "location_id": STORE, "quantity": quantity, "state": state} for state, quantity in by_state.items()]
    body = json.dumps({"merchant_id": "5S9MXCS9Y99KK", "type": "inventory.count.updated", "event_id": event_id,
                       "created_at": at, "data": {"type": "inventory", "id": event_id,
                                                  "object": {"inventory_counts": counts}}}).encode()
    response = await client.post("/hooks/square", content=body, headers={
        "content-type": "application/json",
        "x-square-hmacsha256-signature": square.sign(SQUARE_KEY, SQUARE_URL, body)})
    assert response.status_code == 202, response.text
    await hub.normalizer.run_until_idle()


@pytest.mark.asyncio
async def test_a_square_count_is_the_stores_position_with_waste_kept_apart(store_url: str) -> None:
    clock = FakeClock()
    extra = {"sources": SQUARE_SOURCES, "stock": {"settle_minutes": 15}}
    async with running_app(store_url, clock=clock, extra=extra) as (client, hub):
        await move(client, hub, clock, 0, snapshot("erp", 0, line(ITEM, STORE, 9)))
        await square_counts(client, hub, "sq-1", "2026-11-02T09:01:00Z", IN_STOCK="7", WASTE="2")
        async with hub.store.read() as conn:
            shown = {p.source: {q.state: q.qty for q in p.quantities}
                     for p in await stock.positions(conn, ITEM, STORE, settings=hub.config.stock)}
        assert shown["square"] == {"on_hand": 7, "damaged": 2}

        clock.now = T0 + timedelta(minutes=16)
        await hub.evaluator.tick(clock.naive())
        [apart] = await listed(client, type=["stock_divergence"])
        assert (apart["system"], apart["subject"]) == ("square", f"{ITEM}@{STORE}/square")
        assert apart["evidence"]["states"]["on_hand"]["difference"] == -2

        await square_counts(client, hub, "sq-2", "2026-11-02T09:20:00Z", IN_STOCK="9")
        [agreed] = await listed(client, type=["stock_divergence"])
        assert (agreed["id"], agreed["status"]) == (apart["id"], "resolved")
