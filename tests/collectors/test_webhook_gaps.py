"""Webhook-gap reconciliation: a Shopify and a Stripe source that receive webhooks AND poll their APIs.

What the webhooks delivered is not stored again, what they missed is filled in by the poll, and a webhook
arriving after the poll already stored its fact is acknowledged as a repeat (200): every fact is one
event, and only such a late webhook counts as a repeated delivery (the poll's own re-reads are silent).
Upstream: a real uvicorn on loopback (``polling_server``) serving Shopify's ``orders.json`` and Stripe's
``/v1/events`` in their documented shapes; the app runs its own poller and normalizer; webhooks are
signed the vendors' way.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from collectors import shopify, stripe
from hub.ingest.polling import load_poll_state
from hub.runtime import Hub
from hub.store.tables import deliveries, events
from tests.collectors.polling_server import Upstream, shopify_order, shopify_time, stripe_event
from tests.paths import FIXTURES
from tests.support import gql, running_app

SHOP_SECRET = "shpss_reconcile_secret"
STRIPE_SECRET = "whsec_reconcile_secret"
TRACE = "query($ref: String!) { transaction(ref: $ref) { events { source type } } }"


def sources(url: str) -> list[dict]:
    poll = {"url": url, "interval_seconds": 3600, "page_size": 2}
    return [
        {"name": "shop", "kind": "commerce", "adapter": "shopify", "secret": SHOP_SECRET,
         "options": {"count_payments": False, "poll": {"style": "shopify-orders", **poll}}},
        {"name": "stripe", "kind": "payment", "adapter": "stripe", "secret": STRIPE_SECRET,
         "refs": {"data.object.metadata.order_id": "shop:order"},
         "options": {"poll": {"style": "stripe-events", **poll}}},
    ]


async def shop_hook(client: httpx.AsyncClient, topic: str, order: dict, event_id: str) -> int:
    body = json.dumps(order).encode()
    response = await client.post("/hooks/shop", content=body, headers={
        "content-type": "application/json", "x-shopify-topic": topic, "x-shopify-event-id": event_id,
        "x-shopify-webhook-id": f"wh-{event_id}", "x-shopify-hmac-sha256": shopify.sign(SHOP_SECRET, body)})
    return response.status_code


async def stripe_hook(client: httpx.AsyncClient, event: dict) -> int:
    body = json.dumps(event).encode()
    response = await client.post("/hooks/stripe", content=body, headers={
        "content-type": "application/json", "stripe-signature": stripe.sign(STRIPE_SECRET, body, int(time.time()))})
    return response.status_code


async def polled(hub: Hub, name: str) -> None:
    store = hub.started().store
    deadline = time.monotonic() + 30
    while not ((state := await load_poll_state(store, name)) and state.last_success_at):
        assert time.monotonic() < deadline, f"the {name} poller did not finish a run"
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_polls_fill_missed_webhooks_and_nothing_is_stored_twice(store_url: str, upstream: Upstream) -> None:
    now = datetime.now(UTC)
    created = shopify_time(now - timedelta(hours=1))
    orders = {n: shopify_order(n, now - timedelta(minutes=30 - n)) for n in range(4)}
    for order in orders.values():
        order["created_at"] = created
    orders[2].update(cancelled_at=shopify_time(now - timedelta(minutes=28)), cancel_reason="customer")
    orders[3]["financial_status"] = "partially_refunded"  # paid, then partly refunded: its refunds[] carry it
    refund = {**json.loads((FIXTURES / "shopify" / "refund.json").read_text())["refund"], "order_id": orders[3]["id"]}
    orders[3]["refunds"] = [refund]
    for order in orders.values():
        upstream.put_order(order)
    payments = {n: stripe_event(n, int(now.timestamp()) - 600 + n) for n in range(3)}
    for event in payments.values():
        upstream.add_event(event)
    upstream.block["shopify"] = upstream.block["stripe"] = 1  # hold both polls until the early webhooks are in

    async with running_app(store_url, extra={"sources": sources(upstream.url)}) as (client, hub):
        await asyncio.wait_for(upstream.blocked.wait(), 30)
        # Delivered before the poll: order 0's creation and current version, order 2's creation (its
        # cancellation webhook is missed), payment 0. Missed entirely: order 1, payment 1.
        created_at_webhook = copy.deepcopy(orders[0])
        assert await shop_hook(client, "orders/create", created_at_webhook, "e-0-create") == 202
        assert await shop_hook(client, "orders/updated", orders[0], "e-0-update") == 202
        assert await shop_hook(client, "orders/create", orders[2], "e-2-create") == 202
        assert await shop_hook(client, "fulfillments/create", orders[0]["fulfillments"][0], "e-0-ship") == 202
        assert await stripe_hook(client, payments[0]) == 202
        upstream.release.set()
        await polled(hub, "shop")
        await polled(hub, "stripe")
        await hub.normalizer.run_until_idle()
        # Delivered after the poll stored the same facts: acknowledged as repeats.
        assert await shop_hook(client, "orders/paid", orders[3], "e-3-paid") == 200
        assert await shop_hook(client, "orders/create", orders[3], "e-3-create") == 200
        assert await shop_hook(client, "refunds/create", refund, "e-3-refund") == 200
        assert await stripe_hook(client, payments[2]) == 200
        # A fact the poll could not have seen (a later version) is still taken from its webhook.
        newer = {**orders[1], "updated_at": shopify_time(now), "note": "gift wrap"}
        assert await shop_hook(client, "orders/updated", newer, "e-1-update") == 202
        await hub.normalizer.run_until_idle()

        store = hub.started().store
        async with store.read() as conn:
            stored = sorted((r.source, r.source_event_id, r.type, r.duplicates) for r in await conn.execute(
                select(events.c.source, events.c.source_event_id, events.c.type, events.c.duplicates)))
            dead = (await conn.execute(select(func.count()).select_from(deliveries)
                                       .where(deliveries.c.state == "dead"))).scalar_one()
        ids = {n: order["id"] for n, order in orders.items()}
        version = {n: f"{ids[n]}@{order['updated_at']}" for n, order in orders.items()}
        shipped = {n: order["fulfillments"][0] for n, order in orders.items()}
        # One event per fact. The poll's re-reads are silent; a webhook repeating what is stored is counted
        # on that one event as a repeated delivery (``duplicates``), exactly like a sender's retry.
        assert stored == sorted([
            *(("shop", f"{ids[n]}:orders/create", "order.placed", 1 if n == 3 else 0) for n in range(4)),
            *(("shop", version[n], "order.updated", 0) for n in range(4)),
            ("shop", f"{ids[1]}@{newer['updated_at']}", "order.updated", 0),
            ("shop", f"{ids[2]}:orders/cancelled", "order.cancelled", 0),
            ("shop", f"{ids[3]}:orders/paid", "payment.captured", 1),
            ("shop", f"{refund['id']}:refunds/create", "refund.issued", 1),
            # the fixture order's fulfillment failed: its creation (shipped) and its current version (exception)
            *(("shop", f"{shipped[n]['id']}:fulfillments/create", "shipment.shipped", 0) for n in range(4)),
            *(("shop", f"{shipped[n]['id']}@{shipped[n]['updated_at']}", "shipment.exception", 0) for n in range(4)),
            *(("stripe", payments[n]["id"], "payment.captured", 1 if n == 2 else 0) for n in range(3)),
        ])
        assert dead == 0

        # The missed order and its missed payment are one transaction, created first.
        tx = (await gql(client, TRACE, ref=f"shop:order:{ids[1]}"))["data"]["transaction"]
        assert {(e["source"], e["type"]) for e in tx["events"]} == {
            ("shop", "order.placed"), ("shop", "order.updated"), ("shop", "shipment.shipped"),
            ("shop", "shipment.exception")}
        tx = (await gql(client, TRACE, ref="stripe:payment_intent:pi_000001"))["data"]["transaction"]
        assert tx["events"] == [{"source": "stripe", "type": "payment.captured"}]
