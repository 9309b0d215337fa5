"""Bad input behind ``POST /hooks/{source}`` for the vendor adapters, each delivery signed its system's way.

Per adapter: a payload sent under the wrong topic and a payload missing a field the adapter needs are
acknowledged (202: the sender must not retry the same bytes) and dead-lettered with the field named;
a topic the adapter does not map is stored as an event typed ``unknown`` that keeps the object's ref.
(The ``json`` and ``amazon-sp`` adapters have the same over HTTP in their own test modules.)

Bodies are the fixtures' resources (``tests/fixtures``) bent the way each case says.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from collectors import easypost, shopify, square, stripe
from hub.store.tables import deliveries, events, refs
from tests.paths import FIXTURES
from tests.support import running_app

ORDER = json.loads((FIXTURES / "shopify" / "order.json").read_text())["order"]
FULFILLMENT = json.loads((FIXTURES / "shopify" / "fulfillment.json").read_text())["fulfillment"]
STRIPE = json.loads((FIXTURES / "stripe" / "fixtures3.json").read_text())["resources"]
EASYPOST = json.loads((FIXTURES / "easypost" / "event-body.json").read_text())
SQUARE_URL = "https://hub.example.com/hooks/pos"

SOURCES = [
    {"name": "shop", "kind": "commerce", "adapter": "shopify", "secret": "shpss_bad_input"},
    {"name": "stripe", "kind": "payment", "adapter": "stripe", "secret": "whsec_bad_input"},
    {"name": "pos", "kind": "pos", "adapter": "square", "secret": "square-key",
     "options": {"notification_url": SQUARE_URL}},
    {"name": "easypost", "kind": "carrier", "adapter": "easypost", "secret": "easypost-secret"},
]

Signer = Callable[[bytes, str], dict[str, str]]  # body, case name → headers


def _shopify(topic: str) -> Signer:
    return lambda body, name: {"x-shopify-topic": topic, "x-shopify-event-id": f"shop-{name}",
                               "x-shopify-hmac-sha256": shopify.sign("shpss_bad_input", body)}


def _stripe(body: bytes, name: str) -> dict[str, str]:
    return {"stripe-signature": stripe.sign("whsec_bad_input", body, int(time.time()))}


def _square(body: bytes, name: str) -> dict[str, str]:
    return {"x-square-hmacsha256-signature": square.sign("square-key", SQUARE_URL, body)}


def _easypost(body: bytes, name: str) -> dict[str, str]:
    return {"x-hmac-signature": easypost.sign("easypost-secret", body)}


def _stripe_event(name: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(STRIPE["event"]), "id": f"evt_{name}", "type": kind, "data": {"object": obj}}


def _square_event(name: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"merchant_id": "MLEFBHHSJGVHD", "type": kind, "event_id": f"sq-{name}",
            "created_at": "2026-11-01T12:00:00Z", "data": data}


def _easypost_event(name: str, description: str, result: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(EASYPOST), "id": f"evt_ep_{name}", "description": description, "result": result}


def _without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in copy.deepcopy(obj).items() if k != key}


INTENT = {**STRIPE["payment_intent"], "status": "succeeded"}
PAYMENT = {"id": "pay-1", "status": "COMPLETED", "order_id": "sq-order-1", "location_id": "L1",
           "total_money": {"amount": 1000, "currency": "USD"}}
BATCH = {"id": "batch_1", "object": "Batch", "state": "created"}

# adapter → [(case, source, body, signer, expected)]: expected is ("dead", text in the error) or
# ("unknown", the identity ref the event keeps).
CASES: dict[str, list[tuple[str, str, dict[str, Any], Signer, tuple[str, str]]]] = {
    "shopify": [
        ("wrong-topic", "shop", FULFILLMENT, _shopify("orders/create"), ("dead", "missing field 'total_price'")),
        ("drift", "shop", _without(ORDER, "currency"), _shopify("orders/create"), ("dead", "missing field 'currency'")),
        ("unmapped", "shop", ORDER, _shopify("orders/fulfilled"), ("unknown", "shop:order:450789469")),
    ],
    "stripe": [
        ("wrong-topic", "stripe", _stripe_event("wrong", "refund.created", STRIPE["customer"]), _stripe,
         ("dead", "missing field 'data.object.amount'")),
        ("drift", "stripe", _stripe_event("drift", "payment_intent.succeeded", _without(INTENT, "currency")), _stripe,
         ("dead", "missing field 'data.object.currency'")),
        ("unmapped", "stripe", _stripe_event("unmapped", "payment_intent.processing", INTENT), _stripe,
         ("unknown", f"stripe:payment_intent:{INTENT['id']}")),
    ],
    "square": [
        ("wrong-topic", "pos", _square_event("wrong", "refund.created", {"type": "payment", "id": "pay-1",
                                                                          "object": {"payment": PAYMENT}}),
         _square, ("dead", "missing field 'data.object.refund'")),
        ("drift", "pos", _square_event("drift", "payment.created", {
            "type": "payment", "id": "pay-1", "object": {"payment": _without(PAYMENT, "status")}}),
         _square, ("dead", "missing field 'data.object.payment.status'")),
        ("unmapped", "pos", _square_event("unmapped", "order.fulfillment.updated", {"type": "order_fulfillment_updated",
                                                                                   "id": "sq-order-1", "object": {}}),
         _square, ("unknown", "pos:order:sq-order-1")),
    ],
    "easypost": [
        ("wrong-topic", "easypost", _easypost_event("wrong", "tracker.updated", BATCH), _easypost,
         ("dead", "missing field 'result.tracking_code'")),
        ("drift", "easypost", _easypost_event("drift", "tracker.updated", _without(EASYPOST["result"], "status")),
         _easypost, ("dead", "missing field 'result.status'")),
        ("unmapped", "easypost", _easypost_event("unmapped", "shipment.invoice.created",
                                                 {"object": "ShipmentInvoice", "shipment_id": "shp_123",
                                                  "tracking_code": "EZ9"}),
         _easypost, ("unknown", "easypost:shipment:shp_123")),
    ],
}


@pytest.mark.asyncio
@pytest.mark.parametrize("adapter", list(CASES))
async def test_wrong_topic_and_drift_are_dead_letters_naming_the_field_unmapped_is_unknown(
        store_url: str, adapter: str) -> None:
    async with running_app(store_url, extra={"sources": SOURCES}) as (client, hub):
        sent: dict[str, str] = {}
        for name, source, payload, signer, _ in CASES[adapter]:
            body = json.dumps(payload).encode()
            response = await client.post(f"/hooks/{source}", content=body,
                                         headers={**signer(body, name), "content-type": "application/json"})
            assert response.status_code == 202, (name, response.text)
            sent[name] = response.json()["delivery"]
        await hub.normalizer.run_until_idle()

        async with hub.started().store.read() as conn:
            for name, _, _, _, (outcome, detail) in CASES[adapter]:
                row = (await conn.execute(select(deliveries.c.state, deliveries.c.error)
                                          .where(deliveries.c.id == sent[name]))).one()
                stored = (await conn.execute(select(events.c.id, events.c.type, events.c.unknown_type)
                                             .where(events.c.delivery_id == sent[name]))).all()
                if outcome == "dead":
                    assert row.state == "dead" and detail in (row.error or ""), (name, row)
                    assert stored == []
                else:
                    assert row.state == "done", (name, row)
                    (event,) = stored
                    assert event.type == "unknown" and event.unknown_type
                    kept = {f"{r.namespace}:{r.value}" for r in await conn.execute(
                        select(refs.c.namespace, refs.c.value).where(refs.c.event_id == event.id))}
                    assert detail in kept, (name, kept)
