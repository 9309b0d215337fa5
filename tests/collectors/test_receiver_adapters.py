"""Every registered adapter behind ``POST /hooks/{source}``: signed its system's way → 202, the same again → 200
with the same delivery, forged → 401, stale (where the system signs a time) → 401, and the stored delivery
normalizes into the event the adapter promises.

Bodies are the systems' published payloads (``tests/fixtures``) or, for the ``json`` and
``cloudevents`` adapters (the retailer's own systems), the shapes those adapters document.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from collectors import ADAPTERS, amazon_sp, easypost, json_mapping, shopify, stripe
from collectors.standard_webhooks import sign as sw_sign
from hub.store.tables import events
from tests.paths import FIXTURES
from tests.support import cloudevent, running_app

SQUARE = json.loads((FIXTURES / "square" / "signature-vector.json").read_text())
EASYPOST = json.loads((FIXTURES / "easypost" / "signature-vector.json").read_text())
EASYPOST_BODY = (FIXTURES / "easypost" / "event-body.json").read_bytes().rstrip(b"\n")
ORDER = json.loads((FIXTURES / "shopify" / "order.json").read_text())["order"]
STRIPE = json.loads((FIXTURES / "stripe" / "fixtures3.json").read_text())["resources"]
AMAZON = (FIXTURES / "amazon-sp" / "OrderChangeNotification.example.json").read_bytes()
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HEX_SECRET = "erp-hex-secret"

SOURCES = [
    {"name": "shop", "kind": "commerce", "adapter": "shopify", "secret": "shpss_app_secret"},
    {"name": "stripe", "kind": "payment", "adapter": "stripe", "secret": "whsec_stripe_endpoint"},
    {"name": "pos", "kind": "pos", "adapter": "square", "secret": SQUARE["signature_key"],
     "options": {"notification_url": SQUARE["notification_url"]}},
    {"name": "easypost", "kind": "carrier", "adapter": "easypost", "secret": EASYPOST["secret"]},
    {"name": "amazon", "kind": "marketplace", "adapter": "amazon-sp", "secret": "eb-connection-key"},
    {"name": "erp", "kind": "erp", "adapter": "json", "secret": HEX_SECRET,
     "options": {"signature": "hmac-sha256-hex", "mapping": {"id": "id", "type": "type",
                                                            "refs": [{"path": "so", "namespace": "erp:sales_order"}]}}},
    {"name": "wms", "kind": "wms", "adapter": "json", "secret": SW_SECRET,
     "options": {"mapping": {"id": "id", "type": "type", "refs": [{"path": "sh", "namespace": "wms:shipment"}]}}},
    {"name": "ce", "kind": "other", "adapter": "cloudevents", "secret": SW_SECRET},
]


@dataclass
class Case:
    """One adapter's delivery: its body, and header makers for a good, a forged and a stale signature."""

    source: str
    body: bytes
    good: Callable[[int], dict[str, str]]
    forged: dict[str, str]
    stale: Callable[[int], dict[str, str]] | None
    event_type: str


def _sw(body: bytes, secret: str = SW_SECRET) -> Callable[[int], dict[str, str]]:
    return lambda now: {"webhook-id": "msg_1", "webhook-timestamp": str(now),
                        "webhook-signature": sw_sign(secret, "msg_1", now, body)}


def _cases() -> dict[str, Case]:
    order = json.dumps(ORDER).encode()
    event = {**copy.deepcopy(STRIPE["event"]), "id": "evt_recv_1", "type": "payment_intent.succeeded",
             "data": {"object": {**STRIPE["payment_intent"], "status": "succeeded"}}}
    intent = json.dumps(event).encode()
    square = SQUARE["body"].encode()
    erp = b'{"id": "e-1", "type": "erp.posted", "so": "SO-1"}'
    wms = b'{"id": "w-1", "type": "PICKED", "sh": "SH-1"}'
    ce = json.dumps(cloudevent("ce", "order.placed", [("ce:order", "O-1")])).encode()
    return {
        "shopify": Case("shop", order, lambda now: {"x-shopify-hmac-sha256": shopify.sign("shpss_app_secret", order),
                                                    "x-shopify-topic": "orders/create",
                                                    "x-shopify-event-id": "shop-evt-1"},
                        {"x-shopify-hmac-sha256": shopify.sign("guessed", order), "x-shopify-topic": "orders/create"},
                        None, "order.placed"),
        "stripe": Case("stripe", intent,
                       lambda now: {"stripe-signature": stripe.sign("whsec_stripe_endpoint", intent, now)},
                       {"stripe-signature": stripe.sign("whsec_guessed", intent, int(time.time()))},
                       lambda now: {"stripe-signature": stripe.sign("whsec_stripe_endpoint", intent, now - 301)},
                       "payment.captured"),
        "square": Case("pos", square, lambda now: {SQUARE["header"]: SQUARE["signature"]},
                       {SQUARE["header"]: "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N5="}, None, "unknown"),
        "easypost": Case("easypost", EASYPOST_BODY, lambda now: {"x-hmac-signature": EASYPOST["signature"]},
                         {"x-hmac-signature": easypost.sign("guessed", EASYPOST_BODY)}, None, "shipment.in_transit"),
        "amazon-sp": Case("amazon", AMAZON, lambda now: amazon_sp.sign("eb-connection-key"),
                          amazon_sp.sign("eb-connection-kez"), None, "order.updated"),
        "json": Case("erp", erp, lambda now: {"x-signature": "sha256=" + json_mapping.sign(HEX_SECRET, erp)},
                     {"x-signature": json_mapping.sign("guessed", erp)}, None, "erp.posted"),
        "json-standard-webhooks": Case("wms", wms, _sw(wms), _sw(wms, "whsec_Zm9yZ2Vk")(int(time.time())),
                                       lambda now: _sw(wms)(now - 301), "unknown"),  # PICKED is not mapped
        "cloudevents": Case("ce", ce, _sw(ce), _sw(ce, "whsec_Zm9yZ2Vk")(int(time.time())),
                            lambda now: _sw(ce)(now + 360), "order.placed"),  # margin: the test may run slowly
    }


def test_every_configured_adapter_is_registered_and_has_a_case() -> None:
    from hub.config import ADAPTERS as NAMES

    assert set(ADAPTERS) == set(NAMES)
    assert {name.split("-standard")[0] for name in _cases()} == set(NAMES)
    for module in ADAPTERS.values():
        assert callable(module.verify) and callable(module.dedup_key) and callable(module.parse)


@pytest.mark.asyncio
@pytest.mark.parametrize("adapter", list(_cases()))
async def test_signed_accepted_retried_deduplicated_forged_and_stale_refused(store_url: str, adapter: str) -> None:
    case = _cases()[adapter]
    json_type = {"content-type": "application/json"}
    async with running_app(store_url, extra={"sources": SOURCES}) as (client, hub):
        now = int(time.time())
        url = f"/hooks/{case.source}"
        first = await client.post(url, content=case.body, headers={**case.good(now), **json_type})
        again = await client.post(url, content=case.body, headers={**case.good(now), **json_type})
        assert (first.status_code, again.status_code) == (202, 200), first.text
        assert first.json() == again.json()
        refused: list[dict[str, Any]] = [case.forged, {}]
        if case.stale is not None:
            refused.append(case.stale(now))
        for headers in refused:
            response = await client.post(url, content=case.body, headers={**headers, **json_type})
            assert response.status_code == 401, (headers, response.text)
            assert set(response.json()["error"]) == {"code", "message"}
        await hub.normalizer.run_until_idle()
        async with hub.started().store.read() as conn:
            stored = (await conn.execute(select(events.c.source, events.c.type)
                                         .where(events.c.delivery_id == first.json()["delivery"]))).all()
        assert [tuple(row) for row in stored] == [(case.source, case.event_type)]
