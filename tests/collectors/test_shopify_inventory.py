"""Shopify inventory levels under real SKUs and location names, on Shopify's published InventoryLevel, InventoryItem
and Location examples (tests/fixtures/shopify): resolved by ``options`` mappings, by cached Admin API lookups
against a local Shopify (real uvicorn on loopback), and — unresolved — said so in ``sources { unresolved }``;
end to end, a signed ``inventory_levels/update`` webhook compared with the ERP's position for the same SKU and
location."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from collectors import parser_for, shopify
from collectors.shopify_catalog import ShopifyLookups
from hub.config import parse
from hub.errors import ConfigError
from hub.model import RELATED, Delivery, Line, Ref
from tests.collectors.polling_server import Upstream
from tests.hub.test_exception_rules import T0, FakeClock
from tests.hub.test_stock import line, listed, move, snapshot
from tests.paths import FIXTURES
from tests.support import ERP_SECRET, OPERATOR_KEY, VIEWER_KEY, gql, running_app
from tests.web.app import login

SECRET = "shpss_inventory_app_secret"
LEVELS = json.loads((FIXTURES / "shopify" / "inventory_levels.json").read_text())["inventory_levels"]
ITEMS = json.loads((FIXTURES / "shopify" / "inventory_items.json").read_text())["inventory_items"]
LOCATIONS = json.loads((FIXTURES / "shopify" / "locations.json").read_text())["locations"]
PINK_AT_FIFTH = LEVELS[2]  # item 808950810 (SKU IPOD2008PINK) at 487838322 ("Fifth Avenue AppleStore"): 9
GREEN_AT_905 = LEVELS[3]  # item 39072856 (IPOD2008GREEN) at 905684977, a location locations.json does not list


def shop(**options: Any) -> dict[str, Any]:
    return {"name": "shop", "kind": "commerce", "adapter": "shopify", "secret": SECRET, "options": options}


def polled(url: str, **options: Any) -> dict[str, Any]:
    return shop(poll={"style": "shopify-orders", "url": url, "token": "shpat_lookup_token", "interval_seconds": 3600},
                **options)


def level_delivery(level: dict[str, Any], n: int = 1) -> Delivery:
    body = json.dumps(level).encode()
    return Delivery(id=f"d{n}", source="shop", received_at=datetime(2026, 1, 1), body=body,
                    headers={"x-shopify-topic": "inventory_levels/update", "x-shopify-event-id": f"e-{n}",
                             "x-shopify-hmac-sha256": shopify.sign(SECRET, body)})


# --- options mappings ---------------------------------------------------------------------------------------------


def test_options_name_the_item_and_location_as_the_other_systems_do() -> None:
    config = parse({"sources": [shop(inventory_items={"808950810": "IPOD2008PINK"},
                                     locations={"487838322": "WH-NYC"})]}, {})
    (event,) = parser_for(config)(level_delivery(PINK_AT_FIFTH))
    assert event.type == "inventory.snapshot"
    assert event.lines == [Line("IPOD2008PINK", Decimal(9), "WH-NYC", "available")]
    assert event.refs == [Ref("shop:inventory_item", "808950810", RELATED), Ref("shop:location", "487838322", RELATED)]


def test_what_no_mapping_names_keeps_shopifys_id_and_says_so() -> None:
    config = parse({"sources": [shop(inventory_items={"808950810": "IPOD2008PINK"})]}, {})
    (event,) = parser_for(config)(level_delivery(PINK_AT_FIFTH))
    assert event.lines == [Line("IPOD2008PINK", Decimal(9), "487838322", "available")]
    assert Ref("shop:unresolved_location", "487838322", RELATED) in event.refs
    assert not any(r.namespace == "shop:unresolved_inventory_item" for r in event.refs)


@pytest.mark.parametrize("bad", [{"inventory_items": ["808950810"]}, {"locations": {"487838322": ""}},
                                 {"inventory_items": {"808950810": 7}}])
def test_a_bad_mapping_fails_at_start_naming_the_key(bad: dict[str, Any]) -> None:
    config = parse({"sources": [shop(**bad)]}, {})
    with pytest.raises(ConfigError, match=f"source 'shop': options.{next(iter(bad))} must map Shopify ids"):
        shopify.check_options(config.sources["shop"])


# --- cached Admin API lookups -------------------------------------------------------------------------------------


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_lookups_ask_the_admin_api_once_and_cache_what_it_answers(upstream: Upstream) -> None:
    upstream.inventory_items, upstream.locations = ITEMS, LOCATIONS
    config = parse({"sources": [polled(upstream.url)]}, {})
    clock = Monotonic()
    async with httpx.AsyncClient() as client:
        lookups = ShopifyLookups(config, client, clock=clock, retry_seconds=60)
        parse_one = parser_for(config, client=client)
        batch = [level_delivery(level, n) for n, level in enumerate(LEVELS)]
        await lookups.prepare(batch)
        asked = [(q.get("ids"), q.get("limit")) for api, q in upstream.requests if api == "shopify"]
        assert asked == [("39072856,808950810", "250"), (None, "250")]  # one items request, one locations request
        assert upstream.tokens == ["shpat_lookup_token", "shpat_lookup_token"]
        resolver = lookups.resolver("shop")
        assert resolver is not None
        assert (resolver.sku("808950810"), resolver.location("487838322")) == ("IPOD2008PINK",
                                                                               "Fifth Avenue AppleStore")
        assert resolver.location("905684977") is None  # not a location the shop lists

        await lookups.prepare(batch)  # all items cached; the unknown location is not asked again for a minute
        assert len(upstream.requests) == 2
        clock.now += 61
        await lookups.prepare([level_delivery(GREEN_AT_905)])
        assert [q for _, q in upstream.requests[2:]] == [{"limit": "250"}]  # only the location, again

        await parse_one.prepare(batch)  # the normalizer's parser: its own lookups, the same requests
        (event,) = parse_one(level_delivery(PINK_AT_FIFTH))
        assert event.lines == [Line("IPOD2008PINK", Decimal(9), "Fifth Avenue AppleStore", "available")]
        (other,) = parse_one(level_delivery(GREEN_AT_905))
        assert other.lines == [Line("IPOD2008GREEN", Decimal(3), "905684977", "available")]
        assert Ref("shop:unresolved_location", "905684977", RELATED) in other.refs


@pytest.mark.asyncio
async def test_a_failing_admin_api_leaves_ids_unresolved_and_is_asked_again_later(upstream: Upstream) -> None:
    upstream.inventory_items, upstream.locations = ITEMS, LOCATIONS
    upstream.faults["shopify"] = ["500", "500"]
    config = parse({"sources": [polled(upstream.url)]}, {})
    clock = Monotonic()
    async with httpx.AsyncClient() as client:
        lookups = ShopifyLookups(config, client, clock=clock, retry_seconds=60)
        await lookups.prepare([level_delivery(PINK_AT_FIFTH)])
        resolver = lookups.resolver("shop")
        assert resolver is not None and resolver.sku("808950810") is None
        await lookups.prepare([level_delivery(PINK_AT_FIFTH)])
        assert len(upstream.requests) == 2  # held back after the failure
        clock.now += 61
        await lookups.prepare([level_delivery(PINK_AT_FIFTH)])
        assert (resolver.sku("808950810"), resolver.location("487838322")) == ("IPOD2008PINK",
                                                                               "Fifth Avenue AppleStore")


# --- end to end over HTTP -----------------------------------------------------------------------------------------

SOURCES_QUERY = "{ sources { name unresolved } }"


async def level_hook(client: httpx.AsyncClient, hub: Any, source: str, level: dict[str, Any], event_id: str) -> None:
    body = json.dumps(level).encode()
    response = await client.post(f"/hooks/{source}", content=body, headers={
        "content-type": "application/json", "x-shopify-topic": "inventory_levels/update",
        "x-shopify-event-id": event_id, "x-shopify-hmac-sha256": shopify.sign(SECRET, body)})
    assert response.status_code == 202, response.text
    await hub.normalizer.run_until_idle()


@pytest.mark.asyncio
async def test_a_webhook_level_compares_with_the_erp_and_an_unresolved_one_shows_in_sources(
        store_url: str, upstream: Upstream) -> None:
    upstream.inventory_items, upstream.locations = ITEMS, LOCATIONS
    clock = FakeClock()
    sources = [{"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": ERP_SECRET},
               polled(upstream.url),
               {**shop(), "name": "outlet"}]  # a second shop: no mapping, no token
    async with running_app(store_url, clock=clock, extra={"sources": sources, "stock": {"settle_minutes": 15}}
                           ) as (client, hub):
        await move(client, hub, clock, 0, snapshot("erp", 0, line("IPOD2008PINK", "Fifth Avenue AppleStore", 7)))
        await level_hook(client, hub, "shop", PINK_AT_FIFTH, "e-1")  # Shopify says 9 at 487838322
        await level_hook(client, hub, "outlet", {**PINK_AT_FIFTH, "location_id": 905684977}, "e-2")

        clock.now = T0 + timedelta(minutes=16)
        await hub.evaluator.tick(clock.naive())
        [divergence] = await listed(client, type=["stock_divergence"])
        assert divergence["subject"] == "IPOD2008PINK@Fifth Avenue AppleStore/shop"
        assert divergence["evidence"]["states"]["available"]["difference"] == 2

        health = {row["name"]: row["unresolved"] for row in
                  (await gql(client, SOURCES_QUERY, key=VIEWER_KEY))["data"]["sources"]}
        assert health == {"erp": [], "shop": [], "outlet": ["inventory_item 808950810", "location 905684977"]}
        metrics = (await client.get("/metrics")).text
        assert 'crosstrace_source_unresolved{source="outlet"} 2\n' in metrics
        assert (await login(client, OPERATOR_KEY, "/dashboard")).status_code == 303
        assert "Unresolved ids: inventory_item 808950810, location 905684977" in (await client.get("/dashboard")).text


    # The outlet's mappings are configured and the hub restarted: once an id's newest level is resolved, it no
    # longer counts as unresolved.
    sources[2] = {**shop(inventory_items={"808950810": "IPOD2008PINK"}, locations={"905684977": "WH-OUTLET"}),
                  "name": "outlet"}
    async with running_app(store_url, clock=clock, extra={"sources": sources}) as (client, hub):
        await level_hook(client, hub, "outlet", {**PINK_AT_FIFTH, "location_id": 905684977,
                                                 "updated_at": "2018-05-08T10:00:00-04:00"}, "e-3")
        health = {row["name"]: row["unresolved"] for row in
                  (await gql(client, SOURCES_QUERY, key=VIEWER_KEY))["data"]["sources"]}
        assert health["outlet"] == []
