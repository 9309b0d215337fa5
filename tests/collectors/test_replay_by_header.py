"""A captured delivery resent with new ids in headers the signature does not cover is a repeat, never new events.

Over real HTTP (ASGI) with each vendor's signing scheme, on SQLite and PostgreSQL: Shopify signs only the body,
so a body resent under a new ``X-Shopify-Event-Id`` is the first delivery again; ``X-Shopify-Triggered-At``
older than Shopify's retry window is refused while Shopify's own retries pass; every adapter treats a resent
body with rewritten id headers as a repeat (200 and the first delivery's id) or refuses it (401 where the id
is signed). Amazon's dedup key includes the notification type: its published examples share one id.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from collectors import shopify
from hub.runtime import Hub
from hub.store.tables import deliveries, events
from tests.collectors.test_receiver_adapters import SOURCES, _cases
from tests.paths import FIXTURES
from tests.support import moved, running_app

NOW = 1_793_000_000  # 2026-10-26T07:33:20Z: the hub's clock in these tests, far from the wall clock
SHOP_SECRET = "shpss_app_secret"  # the "shop" source of SOURCES
ORDER = (FIXTURES / "shopify" / "order.json").read_bytes()
ORDER_BODY = json.dumps(json.loads(ORDER)["order"]).encode()
JSON_TYPE = {"content-type": "application/json"}


def _iso(epoch: float) -> str:
    # Shopify's format, nanoseconds included: 2023-03-29T18:00:27.877041743Z
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "877041743Z"


def shopify_headers(topic: str, event_id: str, body: bytes = ORDER_BODY, triggered: float | None = NOW,
                    **extra: str) -> dict[str, str]:
    headers = {"x-shopify-topic": topic, "x-shopify-hmac-sha256": shopify.sign(SHOP_SECRET, body),
               "x-shopify-event-id": event_id, "x-shopify-webhook-id": f"wh-{event_id}",
               "x-shopify-shop-domain": "demo.myshopify.com", **JSON_TYPE, **extra}
    if triggered is not None:
        headers["x-shopify-triggered-at"] = _iso(triggered)
    return headers


async def stored_events(hub: Hub, source: str) -> list[tuple[str, str]]:
    await hub.normalizer.run_until_idle()
    async with hub.started().store.read() as conn:
        rows = (await conn.execute(select(events.c.type, events.c.delivery_id).where(events.c.source == source)
                                   .order_by(events.c.type))).all()
    return [(row.type, row.delivery_id) for row in rows]


async def delivery_count(hub: Hub, source: str) -> int:
    await moved(hub)
    async with hub.started().store.read() as conn:
        return (await conn.execute(select(func.count()).select_from(deliveries)
                                   .where(deliveries.c.source == source))).scalar_one()


@pytest.mark.asyncio
async def test_a_shopify_body_resent_with_new_event_ids_is_one_delivery_and_one_event(store_url: str) -> None:
    async with running_app(store_url, clock=lambda: NOW, extra={"sources": SOURCES}) as (client, hub):
        answers = [await client.post("/hooks/shop", content=ORDER_BODY, headers=shopify_headers("orders/create", eid))
                   for eid in ("evt-original", "evt-replayed-1", "evt-replayed-2")]
        assert [a.status_code for a in answers] == [202, 200, 200], answers[0].text
        assert len({a.json()["delivery"] for a in answers}) == 1
        assert await stored_events(hub, "shop") == [("order.placed", answers[0].json()["delivery"])]
        assert await delivery_count(hub, "shop") == 1


@pytest.mark.asyncio
async def test_one_order_body_under_two_topics_is_two_deliveries(store_url: str) -> None:
    """Shopify sends the same order body to ``orders/create`` and ``orders/paid``: two facts, not a repeat."""
    async with running_app(store_url, clock=lambda: NOW, extra={"sources": SOURCES}) as (client, hub):
        created = await client.post("/hooks/shop", content=ORDER_BODY, headers=shopify_headers("orders/create", "e-1"))
        paid = await client.post("/hooks/shop", content=ORDER_BODY, headers=shopify_headers("orders/paid", "e-2"))
        assert (created.status_code, paid.status_code) == (202, 202), paid.text
        assert [t for t, _ in await stored_events(hub, "shop")] == ["order.placed", "payment.captured"]


@pytest.mark.asyncio
async def test_shopify_triggered_at_outside_the_window_is_refused_and_shopifys_retries_pass(store_url: str) -> None:
    """Shopify retries for 4 hours with the original ``X-Shopify-Triggered-At``: those pass, older ones do not."""
    async with running_app(store_url, clock=lambda: NOW, extra={"sources": SOURCES}) as (client, hub):
        async def post(triggered: float | None, topic: str = "orders/create", **extra: str) -> httpx.Response:
            return await client.post("/hooks/shop", content=ORDER_BODY,
                                     headers=shopify_headers(topic, "e-1", triggered=triggered, **extra))

        stale = NOW - shopify.RETRY_WINDOW_SECONDS - 301
        odd = [await post(None, **{"x-shopify-triggered-at": value})
               for value in ("x", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "1793000000")]
        for refused in (await post(stale), await post(NOW + 301), *odd):
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["code"] and "Triggered-At" in refused.json()["error"]["message"]
        assert await delivery_count(hub, "shop") == 0
        first = await post(NOW - 3 * 3600)  # Shopify's retry three hours after the event: still accepted
        again = await post(NOW - 3 * 3600)
        assert (first.status_code, again.status_code) == (202, 200), first.text
        assert (await post(NOW - 60, topic="orders/updated")).status_code == 202
        assert (await post(None, topic="orders/paid")).status_code == 202  # without the header (older versions)
        assert await delivery_count(hub, "shop") == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("adapter", list(_cases()))
async def test_every_adapter_counts_a_body_resent_with_new_id_headers_as_a_repeat(store_url: str,
                                                                                  adapter: str) -> None:
    """The review each adapter's docstring writes down, checked: a new id in any header is a repeat or a 401."""
    case = _cases()[adapter]
    async with running_app(store_url, extra={"sources": SOURCES}) as (client, hub):
        now = int(time.time())
        url = f"/hooks/{case.source}"
        first = await client.post(url, content=case.body, headers={**case.good(now), **JSON_TYPE})
        assert first.status_code == 202, first.text
        for n in range(2):
            rewritten = {**case.good(now), **JSON_TYPE, "x-shopify-event-id": f"replayed-{n}",
                         "x-shopify-webhook-id": f"replayed-wh-{n}", "webhook-id": f"msg_replayed_{n}",
                         "idempotency-key": f"replayed-{n}"}
            again = await client.post(url, content=case.body, headers=rewritten)
            assert again.status_code in (200, 401), again.text
            if again.status_code == 200:
                assert again.json() == first.json()
        assert [t for t, _ in await stored_events(hub, case.source)] == [case.event_type]
        assert await delivery_count(hub, case.source) == 1


AMAZON_EXAMPLES = ("OrderChangeNotification", "FulfillmentOrderStatusNotification",
                   "ItemInventoryEventChangeNotification", "TransactionUpdateNotification")


@pytest.mark.asyncio
async def test_amazon_notifications_of_different_types_sharing_an_id_are_all_stored(store_url: str) -> None:
    """Amazon's published examples all carry NotificationId d0e9e693-…: each type is its own notification."""
    headers = {"x-crosstrace-secret": "eb-connection-key", **JSON_TYPE}
    async with running_app(store_url, extra={"sources": SOURCES}) as (client, hub):
        bodies = [(FIXTURES / "amazon-sp" / f"{name}.example.json").read_bytes() for name in AMAZON_EXAMPLES]
        answers = [await client.post("/hooks/amazon", content=body, headers=headers) for body in bodies]
        assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
        assert len({a.json()["delivery"] for a in answers}) == 4
        resent = await client.post("/hooks/amazon", content=bodies[1], headers=headers)
        assert (resent.status_code, resent.json()) == (200, answers[1].json())
        recorded = await stored_events(hub, "amazon")
        assert {delivery for _, delivery in recorded} == {a.json()["delivery"] for a in answers}
        assert await delivery_count(hub, "amazon") == 4
