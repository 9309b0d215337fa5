"""The ``json`` adapter: declarative mappings over homegrown ERP, WMS and returns payloads.

No vendor publishes these shapes (they are the retailer's own systems), so the payloads below follow
what such systems typically send: an ERP posting one sales order per webhook with an HMAC-hex header,
a WMS batching shipment events under ``events`` and signing per Standard Webhooks, and a returns
platform with epoch timestamps and a failure status.
"""

from __future__ import annotations

import copy
import json
import time
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from collectors import ADAPTERS, json_mapping
from collectors.base import ParseError, SignatureError
from collectors.standard_webhooks import sign as sw_sign
from hub.app import create_app
from hub.config import Source, parse
from hub.errors import ConfigError
from hub.model import UNKNOWN_TYPE, Amount, Delivery, Line, Ref
from tests.support import gql, running_app

NOW = 1_793_000_000.0
ERP_SECRET = "erp-shared-secret-3f9a"
WMS_SECRET = "whsec_" + "d21zLWpzb24tbWFwcGluZy1zZWNyZXQtMDEyMzQ1"
RETURNS_SECRET = "returns-secret-77"

ERP_OPTIONS: dict[str, Any] = {
    "signature": "hmac-sha256-hex", "signature_header": "x-erp-signature",
    "mapping": {
        "id": "event_id", "type": "event", "occurred_at": "posted_at", "status": "result", "error": "message",
        "type_map": {"SALES_ORDER_CREATED": "order.accepted", "SALES_ORDER_POSTED": "erp.posted",
                     "SYNC_FAILED": "sync.failed"},
        "refs": [{"path": "sales_order.number", "namespace": "erp:sales_order"},
                 {"path": "sales_order.web_order_id", "namespace": "shop:order"},
                 {"path": "sales_order.customer_no", "namespace": "erp:customer", "role": "related"}],
        "lines": {"path": "sales_order.lines", "sku": "item_no", "qty": "quantity", "location": "warehouse"},
        "amount": {"value": "sales_order.grand_total", "currency": "sales_order.currency", "kind": "total"},
    },
}
WMS_OPTIONS: dict[str, Any] = {
    "signature": "standard-webhooks",
    "mapping": {
        "events_path": "events", "id": "event_id", "type": "type", "occurred_at": "occurred_at",
        "type_map": {"SHIPPED": "shipment.shipped", "PICKED": "fulfillment.picked"},
        "refs": [{"path": "shipment_id", "namespace": "wms:shipment"},
                 {"path": "order_ref", "namespace": "erp:sales_order"},
                 {"path": "parcels.*.tracking_number", "namespace": "easypost:tracking"},
                 {"path": "wave", "namespace": "wms:wave", "role": "related"},
                 {"path": "lines.*.sku", "namespace": "wms:sku", "role": "related"}],
        "lines": {"path": "lines", "sku": "sku", "qty": "qty", "location": "location", "state": "state"},
    },
}
RETURNS_OPTIONS: dict[str, Any] = {
    "signature": "hmac-sha256-hex", "signature_header": "x-signature",
    "mapping": {
        "id": "id", "type": "topic", "occurred_at": "created", "status": "refund.status", "error": "refund.failure",
        "type_map": {"return.approved": "return.requested", "item.received": "return.received"},
        "refs": [{"path": "rma", "namespace": "returns:rma", "required": True},
                 {"path": "order.id", "namespace": "shop:order"}],
        "amount": {"value": "refund.amount", "currency": "refund.currency", "kind": "refund"},
    },
}

ERP_BODY: dict[str, Any] = {
    "event_id": "erp-evt-9001", "event": "SALES_ORDER_POSTED", "posted_at": "2026-11-02T10:15:00+01:00",
    "result": "OK", "message": None,
    "sales_order": {"number": "SO-1042", "web_order_id": 5012345678, "customer_no": "C-000381", "currency": "eur",
                    "grand_total": "59.90",
                    "lines": [{"line_no": 10000, "item_no": "SKU-1", "quantity": 2, "warehouse": "WH-1"},
                              {"line_no": 20000, "item_no": "SKU-2", "quantity": "1.5", "warehouse": "WH-1"}]},
}
WMS_BODY: dict[str, Any] = {
    "batch_id": "b-77", "sent_at": "2026-11-02T12:00:03Z",
    "events": [
        {"event_id": "wms-1", "type": "PICKED", "occurred_at": "2026-11-02T11:40:00Z", "shipment_id": "SH-77",
         "order_ref": "SO-1042", "wave": "W-12", "parcels": [],
         "lines": [{"sku": "SKU-1", "qty": 2, "location": "WH-1", "state": "reserved"}]},
        {"event_id": "wms-2", "type": "SHIPPED", "occurred_at": "2026-11-02T12:00:00Z", "shipment_id": "SH-77",
         "order_ref": "SO-1042", "wave": "W-12",
         "parcels": [{"tracking_number": "EZ1000000001"}, {"tracking_number": "EZ1000000002"}],
         "lines": [{"sku": "SKU-1", "qty": 2, "location": "WH-1"}]},
        {"event_id": "wms-3", "type": "CYCLE_COUNT", "occurred_at": "2026-11-02T12:00:01Z", "wave": None},
    ],
}
RETURNS_BODY: dict[str, Any] = {
    "id": 88123, "topic": "item.received", "created": 1793000000, "rma": "RMA-5521",
    "order": {"id": "5012345678", "name": "#1001"},
    "refund": {"status": "failure", "failure": "card expired", "amount": 29.95, "currency": "EUR"},
}


def source(name: str = "erp", options: dict[str, Any] | None = None, secrets: tuple[str, ...] = (ERP_SECRET,),
           **extra: Any) -> Source:
    return Source(name=name, kind="erp", adapter="json", secrets=secrets,
                  options=copy.deepcopy(ERP_OPTIONS if options is None else options), **extra)


def delivery(body: dict[str, Any] | bytes, **headers: str) -> Delivery:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Delivery(id="d1", source="erp", received_at=datetime(2026, 11, 2), headers=headers, body=raw,
                    content_type="application/json")


def sw_headers(body: bytes, secret: str = WMS_SECRET, msg_id: str = "msg_1", stamp: int = int(NOW)) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": sw_sign(secret, msg_id, stamp,
                                                                                                body)}


# --- parsing, field by field -----------------------------------------------------------------------------


def test_erp_sales_order_field_by_field() -> None:
    [event] = json_mapping.parse(delivery(ERP_BODY, traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"), source())
    assert event.source == "erp" and event.source_event_id == "erp-evt-9001"
    assert event.type == "erp.posted"
    assert event.occurred_at == datetime(2026, 11, 2, 9, 15)
    assert event.refs == [Ref("erp:sales_order", "SO-1042"), Ref("shop:order", "5012345678"),
                          Ref("erp:customer", "C-000381", "related")]
    assert event.lines == [Line("SKU-1", Decimal(2), "WH-1"), Line("SKU-2", Decimal("1.5"), "WH-1")]
    assert event.amount == Amount(Decimal("59.90"), "EUR", "total")
    assert event.status == "ok" and event.error is None
    assert event.traceparent == "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


def test_wms_batch_yields_one_event_per_item_with_list_refs() -> None:
    wms = source("wms", WMS_OPTIONS, (WMS_SECRET,))
    picked, shipped, counted = json_mapping.parse(delivery(WMS_BODY), wms)
    assert [e.source_event_id for e in (picked, shipped, counted)] == ["wms-1", "wms-2", "wms-3"]
    assert (picked.type, shipped.type, counted.type) == ("fulfillment.picked", "shipment.shipped", UNKNOWN_TYPE)
    assert picked.refs == [Ref("wms:shipment", "SH-77"), Ref("erp:sales_order", "SO-1042"),
                           Ref("wms:wave", "W-12", "related"), Ref("wms:sku", "SKU-1", "related")]
    assert shipped.refs == [Ref("wms:shipment", "SH-77"), Ref("erp:sales_order", "SO-1042"),
                            Ref("easypost:tracking", "EZ1000000001"), Ref("easypost:tracking", "EZ1000000002"),
                            Ref("wms:wave", "W-12", "related"), Ref("wms:sku", "SKU-1", "related")]
    assert picked.lines == [Line("SKU-1", Decimal(2), "WH-1", "reserved")]
    assert shipped.lines == [Line("SKU-1", Decimal(2), "WH-1", None)]
    assert shipped.occurred_at == datetime(2026, 11, 2, 12, 0)
    assert counted.refs == [] and counted.lines == [] and counted.amount is None


def test_returns_failure_status_epoch_time_and_refund_amount() -> None:
    returns = Source(name="returns", kind="returns", adapter="json", secrets=(RETURNS_SECRET,),
                     options=copy.deepcopy(RETURNS_OPTIONS), refs={"order.name": "shop:order_name"})
    [event] = json_mapping.parse(delivery(RETURNS_BODY), returns)
    assert (event.source, event.source_event_id, event.type) == ("returns", "88123", "return.received")
    assert event.occurred_at == datetime(2026, 10, 26, 7, 33, 20)
    assert event.status == "failed" and event.error == "card expired"
    assert event.refs == [Ref("returns:rma", "RMA-5521"), Ref("shop:order", "5012345678"),
                          Ref("shop:order_name", "#1001")]
    assert event.amount == Amount(Decimal("29.95"), "EUR", "refund")


@pytest.mark.parametrize(("value", "expected"), [("SALES_ORDER_CREATED", "order.accepted"),
                                                 ("order.cancelled", "order.cancelled"),  # canonical: passes
                                                 ("CREDIT_MEMO_POSTED", UNKNOWN_TYPE), (7, UNKNOWN_TYPE)])
def test_type_map_pass_through_and_unmapped(value: Any, expected: str) -> None:
    [event] = json_mapping.parse(delivery({**ERP_BODY, "event": value}), source())
    assert event.type == expected


@pytest.mark.parametrize("result", ["failed", "ERROR", "Failure"])
def test_failure_statuses(result: str) -> None:
    [event] = json_mapping.parse(delivery({**ERP_BODY, "result": result, "message": "G/L account blocked"}), source())
    assert event.status == "failed" and event.error == "G/L account blocked"


def test_amount_kind_from_a_path_and_optional_parts_absent() -> None:
    options = copy.deepcopy(ERP_OPTIONS)
    options["mapping"]["amount"]["kind"] = "sales_order.amount_kind"
    body = copy.deepcopy(ERP_BODY)
    body["sales_order"]["amount_kind"] = "capture"
    [event] = json_mapping.parse(delivery(body), source(options=options))
    assert event.amount == Amount(Decimal("59.90"), "EUR", "capture")
    minimal = {"event_id": "e-2", "event": "SALES_ORDER_POSTED"}
    [event] = json_mapping.parse(delivery(minimal), source())
    assert event.occurred_at is None and event.refs == [] and event.lines == [] and event.amount is None


def test_id_from_several_paths_joins_them_with_at() -> None:
    options = copy.deepcopy(ERP_OPTIONS)
    options["mapping"]["id"] = ["sales_order.number", "revision"]
    [event] = json_mapping.parse(delivery({**ERP_BODY, "revision": 3}), source(options=options))
    assert event.source_event_id == "SO-1042@3"
    assert json_mapping.dedup_key({}, json.dumps({**ERP_BODY, "revision": 3}).encode(),
                                  source(options=options)) == "SO-1042@3"
    with pytest.raises(ParseError, match="'revision'"):
        json_mapping.parse(delivery(ERP_BODY), source(options=options))


def test_polled_item_is_one_event_whatever_events_path_says() -> None:
    item = WMS_BODY["events"][1]
    [event] = json_mapping.parse(delivery(item, **{"x-crosstrace-polled": "rest"}), source("wms", WMS_OPTIONS))
    assert event.source_event_id == "wms-2" and event.type == "shipment.shipped"


# --- drift: dead letters naming the field -----------------------------------------------------------------


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b.pop("event_id"), "'event_id'"),
    (lambda b: b.update(event=""), "'event'"),
    (lambda b: b.update(posted_at="yesterday"), "'posted_at'"),
    (lambda b: b["sales_order"]["lines"][1].pop("quantity"), "'sales_order.lines.1.quantity'"),
    (lambda b: b["sales_order"]["lines"][0].pop("item_no"), "'sales_order.lines.0.item_no'"),
    (lambda b: b["sales_order"]["lines"][0].update(quantity="two"), "'sales_order.lines.0.quantity'"),
    (lambda b: b["sales_order"].pop("currency"), "'sales_order.currency'"),
])
def test_schema_drift_names_the_field(change: Any, field: str) -> None:
    body = copy.deepcopy(ERP_BODY)
    change(body)
    with pytest.raises(ParseError, match=field):
        json_mapping.parse(delivery(body), source())


def test_drift_inside_a_batch_names_the_index() -> None:
    body = copy.deepcopy(WMS_BODY)
    del body["events"][2]["type"]
    with pytest.raises(ParseError, match="'events.2.type'"):
        json_mapping.parse(delivery(body), source("wms", WMS_OPTIONS))
    with pytest.raises(ParseError, match="'events'"):
        json_mapping.parse(delivery({"batch_id": "b-1"}), source("wms", WMS_OPTIONS))
    with pytest.raises(ParseError, match="'events.0' must be a JSON object"):
        json_mapping.parse(delivery({"events": ["wms-1"]}), source("wms", WMS_OPTIONS))


def test_required_ref_missing_is_drift_and_malformed_bodies_are_parse_errors() -> None:
    returns = source("returns", RETURNS_OPTIONS)
    with pytest.raises(ParseError, match="'rma'"):
        json_mapping.parse(delivery({**RETURNS_BODY, "rma": None}), returns)
    for body in (b"{not json", b"[" * 5000, b"[1, 2]"):
        with pytest.raises(ParseError):
            json_mapping.parse(delivery(body), source())


# --- signatures and dedup ---------------------------------------------------------------------------------


def test_hmac_hex_signature_with_and_without_prefix_and_rotation() -> None:
    body = json.dumps(ERP_BODY).encode()
    rotated = source(secrets=("new-secret", ERP_SECRET))
    signature = json_mapping.sign(ERP_SECRET, body)
    for offered in (signature, "sha256=" + signature, signature.upper()):
        json_mapping.verify({"x-erp-signature": offered}, body, rotated, NOW)


@pytest.mark.parametrize("case", ["forged", "tampered", "missing", "other-header"])
def test_hmac_hex_refuses(case: str) -> None:
    body = json.dumps(ERP_BODY).encode()
    headers = {"x-erp-signature": json_mapping.sign(ERP_SECRET, body)}
    if case == "forged":
        headers = {"x-erp-signature": json_mapping.sign("guessed", body)}
    elif case == "tampered":
        body = body.replace(b"59.90", b"5.99")
    elif case == "missing":
        headers = {}
    else:
        headers = {"x-signature": headers["x-erp-signature"]}
    with pytest.raises(SignatureError):
        json_mapping.verify(headers, body, source(), NOW)
    with pytest.raises(SignatureError, match="no secret"):
        json_mapping.verify({"x-erp-signature": "00"}, body, source(secrets=()), NOW)


def test_standard_webhooks_signature_fresh_and_stale() -> None:
    wms = source("wms", WMS_OPTIONS, (WMS_SECRET,))
    body = json.dumps(WMS_BODY).encode()
    json_mapping.verify(sw_headers(body), body, wms, NOW)
    with pytest.raises(SignatureError, match="tolerance"):
        json_mapping.verify(sw_headers(body, stamp=int(NOW) - 301), body, wms, NOW)
    with pytest.raises(SignatureError):
        json_mapping.verify(sw_headers(body, secret="whsec_Zm9yZ2Vk"), body, wms, NOW)


def test_dedup_key() -> None:
    erp_body = json.dumps(ERP_BODY).encode()
    # The body-HMAC source signs no header: a webhook-id there could be anything, the body's event id is the key.
    assert json_mapping.dedup_key({"webhook-id": "msg_9"}, erp_body, source()) == "erp-evt-9001"
    wms_body = json.dumps(WMS_BODY).encode()
    assert json_mapping.dedup_key({"webhook-id": "msg_9"}, wms_body, source("wms", WMS_OPTIONS)) == "msg_9"
    assert json_mapping.dedup_key({}, erp_body, source()) == "erp-evt-9001"
    assert json_mapping.dedup_key({}, json.dumps(WMS_BODY).encode(), source("wms", WMS_OPTIONS)) is None  # a batch
    assert json_mapping.dedup_key({}, b"{oops", source()) is None
    assert json_mapping.dedup_key({}, erp_body) is None


# --- config errors at start -------------------------------------------------------------------------------


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    options = copy.deepcopy(ERP_OPTIONS)
    table = options
    for key in path[:-1]:
        table = table[key]
    del table[path[-1]]
    return options


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    options = copy.deepcopy(ERP_OPTIONS)
    table: Any = options
    for key in path[:-1]:
        table = table[key]
    table[path[-1]] = value
    return options


@pytest.mark.parametrize(("options", "key"), [
    (_without(("mapping",)), "options.mapping"),
    (_without(("mapping", "id")), "options.mapping.id"),
    (_without(("mapping", "type")), "options.mapping.type"),
    (_with(("signature",), "md5"), "options.signature"),
    (_with(("mapping", "idd"), "x"), "'idd'"),
    (_with(("mapping", "occurred_at"), "a..b"), "options.mapping.occurred_at"),
    (_with(("mapping", "id"), "events.*.id"), "options.mapping.id"),
    (_with(("mapping", "id"), []), "options.mapping.id"),
    (_with(("mapping", "id"), ["id", 7]), "options.mapping.id"),
    (_with(("mapping", "type_map", "SALES_ORDER_POSTED"), "erp.booked"), "options.mapping.type_map.SALES_ORDER_POSTED"),
    (_with(("mapping", "refs", 0, "namespace"), "sales_order"), "options.mapping.refs[0].namespace"),
    (_with(("mapping", "refs", 1, "role"), "weak"), "options.mapping.refs[1].role"),
    (_with(("mapping", "refs"), {"path": "x"}), "options.mapping.refs"),
    (_without(("mapping", "lines", "qty")), "options.mapping.lines.qty"),
    (_without(("mapping", "amount", "currency")), "options.mapping.amount.currency"),
    (_with(("mapping", "amount"), "grand_total"), "options.mapping.amount"),
])
def test_check_options_names_source_and_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=f"source 'erp'.*{key.replace('[', '.').replace(']', '.')}"):
        json_mapping.check_options(source(options=options))


def test_mapping_error_fails_app_start_naming_source_and_key() -> None:
    assert ADAPTERS["json"] is json_mapping
    raw = {"sources": [{"name": "wms", "kind": "wms", "adapter": "json", "secret": WMS_SECRET,
                        "options": {"mapping": {"id": "event_id"}}}]}
    with pytest.raises(ConfigError, match="source 'wms': options.mapping.type is required"):
        create_app(parse(raw, {}))


# --- over HTTP -------------------------------------------------------------------------------------------

HTTP_SOURCES = {"sources": [
    {"name": "erp", "kind": "erp", "adapter": "json", "secret": ERP_SECRET, "options": ERP_OPTIONS},
    {"name": "wms", "kind": "wms", "adapter": "json", "secret": WMS_SECRET, "options": WMS_OPTIONS},
]}
DEAD = '{ deliveries(filter: {state: "dead"}, first: 50) { nodes { id source state error } } }'
TRACE = """query($ref: String!) { transaction(ref: $ref) { id events { source type status } } }"""


@pytest.mark.asyncio
async def test_over_http_signed_both_ways_forged_stale_and_drift(store_url: str) -> None:
    async with running_app(store_url, extra=HTTP_SOURCES) as (client, hub):
        erp = json.dumps(ERP_BODY).encode()
        sig = {"x-erp-signature": json_mapping.sign(ERP_SECRET, erp), "content-type": "application/json"}
        first = await client.post("/hooks/erp", content=erp, headers=sig)
        again = await client.post("/hooks/erp", content=erp, headers=sig)
        assert (first.status_code, again.status_code) == (202, 200)
        assert first.json() == again.json()
        wms = json.dumps(WMS_BODY).encode()
        fresh = {**sw_headers(wms, stamp=int(time.time())), "content-type": "application/json"}
        assert (await client.post("/hooks/wms", content=wms, headers=fresh)).status_code == 202

        forged = {**sig, "x-erp-signature": json_mapping.sign("guessed", erp)}
        stale = {**sw_headers(wms, msg_id="msg_2", stamp=int(time.time()) - 3600), "content-type": "application/json"}
        for path, body, headers in (("erp", erp, forged), ("wms", wms, stale)):
            response = await client.post(f"/hooks/{path}", content=body, headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] and "signature" in response.json()["error"]["message"]

        drift = copy.deepcopy(ERP_BODY)
        drift["event_id"] = "erp-evt-9002"
        del drift["sales_order"]["currency"]
        drifted = json.dumps(drift).encode()
        response = await client.post("/hooks/erp", content=drifted, headers={
            "x-erp-signature": json_mapping.sign(ERP_SECRET, drifted), "content-type": "application/json"})
        assert response.status_code == 202
        await hub.normalizer.run_until_idle()

        dead = (await gql(client, DEAD))["data"]["deliveries"]["nodes"]
        assert [(d["id"], d["source"]) for d in dead] == [(response.json()["delivery"], "erp")]
        assert "missing field 'sales_order.currency'" in dead[0]["error"]
        tx = (await gql(client, TRACE, ref="erp:sales_order:SO-1042"))["data"]["transaction"]
        assert sorted((e["source"], e["type"]) for e in tx["events"]) == [
            ("erp", "erp.posted"), ("wms", "fulfillment.picked"), ("wms", "shipment.shipped")]
        assert (await gql(client, TRACE, ref="EZ1000000002"))["data"]["transaction"]["id"] == tx["id"]


def test_mapping_is_cached_per_source_object_never_across_sources() -> None:
    first = source()
    assert json_mapping.mapping_for(first) is json_mapping.mapping_for(first)
    changed = copy.deepcopy(ERP_OPTIONS)
    changed["mapping"]["type_map"]["SALES_ORDER_POSTED"] = "sync.succeeded"
    [before] = json_mapping.parse(delivery(ERP_BODY), first)
    [after] = json_mapping.parse(delivery(ERP_BODY), source(options=changed))
    assert (before.type, after.type) == ("erp.posted", "sync.succeeded")
