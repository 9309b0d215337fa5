"""Cross-system stitching end to end: five real systems' webhooks into a real `crosstrace serve` over HTTP.

One order told by five systems, each signed its own way: the Shopify order (fixture ``order.json``), its
Stripe PaymentIntent (fixture object; linked only by ``metadata.order_id`` through the source's ``refs``
mapping), an ERP sales order citing the web order (``json`` adapter, HMAC hex), a WMS shipment citing the
ERP order and carrying the tracking number (``json`` adapter, Standard Webhooks), and EasyPost's tracker
for that tracking number (fixture ``event-body.json``). ``transaction(ref:)`` by every id any of them
uses must return the same one transaction with all five events — in three arrival orders, including
the one where the ERP posting arrives last and has to merge two transactions that grew apart.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from collectors import easypost, json_mapping, shopify, stripe
from collectors.standard_webhooks import sign as sw_sign
from hub.access.auth import digest
from tests.e2e.server import Server, free_port
from tests.paths import FIXTURES
from tests.support import OPERATOR_KEY

SHOP_SECRET = "shpss_stitching-app-secret"
STRIPE_SECRET = "whsec_stitching_stripe_secret"
ERP_SECRET = "erp-stitching-hmac-secret"
WMS_SECRET = "whsec_" + "c3RpdGNoaW5nLXdtcy1zZWNyZXQtMDEyMzQ1Njc4OQ=="
EASYPOST_SECRET = "easypost-stitching-secret"

ORDER = json.loads((FIXTURES / "shopify" / "order.json").read_text())["order"]
PAYMENT_INTENT = json.loads((FIXTURES / "stripe" / "fixtures3.json").read_text())["resources"]["payment_intent"]
TRACKER_EVENT = json.loads((FIXTURES / "easypost" / "event-body.json").read_text())

TRACE = """query($ref: String!) { transaction(ref: $ref) { id kind systems refs { namespace value role }
  events { source type status refs { namespace value } } } }"""
EXPECTED_EVENTS = [("easypost", "shipment.in_transit"), ("erp", "order.accepted"), ("shop", "order.placed"),
                   ("stripe", "payment.captured"), ("wms", "shipment.shipped")]


def write_config(folder: Path, store_url: str) -> Path:
    path = folder / "crosstrace.toml"
    path.write_text(f"""
[store]
url = "{store_url}"

[[api_keys]]
name = "ops"
role = "operator"
key_sha256 = "{digest(OPERATOR_KEY)}"

[[sources]]
name = "shop"
kind = "commerce"
adapter = "shopify"
secret = "{SHOP_SECRET}"
[sources.options]
carrier_source = "easypost"

[[sources]]
name = "stripe"
kind = "payment"
adapter = "stripe"
secret = "{STRIPE_SECRET}"
refs = {{ "data.object.metadata.order_id" = "shop:order" }}

[[sources]]
name = "erp"
kind = "erp"
adapter = "json"
secret = "{ERP_SECRET}"
[sources.options]
signature = "hmac-sha256-hex"
signature_header = "x-erp-signature"
[sources.options.mapping]
id = "event_id"
type = "event"
occurred_at = "posted_at"
type_map = {{ SALES_ORDER_CREATED = "order.accepted" }}
refs = [ {{ path = "sales_order.number", namespace = "erp:sales_order" }},
         {{ path = "sales_order.web_order_id", namespace = "shop:order" }} ]
lines = {{ path = "sales_order.lines", sku = "item_no", qty = "quantity", location = "warehouse" }}

[[sources]]
name = "wms"
kind = "wms"
adapter = "json"
secret = "{WMS_SECRET}"
[sources.options]
signature = "standard-webhooks"
[sources.options.mapping]
id = "event_id"
type = "type"
occurred_at = "occurred_at"
type_map = {{ SHIPPED = "shipment.shipped" }}
refs = [ {{ path = "shipment_id", namespace = "wms:shipment" }},
         {{ path = "order_ref", namespace = "erp:sales_order" }},
         {{ path = "parcels.*.tracking_number", namespace = "easypost:tracking" }},
         {{ path = "wave", namespace = "wms:wave", role = "related" }} ]

[[sources]]
name = "easypost"
kind = "carrier"
adapter = "easypost"
secret = "{EASYPOST_SECRET}"
""")
    return path


class Story:
    """The five deliveries of one order; ``n`` keeps every id apart from the other stories'."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.order_id = ORDER["id"] + n
        self.order_name = f"#{1001 + n}"
        self.payment_intent, self.charge = f"pi_stitch{n}", f"ch_stitch{n}"
        self.sales_order, self.shipment = f"SO-{1042 + n}", f"SH-{77 + n}"
        self.tracking, self.tracker = f"EZ40000000{n}", f"trk_stitch{n}"

    def ids(self) -> list[str]:
        """Every id a customer or colleague might paste (bare where unique, namespaced where not)."""
        return [str(self.order_id), self.order_name, self.payment_intent, self.charge, self.sales_order,
                f"wms:shipment:{self.shipment}", self.tracking, self.tracker]

    def shop(self, now: int) -> tuple[str, bytes, dict[str, str]]:
        order = {**copy.deepcopy(ORDER), "id": self.order_id, "name": self.order_name}
        body = json.dumps(order).encode()
        return "shop", body, {"x-shopify-hmac-sha256": shopify.sign(SHOP_SECRET, body),
                              "x-shopify-topic": "orders/create", "x-shopify-event-id": f"shop-evt-{self.n}"}

    def stripe(self, now: int) -> tuple[str, bytes, dict[str, str]]:
        intent = {**copy.deepcopy(PAYMENT_INTENT), "id": self.payment_intent, "status": "succeeded",
                  "amount": 40994, "amount_received": 40994, "latest_charge": self.charge,
                  "metadata": {"order_id": str(self.order_id)}, "last_payment_error": None}
        event = {"id": f"evt_stitch{self.n}", "object": "event", "type": "payment_intent.succeeded",
                 "created": 1_700_000_100, "api_version": "2024-06-20", "data": {"object": intent}}
        body = json.dumps(event).encode()
        return "stripe", body, {"stripe-signature": stripe.sign(STRIPE_SECRET, body, now)}

    def erp(self, now: int) -> tuple[str, bytes, dict[str, str]]:
        posting = {"event_id": f"erp-evt-{self.n}", "event": "SALES_ORDER_CREATED",
                   "posted_at": "2023-11-14T22:20:00Z",
                   "sales_order": {"number": self.sales_order, "web_order_id": self.order_id,
                                   "lines": [{"item_no": "IPOD2008GREEN", "quantity": 1, "warehouse": "WH-1"}]}}
        body = json.dumps(posting).encode()
        return "erp", body, {"x-erp-signature": "sha256=" + json_mapping.sign(ERP_SECRET, body)}

    def wms(self, now: int) -> tuple[str, bytes, dict[str, str]]:
        shipped = {"event_id": f"wms-evt-{self.n}", "type": "SHIPPED", "occurred_at": "2023-11-15T09:00:00Z",
                   "shipment_id": self.shipment, "order_ref": self.sales_order, "wave": "W-1",
                   "parcels": [{"tracking_number": self.tracking}]}
        body = json.dumps(shipped).encode()
        msg_id = f"msg_wms_{self.n}"
        return "wms", body, {"webhook-id": msg_id, "webhook-timestamp": str(now),
                             "webhook-signature": sw_sign(WMS_SECRET, msg_id, now, body)}

    def easypost(self, now: int) -> tuple[str, bytes, dict[str, str]]:
        event = copy.deepcopy(TRACKER_EVENT)
        event["id"] = f"evt_ep_stitch{self.n}"
        event["result"].update(id=self.tracker, tracking_code=self.tracking)
        body = json.dumps(event).encode()
        return "easypost", body, {"x-hmac-signature": easypost.sign(EASYPOST_SECRET, body)}


def deliver(client: httpx.Client, server: Server, make: Callable[[int], tuple[str, bytes, dict[str, str]]]) -> None:
    """POST one signed webhook, then wait until the hub has normalized it (so arrival order is processing order)."""
    source, body, headers = make(int(time.time()))
    response = client.post(f"{server.url}/hooks/{source}", content=body,
                           headers={**headers, "content-type": "application/json"})
    assert response.status_code == 202, (source, response.text)
    deadline = time.monotonic() + 30
    while "crosstrace_normalize_pending 0\n" not in client.get(f"{server.url}/metrics").text:
        assert time.monotonic() < deadline, "the delivery was not normalized in time"
        time.sleep(0.05)


def trace(client: httpx.Client, server: Server, ref: str) -> dict[str, Any] | None:
    response = client.post(f"{server.url}/graphql", json={"query": TRACE, "variables": {"ref": ref}},
                           headers={"authorization": f"Bearer {OPERATOR_KEY}"})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert "errors" not in payload, payload
    return payload["data"]["transaction"]


ARRIVALS: dict[str, list[str]] = {
    "forward": ["shop", "stripe", "erp", "wms", "easypost"],
    "reversed": ["easypost", "wms", "erp", "stripe", "shop"],
    "bridge-last": ["shop", "easypost", "stripe", "wms", "erp"],  # the ERP posting merges two transactions
}


@pytest.mark.asyncio
async def test_five_systems_stitch_into_one_transaction_in_any_arrival_order(store_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = Server(write_config(tmp_path, store_url), free_port())
    server.start()
    try:
        stories = {name: Story(n) for n, name in enumerate(ARRIVALS)}
        with httpx.Client(timeout=10) as client:
            seen_before_bridge: str | None = None
            for name, order in ARRIVALS.items():
                story = stories[name]
                for step in order:
                    if name == "bridge-last" and step == "erp":
                        before = trace(client, server, story.tracking)
                        assert before is not None and before["id"] != trace(client, server, str(story.order_id))["id"]
                        seen_before_bridge = before["id"]
                    deliver(client, server, getattr(story, step))

            tx_ids = set()
            for name, story in stories.items():
                found = [trace(client, server, ref) for ref in story.ids()]
                assert all(tx is not None for tx in found), (name, story.ids())
                ids = {tx["id"] for tx in found if tx is not None}
                assert len(ids) == 1, (name, ids)
                tx = found[0]
                assert tx is not None
                assert sorted((e["source"], e["type"]) for e in tx["events"]) == EXPECTED_EVENTS, name
                assert tx["kind"] == "order" and tx["systems"] == ["easypost", "erp", "shop", "stripe", "wms"]
                refs = {(r["namespace"], r["value"], r["role"]) for r in tx["refs"]}
                assert {("shop:order", str(story.order_id), "identity"), ("shop:order_name", story.order_name,
                                                                            "identity"),
                        ("stripe:payment_intent", story.payment_intent, "identity"),
                        ("erp:sales_order", story.sales_order, "identity"),
                        ("wms:shipment", story.shipment, "identity"),
                        ("easypost:tracking", story.tracking, "identity"),
                        ("easypost:tracker", story.tracker, "identity"),
                        ("wms:wave", "W-1", "related")} <= refs
                tx_ids.add(tx["id"])
            assert len(tx_ids) == 3  # the stories never bleed into each other (the shared wave is only related)

            # The transaction merged away by the late ERP posting still resolves (a bookmarked link never breaks).
            assert seen_before_bridge is not None
            merged = trace(client, server, seen_before_bridge)
            assert merged is not None and merged["id"] == trace(client, server, stories["bridge-last"].tracking)["id"]
    finally:
        server.stop()
