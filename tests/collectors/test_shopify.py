"""The Shopify adapter on Shopify's own REST fixtures (a webhook body is the inner resource)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from collectors import shopify
from collectors.base import ParseError, SignatureError, body_digest
from hub.config import Source
from hub.model import RELATED, UNKNOWN_TYPE, Amount, Delivery, Line, Ref
from tests.paths import FIXTURES

SECRET = "shpss_app-secret-for-tests"
OLD_SECRET = "shpss_previous-secret"
NOW = 1_700_000_000.0


def resource(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "shopify" / f"{name}.json").read_text())[name]


def make_source(**options: Any) -> Source:
    return Source(name="shop", kind="commerce", adapter="shopify", secrets=(SECRET, OLD_SECRET),
                  options={"carrier_source": "easypost", **options})


def headers_for(topic: str, body: bytes, event_id: str | None = "evt-1", **extra: str) -> dict[str, str]:
    headers = {"x-shopify-topic": topic, "x-shopify-hmac-sha256": shopify.sign(SECRET, body),
               "x-shopify-webhook-id": "wh-1", "x-shopify-shop-domain": "demo.myshopify.com", **extra}
    if event_id is not None:
        headers["x-shopify-event-id"] = event_id
    return headers


def delivery(topic: str, payload: dict[str, Any] | bytes, **headers: Any) -> Delivery:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Delivery(id="d1", source="shop", received_at=datetime(2026, 1, 1),
                    headers=headers_for(topic, body, **headers), body=body, content_type="application/json")


def parse_one(topic: str, payload: dict[str, Any], source: Source | None = None, **headers: Any):  # type: ignore[no-untyped-def]
    events = shopify.parse(delivery(topic, payload, **headers), source or make_source())
    assert len(events) == 1
    return events[0]


# --- signature -------------------------------------------------------------------------------------------


def test_sign_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = json.dumps(resource("order")).encode()
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert shopify.sign(SECRET, body) == expected


def test_verify_accepts_a_correctly_signed_order() -> None:
    body = json.dumps(resource("order")).encode()
    shopify.verify(headers_for("orders/create", body), body, make_source(), NOW)


def test_verify_accepts_the_previous_secret_during_rotation() -> None:
    body = json.dumps(resource("order")).encode()
    headers = {"x-shopify-hmac-sha256": shopify.sign(OLD_SECRET, body)}
    shopify.verify(headers, body, make_source(), NOW)


@pytest.mark.parametrize("case", ["forged", "tampered", "missing", "garbage"])
def test_verify_refuses_bad_signatures(case: str) -> None:
    body = json.dumps(resource("order")).encode()
    headers = {"x-shopify-hmac-sha256": shopify.sign(SECRET, body)}
    if case == "forged":
        headers["x-shopify-hmac-sha256"] = shopify.sign("not-the-secret", body)
    elif case == "tampered":
        body = body.replace(b'"409.94"', b'"1.00"')
    elif case == "missing":
        headers = {}
    else:
        headers["x-shopify-hmac-sha256"] = "not base64 at all"
    with pytest.raises(SignatureError):
        shopify.verify(headers, body, make_source(), NOW)


def test_verify_refuses_when_no_secret_is_configured() -> None:
    body = b"{}"
    source = Source(name="shop", kind="commerce", adapter="shopify")
    with pytest.raises(SignatureError, match="no secret"):
        shopify.verify({"x-shopify-hmac-sha256": shopify.sign("", body)}, body, source, NOW)


# --- dedup -----------------------------------------------------------------------------------------------


def test_dedup_prefers_the_event_id_which_is_stable_across_retries() -> None:
    assert shopify.dedup_key({"x-shopify-event-id": "e-9", "x-shopify-webhook-id": "w-1"}, b"{}") == "e-9"
    assert shopify.dedup_key({"x-shopify-webhook-id": "w-1"}, b"{}") == "w-1"
    assert shopify.dedup_key({}, b"{}") is None


def polled_source() -> Source:
    return make_source(poll={"style": "shopify-orders", "url": "https://demo.myshopify.com"})


def test_order_webhooks_of_a_polled_source_are_keyed_like_the_poller_keys_them() -> None:
    order = resource("order")
    body = json.dumps(order).encode()
    keys = {topic: shopify.dedup_key(headers_for(topic, body), body, polled_source())
            for topic in ("orders/create", "orders/updated", "orders/paid", "orders/cancelled")}
    assert keys == {"orders/create": "450789469:orders/create",
                    "orders/updated": "450789469@2008-01-10T11:00:00-05:00",
                    "orders/paid": "450789469:orders/paid", "orders/cancelled": "450789469:orders/cancelled"}
    # Other topics, and sources that do not poll, keep Shopify's event id.
    assert shopify.dedup_key(headers_for("fulfillment_events/create", body), body, polled_source()) == "evt-1"
    assert shopify.dedup_key(headers_for("orders/create", body), body, make_source()) == "evt-1"
    # A body without an order id (drift) falls back to the event id; the parser dead-letters it.
    assert shopify.dedup_key(headers_for("orders/create", b"{}"), b"{}", polled_source()) == "evt-1"
    assert parse_one("orders/paid", order, polled_source()).source_event_id == "450789469:orders/paid"


def test_order_steps_are_what_a_polled_order_shows_happened() -> None:
    order = resource("order")  # financial_status "authorized", not cancelled
    assert shopify.order_steps(order) == ["orders/create"]
    order.update(financial_status="partially_refunded", cancelled_at="2008-01-11T09:30:00-05:00")
    assert shopify.order_steps(order) == ["orders/create", "orders/paid", "orders/cancelled"]


def test_a_polled_refunded_order_shows_its_refunds_and_its_fulfillments_shipment_status() -> None:
    order = resource("order")  # its fulfillment 255858046 failed
    order.update(financial_status="partially_refunded", refunds=[resource("refund")])
    order["fulfillments"].append({**order["fulfillments"][0], "id": 255858047, "status": "success",
                                  "shipment_status": "delivered"})
    order["fulfillments"].append({**order["fulfillments"][0], "id": 255858048, "status": "success",
                                  "shipment_status": None})
    facts = [(topic, shopify.order_key(topic, item)) for topic, item in shopify.polled_facts(order)]
    assert facts == [("orders/create", "450789469:orders/create"), ("orders/paid", "450789469:orders/paid"),
                     ("refunds/create", "509562969:refunds/create"),
                     ("fulfillments/create", "255858046:fulfillments/create"),
                     ("fulfillments/update", "255858046@2014-01-22T15:58:27-05:00"),
                     ("fulfillments/create", "255858047:fulfillments/create"),
                     ("fulfillments/update", "255858047@2014-01-22T15:58:27-05:00"),
                     ("fulfillments/create", "255858048:fulfillments/create")]
    events = {topic: parse_one(topic, item, polled_source(), event_id=None) for topic, item in
              shopify.polled_facts(order)[2:5]}
    assert events["refunds/create"].type == "refund.issued"
    assert events["refunds/create"].amount == Amount(Decimal("209.00"), "USD", "refund")
    assert events["fulfillments/create"].type == "shipment.shipped"
    assert events["fulfillments/update"].type == "shipment.exception"
    assert {e.source_event_id for e in events.values()} == {key for _, key in facts[2:5]}


def test_a_polled_creation_is_placed_at_the_creation_time_of_a_later_version() -> None:
    order = resource("order")
    order["updated_at"] = "2008-01-12T08:00:00-05:00"
    polled = {"x-crosstrace-polled": "shopify-orders"}
    event = parse_one("orders/create", order, polled_source(), event_id=None, **polled)
    assert event.type == "order.placed" and event.source_event_id == "450789469:orders/create"
    assert event.occurred_at == datetime(2008, 1, 10, 16, 0)


# --- orders ----------------------------------------------------------------------------------------------


def test_orders_create_maps_refs_lines_and_total() -> None:
    event = parse_one("orders/create", resource("order"))
    assert event.source == "shop"
    assert event.source_event_id == "evt-1"
    assert event.type == "order.placed"
    assert event.occurred_at == datetime(2008, 1, 10, 16, 0)  # created_at 11:00-05:00
    assert event.refs == [Ref("shop:order", "450789469"), Ref("shop:order_name", "#1001")]
    assert event.lines == [Line("IPOD2008GREEN", Decimal(1)), Line("IPOD2008RED", Decimal(1)),
                           Line("IPOD2008BLACK", Decimal(1))]
    assert event.amount == Amount(Decimal("409.94"), "USD", "total")
    assert event.status == "ok" and event.error is None


def test_order_lines_carry_the_order_location_and_fall_back_to_the_variant_id() -> None:
    order = resource("order")
    order["location_id"] = 487838322
    order["line_items"][1]["sku"] = ""
    event = parse_one("orders/updated", order)
    assert event.type == "order.updated"
    assert event.lines == [Line("IPOD2008GREEN", Decimal(1), "487838322"), Line("49148385", Decimal(1), "487838322"),
                           Line("IPOD2008BLACK", Decimal(1), "487838322")]


def test_the_locations_option_names_the_location_of_orders_fulfillments_and_refund_lines() -> None:
    """A fulfillment ships from a location (real fulfillments carry its ``location_id``), a POS order and a refund
    line name one too: mapped through ``options.locations`` as inventory levels are, so their stock movements land
    on the location the other systems name; an unmapped id stays Shopify's id."""
    source = make_source(locations={"487838322": "WH-1"})
    fulfillment = {**resource("fulfillment"), "location_id": 487838322}
    assert {line.location for line in parse_one("fulfillments/create", fulfillment, source).lines} == {"WH-1"}
    order = {**resource("order"), "location_id": 487838322}
    assert {line.location for line in parse_one("orders/create", order, source).lines} == {"WH-1"}
    refund = resource("refund")
    refund["refund_line_items"][0]["location_id"] = 487838322
    assert [line.location for line in parse_one("refunds/create", refund, source).lines][:1] == ["WH-1"]
    assert {line.location for line in parse_one("fulfillments/create", {**fulfillment, "location_id": 905684977},
                                                source).lines} == {"905684977"}
    assert {line.location for line in parse_one("orders/create", resource("order"), source).lines} == {None}


def test_orders_cancelled_takes_the_cancellation_time() -> None:
    order = resource("order")
    order.update(cancelled_at="2008-01-11T09:30:00-05:00", updated_at="2008-01-11T09:30:01-05:00",
                 cancel_reason="customer")
    event = parse_one("orders/cancelled", order)
    assert event.type == "order.cancelled"
    assert event.occurred_at == datetime(2008, 1, 11, 14, 30)
    assert event.refs == [Ref("shop:order", "450789469"), Ref("shop:order_name", "#1001")]
    assert event.amount == Amount(Decimal("409.94"), "USD", "total")


def test_orders_paid_is_a_capture_of_the_total() -> None:
    event = parse_one("orders/paid", resource("order"))
    assert event.type == "payment.captured"
    assert event.refs == [Ref("shop:order", "450789469"), Ref("shop:order_name", "#1001")]
    assert event.amount == Amount(Decimal("409.94"), "USD", "capture")
    assert event.lines == []


def test_orders_paid_carries_no_amount_when_a_payment_source_counts_the_money() -> None:
    event = parse_one("orders/paid", resource("order"), make_source(count_payments=False))
    assert event.type == "payment.captured"
    assert event.amount is None


def test_configured_refs_are_taken_from_the_payload() -> None:
    source = Source(name="shop", kind="commerce", adapter="shopify", secrets=(SECRET,),
                    refs={"reference": "pos:ticket", "customer.id": "crm:customer"})
    event = parse_one("orders/create", resource("order"), source)
    assert event.refs == [Ref("shop:order", "450789469"), Ref("shop:order_name", "#1001"),
                          Ref("pos:ticket", "fhwdgads"), Ref("crm:customer", "207119551")]


# --- fulfillments ----------------------------------------------------------------------------------------


def test_fulfillments_create_links_the_order_and_the_carrier_tracking_number() -> None:
    event = parse_one("fulfillments/create", resource("fulfillment"))
    assert event.type == "shipment.shipped"
    assert event.occurred_at == datetime(2013, 11, 1, 20, 6, 8)
    assert event.refs == [Ref("shop:fulfillment", "255858046"), Ref("shop:order", "450789469"),
                          Ref("easypost:tracking", "1Z2345")]
    assert event.lines == [Line("IPOD2008GREEN", Decimal(1))]
    assert event.amount is None


def test_tracking_refs_default_to_the_own_namespace_and_follow_a_per_carrier_map() -> None:
    plain = Source(name="shop", kind="commerce", adapter="shopify", secrets=(SECRET,))
    assert Ref("shop:tracking", "1Z2345") in parse_one("fulfillments/create", resource("fulfillment"), plain).refs
    fulfillment = resource("fulfillment")
    fulfillment.update(tracking_company="UPS", tracking_numbers=["1Z2345", "1Z9999"], location_id=905684977)
    source = make_source(carrier_sources={"ups": "ups-api"})
    event = parse_one("fulfillments/create", fulfillment, source)
    assert event.refs[2:] == [Ref("ups-api:tracking", "1Z2345"), Ref("ups-api:tracking", "1Z9999")]
    assert event.lines == [Line("IPOD2008GREEN", Decimal(1), "905684977")]


@pytest.mark.parametrize(("status", "shipment_status", "expected_type", "has_lines", "failed"), [
    ("success", "delivered", "shipment.delivered", True, False),
    ("success", "in_transit", "shipment.in_transit", False, False),
    ("success", "out_for_delivery", "shipment.in_transit", False, False),
    ("success", "failure", "shipment.exception", False, True),
    ("cancelled", None, "shipment.exception", False, True),
    ("success", None, "shipment.shipped", False, False),
    ("success", "label_printed", "shipment.shipped", False, False),
])
def test_fulfillments_update_follows_the_shipment_status(status: str, shipment_status: str | None,
                                                          expected_type: str, has_lines: bool, failed: bool) -> None:
    fulfillment = resource("fulfillment")
    fulfillment.update(status=status, shipment_status=shipment_status)
    event = parse_one("fulfillments/update", fulfillment)
    assert event.type == expected_type
    assert event.refs == [Ref("shop:fulfillment", "255858046"), Ref("shop:order", "450789469"),
                          Ref("easypost:tracking", "1Z2345")]
    assert event.lines == ([Line("IPOD2008GREEN", Decimal(1))] if has_lines else [])
    assert event.status == ("failed" if failed else "ok")
    assert (event.error is not None) == failed


# --- refunds and inventory -------------------------------------------------------------------------------


def test_refunds_create_maps_the_refunded_lines_and_money() -> None:
    event = parse_one("refunds/create", resource("refund"))
    assert event.type == "refund.issued"
    assert event.occurred_at == datetime(2016, 6, 20, 17, 35, 6)
    assert event.refs == [Ref("shop:refund", "509562969"), Ref("shop:order", "450789469")]
    assert event.lines == [Line("IPOD2008BLACK", Decimal(1)), Line("IPOD2008GREEN", Decimal(1))]
    assert event.amount == Amount(Decimal("209.00"), "USD", "refund")


def test_refund_amount_counts_only_successful_refund_transactions() -> None:
    refund = resource("refund")
    failed = {**refund["transactions"][0], "id": 2, "status": "failure", "amount": "50.00"}
    second = {**refund["transactions"][0], "id": 3, "amount": "1.50"}
    refund["transactions"] += [failed, second]
    assert parse_one("refunds/create", refund).amount == Amount(Decimal("210.50"), "USD", "refund")
    refund["transactions"] = []
    assert parse_one("refunds/create", refund).amount is None


UNRESOLVED = [Ref("shop:inventory_item", "808950810", RELATED), Ref("shop:location", "905684977", RELATED),
              Ref("shop:unresolved_inventory_item", "808950810", RELATED),
              Ref("shop:unresolved_location", "905684977", RELATED)]


def test_inventory_level_update_is_a_snapshot_of_available_stock() -> None:
    event = parse_one("inventory_levels/update", resource("inventory_level"))
    assert event.type == "inventory.snapshot"
    assert event.occurred_at == datetime(2018, 5, 7, 19, 51, 26)
    # No mapping and no Admin API token: Shopify's ids stand in, and the event says they are unresolved.
    assert event.lines == [Line("808950810", Decimal(6), "905684977", "available")]
    assert event.refs == UNRESOLVED


def test_an_untracked_inventory_level_has_no_quantity_to_report() -> None:
    level = resource("inventory_level")
    level["available"] = None
    event = parse_one("inventory_levels/update", level)
    assert event.type == "inventory.snapshot"
    assert event.lines == []
    assert event.refs == UNRESOLVED


def test_inventory_level_time_falls_back_to_the_triggered_at_header() -> None:
    level = resource("inventory_level")
    del level["updated_at"]
    event = parse_one("inventory_levels/update", level, **{"x-shopify-triggered-at": "2026-03-01T10:00:00.123Z"})
    assert event.occurred_at == datetime(2026, 3, 1, 10, 0, 0, 123000)


# --- unknown topics and drift ----------------------------------------------------------------------------


def test_an_unmapped_topic_is_an_unknown_event_with_whatever_refs_its_resource_has() -> None:
    event = parse_one("orders/fulfilled", resource("order"))
    assert event.type == UNKNOWN_TYPE
    assert event.refs == [Ref("shop:order", "450789469"), Ref("shop:order_name", "#1001")]
    assert event.lines == [] and event.amount is None
    other = parse_one("locations/update", resource("location"))
    assert other.type == UNKNOWN_TYPE and other.refs == []
    # a resource that names its order lands on the order's trace rather than alone
    refund = parse_one("order_transactions/create", dict(resource("transaction"), kind="refund"))
    assert refund.type == UNKNOWN_TYPE and refund.refs[0] == Ref("shop:order", "450789469")
    assert other.occurred_at == datetime(2015, 12, 8, 16, 44, 58)


def test_without_delivery_ids_the_event_id_is_the_body_digest() -> None:
    body = json.dumps(resource("order")).encode()
    headers = {"x-shopify-topic": "orders/create", "x-shopify-hmac-sha256": shopify.sign(SECRET, body)}
    item = Delivery(id="d1", source="shop", received_at=datetime(2026, 1, 1), headers=headers, body=body)
    assert shopify.parse(item, make_source())[0].source_event_id == body_digest(body)


@pytest.mark.parametrize(("topic", "name", "drop", "field"), [
    ("orders/create", "order", "total_price", "total_price"),
    ("orders/create", "order", "currency", "currency"),
    ("orders/create", "order", "id", "id"),
    ("fulfillments/create", "fulfillment", "order_id", "order_id"),
    ("refunds/create", "refund", "order_id", "order_id"),
    ("inventory_levels/update", "inventory_level", "location_id", "location_id"),
])
def test_schema_drift_names_the_missing_field(topic: str, name: str, drop: str, field: str) -> None:
    payload = resource(name)
    del payload[drop]
    with pytest.raises(ParseError, match=f"'{field}'"):
        parse_one(topic, payload)


def test_a_line_without_quantity_is_drift_naming_the_line() -> None:
    order = resource("order")
    del order["line_items"][2]["quantity"]
    with pytest.raises(ParseError, match="'line_items.2.quantity'"):
        parse_one("orders/create", order)


def test_bad_bodies_and_a_missing_topic_are_parse_errors() -> None:
    with pytest.raises(ParseError, match="malformed JSON"):
        shopify.parse(delivery("orders/create", b"{not json"), make_source())
    with pytest.raises(ParseError, match="JSON object"):
        shopify.parse(delivery("orders/create", b"[1, 2]"), make_source())
    with pytest.raises(ParseError, match="nested deeper"):
        shopify.parse(delivery("orders/create", b"[" * 5000 + b"]" * 5000), make_source())
    item = delivery("orders/create", resource("order"))
    del item.headers["x-shopify-topic"]
    with pytest.raises(ParseError, match="X-Shopify-Topic"):
        shopify.parse(item, make_source())


def test_a_non_numeric_total_is_drift() -> None:
    order = resource("order")
    order["total_price"] = "NaN"
    with pytest.raises(ParseError, match="'total_price'"):
        parse_one("orders/create", order)
