"""The demo retailer's ``crosstrace.toml``, as a dict for ``hub.config.parse``, with freshly generated secrets.

Eight connected systems, each with its real adapter: ``shop`` (Shopify), ``amazon`` (SP-API via
EventBridge), ``pos`` (Square), ``wms`` and ``returns`` (the ``json`` adapter, webhooks), ``erp`` (the
``json`` adapter, polled over REST, authoritative for stock), ``easypost`` and ``stripe``. Secrets are
``env:`` references resolved from the environment this module also returns, as a real deployment does.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from hub.demo.payloads import SHOPIFY_WAREHOUSE
from hub.demo.scenario import ESCALATE_LATE, PAYOUT_DELAY, QUIET

ERP_TYPES = {"SO_POSTED": "erp.posted", "GR_POSTED": "erp.posted", "GOODS_ISSUE": "shipment.delivered",
             "TO_CREATED": "transfer.created", "TO_RECEIVED": "transfer.received", "STOCK_COUNT": "inventory.snapshot"}
WMS_TYPES = {"ALLOCATED": "fulfillment.allocated", "PICKED": "fulfillment.picked", "PACKED": "fulfillment.packed",
             "TRANSFER_SHIPPED": "transfer.shipped", "RECEIVED": "receipt.received"}
RETURN_TYPES = {"REQUESTED": "return.requested", "RECEIVED": "return.received", "INSPECTED": "return.inspected",
                "RESTOCKED": "return.restocked", "REFUNDED": "refund.issued"}
_LINES = {"path": "lines", "sku": "sku", "qty": "qty", "location": "location", "state": "state"}


def new_secrets() -> dict[str, str]:
    """One secret per system, in each vendor's usual form, keyed by the environment variable naming it."""
    def whsec() -> str:
        return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()

    return {"DEMO_SHOPIFY_SECRET": "shpss_" + secrets.token_hex(16), "DEMO_STRIPE_SECRET": whsec(),
            "DEMO_SQUARE_KEY": secrets.token_urlsafe(22), "DEMO_EASYPOST_SECRET": secrets.token_hex(16),
            "DEMO_AMAZON_SECRET": secrets.token_urlsafe(24), "DEMO_WMS_SECRET": whsec(),
            "DEMO_RETURNS_SECRET": secrets.token_hex(24), "DEMO_ERP_SECRET": whsec(), "DEMO_PAGER_SECRET": whsec()}


def demo_config(store_url: str, hub_url: str, erp_url: str, poll_interval: float,
                tolerance_seconds: int = 300, pager_url: str = "http://127.0.0.1:9/hooks/crosstrace") -> dict[str, Any]:
    """The raw config (what ``tomllib`` would give for the demo's ``crosstrace.toml``).

    ``pager_url``: the ops team's notification endpoint, which is down (nothing listens there): the hub disables it
    after five failed attempts and says so in the queue. Stripe pays a capture out within ``PAYOUT_DELAY``, late
    steps escalate after ``ESCALATE_LATE``, and the returns platform is watched for silence (``QUIET``).

    ``tolerance_seconds`` is the signature timestamp tolerance in *simulated* seconds: at 60 simulated
    minutes per second the default 300 would be 83 real milliseconds of network and queueing.
    """
    return {
        "store": {"url": store_url},
        "ingest": {"signature_tolerance_seconds": tolerance_seconds},
        "flows": {"order": {"steps": _order_steps()}},
        "exceptions": {"escalation": {"late": int(ESCALATE_LATE // 60)}},
        "settlement": {"missing_after_days": {"stripe": PAYOUT_DELAY / 86400}},
        "notifications": [{"name": "ops-pager", "url": pager_url, "secret": "env:DEMO_PAGER_SECRET",
                           "disable_after_failures": 5}],
        "sources": [
            {"name": "shop", "kind": "commerce", "adapter": "shopify", "secret": "env:DEMO_SHOPIFY_SECRET",
             "options": {"carrier_source": "easypost", "count_payments": False,
                         "locations": {str(SHOPIFY_WAREHOUSE): "WH-1"}},
             "attributes": {"source_name": "channel"}},  # business attribute: /?attribute=channel=web
            {"name": "amazon", "kind": "marketplace", "adapter": "amazon-sp", "secret": "env:DEMO_AMAZON_SECRET",
             "options": {"locations": {"DEFAULT": "WH-1"}}},
            {"name": "pos", "kind": "pos", "adapter": "square", "secret": "env:DEMO_SQUARE_KEY",
             "options": {"notification_url": f"{hub_url}/hooks/pos"}},
            {"name": "wms", "kind": "wms", "adapter": "json", "secret": "env:DEMO_WMS_SECRET",
             "options": {"signature": "standard-webhooks", "mapping": {
                 "id": "event_id", "type": "event", "type_map": WMS_TYPES, "occurred_at": "at",
                 "refs": [{"path": "order_ref", "namespace": "erp:sales_order"},
                          {"path": "transfer_ref", "namespace": "erp:transfer"},
                          {"path": "po_ref", "namespace": "erp:purchase_order"},
                          {"path": "tracking", "namespace": "easypost:tracking"},
                          {"path": "shipment_id", "namespace": "wms:shipment"},
                          {"path": "receipt_id", "namespace": "wms:receipt"},
                          {"path": "wave", "namespace": "wms:wave", "role": "related"}],
                 "lines": _LINES}}},
            {"name": "returns", "kind": "returns", "adapter": "json", "secret": "env:DEMO_RETURNS_SECRET",
             "watch": {"quiet_minutes": int(QUIET // 60)},
             "options": {"signature": "hmac-sha256-hex", "signature_header": "x-signature", "mapping": {
                 "id": "id", "type": "status", "type_map": RETURN_TYPES, "occurred_at": "updated_at",
                 "status": "outcome", "error": "outcome_reason",
                 "refs": [{"path": "rma", "namespace": "returns:rma"},
                          {"path": "order_ref", "namespace": "shop:order", "role": "related"}],
                 "lines": {**_LINES, "path": "items"}}}},
            {"name": "erp", "kind": "erp", "adapter": "json", "secret": "env:DEMO_ERP_SECRET", "authoritative": True,
             "options": {"signature": "standard-webhooks", "mapping": {
                 "id": "event_id", "type": "type", "type_map": ERP_TYPES, "occurred_at": "posted_at",
                 "refs": [{"path": "sales_order", "namespace": "erp:sales_order"},
                          {"path": "web_order", "namespace": "shop:order"},
                          {"path": "marketplace_order", "namespace": "amazon:order"},
                          {"path": "pos_order", "namespace": "pos:order"},
                          {"path": "transfer", "namespace": "erp:transfer"},
                          {"path": "purchase_order", "namespace": "erp:purchase_order"},
                          {"path": "count", "namespace": "erp:stock_count"}],
                 "lines": _LINES},
                 "poll": {"style": "rest", "url": f"{erp_url}/api/records", "interval_seconds": poll_interval,
                          "page_size": 200, "lookback_seconds": 600, "backfill_seconds": 86400,
                          "timeout_seconds": 5, "max_attempts": 3, "backoff_base_seconds": 0.05,
                          "backoff_cap_seconds": 0.25, "failure_threshold": 3, "cooldown_seconds": 1,
                          "id_field": "id", "cursor_field": "updated_at"}}},
            {"name": "easypost", "kind": "carrier", "adapter": "easypost", "secret": "env:DEMO_EASYPOST_SECRET"},
            {"name": "stripe", "kind": "payment", "adapter": "stripe", "secret": "env:DEMO_STRIPE_SECRET",
             "refs": {"data.object.metadata.order_id": "shop:order"}},
        ],
    }


def _order_steps() -> list[dict[str, Any]]:
    """The default order flow, except that a marketplace's acceptance (Amazon's ``Unshipped``: payment
    authorized) also counts as paid — Amazon orders carry no separate payment event."""
    cancel = ["order.cancelled"]
    return [
        {"name": "placed", "types": ["order.placed"]},
        {"name": "accepted", "types": ["order.accepted", "erp.posted"], "sla_minutes": 30, "stopped_by": cancel},
        {"name": "paid", "types": ["payment.captured", "payment.authorized", "order.accepted"],
         "sla_minutes": 24 * 60, "stopped_by": cancel},
        {"name": "allocated", "types": ["fulfillment.allocated", "fulfillment.picked", "fulfillment.packed"],
         "sla_minutes": 24 * 60, "optional": True, "stopped_by": cancel},
        {"name": "shipped", "types": ["shipment.shipped", "shipment.delivered"], "sla_minutes": 48 * 60,
         "stopped_by": cancel},
        {"name": "delivered", "types": ["shipment.delivered"], "sla_minutes": 7 * 24 * 60, "optional": True,
         "stopped_by": cancel},
    ]
