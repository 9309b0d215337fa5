"""A small retailer's day for the web tests: sources, a TOML config, and signed webhook deliveries.

One order crosses five systems (shop, payments, ERP, WMS, carrier) with one failed ERP sync; a second
order is stuck after ``order.placed`` (late steps); a transfer; a value (``7``) two systems use
(ambiguous); and a delivery that cannot be parsed (a dead letter).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.access.auth import digest
from tests.support import ADMIN_KEY, ERP_SECRET, OPERATOR_KEY, VIEWER_KEY, cloudevent, dumps, signed_headers

SOURCES = [("shop", "commerce"), ("pay", "payment"), ("erp", "erp"), ("wms", "wms"), ("carrier", "carrier")]

# Every ref a customer-service agent might paste for the first order, and its namespace.
ORDER_REFS = {"web order": "W1001", "ERP sales order": "SO-1042", "shipment": "SHP-77", "tracking": "1Z999AA1",
              "payment": "pi_3Nx8"}


def raw_config(store_url: str) -> dict[str, Any]:
    return {"store": {"url": store_url},
            "sources": [{"name": n, "kind": k, "adapter": "cloudevents", "secret": ERP_SECRET} for n, k in SOURCES],
            "api_keys": [{"name": "ops", "role": "operator", "key_sha256": digest(OPERATOR_KEY)},
                         {"name": "bi", "role": "viewer", "key_sha256": digest(VIEWER_KEY)},
                         {"name": "root", "role": "admin", "key_sha256": digest(ADMIN_KEY)}]}


def write_toml(folder: Path, store_url: str) -> Path:
    """The same sources as a ``crosstrace.toml`` for a real server; secrets come from ``CT_TEST_ERP_SECRET``."""
    blocks = [f'[store]\nurl = "{store_url}"\n',
              f'[[api_keys]]\nname = "ops"\nrole = "operator"\nkey_sha256 = "{digest(OPERATOR_KEY)}"\n']
    blocks += [f'[[sources]]\nname = "{n}"\nkind = "{k}"\nadapter = "cloudevents"\nsecret = "env:CT_TEST_ERP_SECRET"\n'
               for n, k in SOURCES]
    path = folder / "crosstrace.toml"
    path.write_text("\n".join(blocks))
    return path


def _line(sku: str, qty: int, state: str | None = None, location: str = "WH-1") -> dict[str, Any]:
    return {"sku": sku, "qty": qty, "location": location, **({"state": state} if state else {})}


def _at(base: datetime, minutes: float) -> str:
    return (base + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def story(base: datetime | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(source, CloudEvent) pairs in the order they are delivered (not the order they occurred).

    Times are relative to ``base`` (default: 30 hours ago, on the hour) so the dashboard's default window
    holds them; the first order is delivered a day after it was placed.
    """
    base = base or (datetime.now(UTC) - timedelta(hours=30)).replace(minute=0, second=0, microsecond=0)
    return [
        ("shop", cloudevent("shop", "order.placed", [("shop:order", "W1001")], id="s-1", time_=_at(base, 0),
                            lines=[_line("SKU-RED-M", 2, "reserved")],
                            amount={"value": "59.80", "currency": "EUR", "kind": "total"})),
        ("pay", cloudevent("pay", "payment.captured", [("pay:payment_intent", "pi_3Nx8"), ("shop:order", "W1001")],
                           id="p-1", time_=_at(base, 1.16667),
                           amount={"value": "59.80", "currency": "EUR", "kind": "capture"})),
        ("erp", cloudevent("erp", "sync.failed", [("erp:sales_order", "SO-1042"), ("shop:order", "W1001")],
                           id="e-0", time_=_at(base, 3), status="failed", error="ERP timeout posting SO-1042")),
        ("erp", cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1042"), ("shop:order", "W1001")],
                           id="e-1", time_=_at(base, 20), lines=[_line("SKU-RED-M", 2)])),
        ("wms", cloudevent("wms", "fulfillment.picked", [("wms:shipment", "SHP-77"), ("erp:sales_order", "SO-1042")],
                           id="w-1", time_=_at(base, 150), lines=[_line("SKU-RED-M", 2, "reserved")])),
        ("carrier", cloudevent("carrier", "shipment.shipped", [("carrier:tracking", "1Z999AA1"),
                                                              ("wms:shipment", "SHP-77")],
                               id="c-1", time_=_at(base, 305), lines=[_line("SKU-RED-M", 2)])),
        ("carrier", cloudevent("carrier", "shipment.delivered", [("carrier:tracking", "1Z999AA1")],
                               id="c-2", time_=_at(base, 25 * 60 + 100))),
        ("shop", cloudevent("shop", "order.placed", [("shop:order", "W1002")], id="s-2", time_=_at(base, 60),
                            lines=[_line("SKU-BLUE-S", 1)])),
        ("shop", cloudevent("shop", "order.placed", [("shop:order", "7")], id="s-7", time_=_at(base, 70))),
        ("erp", cloudevent("erp", "order.placed", [("erp:sales_order", "7")], id="e-7", time_=_at(base, 71))),
        ("erp", cloudevent("erp", "transfer.created", [("erp:transfer", "TR-9")], id="e-t1", time_=_at(base, -60),
                           lines=[_line("SKU-RED-M", 10, location="WH-1")])),
        ("wms", cloudevent("wms", "transfer.shipped", [("erp:transfer", "TR-9")], id="w-t1", time_=_at(base, 180),
                           lines=[_line("SKU-RED-M", 10, "in_transit", location="WH-1")])),
        # The ERP (authoritative) and the WMS count the same shelf differently: a stock divergence.
        ("erp", cloudevent("erp", "inventory.snapshot", [], id="e-inv", time_=_at(base, 60),
                           lines=[_line("SKU-GRN-L", 40, "on_hand", location="STORE-12")])),
        ("wms", cloudevent("wms", "inventory.snapshot", [], id="w-inv", time_=_at(base, 61),
                           lines=[_line("SKU-GRN-L", 37, "on_hand", location="STORE-12")])),
    ]


def signed(source: str, event: dict[str, Any]) -> tuple[str, bytes, dict[str, str]]:
    """The path, body and Standard Webhooks headers of one delivery."""
    body = dumps(event)
    return f"/hooks/{source}", body, signed_headers(body)


def dead_letter() -> tuple[str, bytes, dict[str, str]]:
    """A correctly signed body that is not a CloudEvent: stored, acknowledged, then dead-lettered."""
    body = b'{"hello": "not a cloudevent"}'
    return "/hooks/erp", body, signed_headers(body)


def settlement(orders: int = 7, unknown: int = 60) -> list[tuple[str, bytes, dict[str, str]]]:
    """``orders`` paid orders and one payout relating their charges and ``unknown`` more, in three deliveries
    stamped with the same moment (gross, fee and net lines of one payout)."""
    out = [signed("pay", cloudevent("pay", "payment.captured", [("pay:charge", f"ch_{i}"),
                                                                ("shop:order", f"W70{i:02d}")], id=f"cap-{i}"))
           for i in range(orders)]
    related = [("pay:charge", f"ch_{i}", "related") for i in range(orders + unknown)]
    for kind, value in (("gross", "700.00"), ("fee", "21.00"), ("settlement", "679.00")):
        out.append(signed("pay", cloudevent("pay", "settlement.paid", [("pay:payout", "po_77"), *related],
                                            id=f"po-77-{kind}", time_="2026-11-02T06:00:00Z",
                                            amount={"value": value, "currency": "EUR", "kind": kind})))
    return out
