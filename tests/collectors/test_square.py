"""The Square adapter: the published signature vector, and payloads in Square's documented webhook format.

Signature: ``square/signature-vector.json`` (square-python-sdk's own test vector). Payload shapes follow
the example payloads of Square's webhook reference, one page per event type:
https://developer.squareup.com/reference/square/webhooks/order.created (``order_created``),
…/order.updated (``order_updated``), …/payment.created and …/payment.updated (``object.payment``),
…/refund.created and …/refund.updated (``object.refund``), …/inventory.count.updated
(``object.inventory_counts``; the before/after pair of a state change is described in
https://developer.squareup.com/docs/inventory-api/webhooks).
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from collectors import square
from collectors.base import ParseError, SignatureError
from hub.config import Source
from hub.errors import ConfigError
from hub.model import RELATED, UNKNOWN_TYPE, Amount, Delivery, Event, Line, Ref
from tests.paths import FIXTURES

VECTOR: dict[str, Any] = json.loads((FIXTURES / "square" / "signature-vector.json").read_text())
KEY = "sq0wsk_signature-key-for-tests"
URL = "https://hub.example.com/hooks/pos"
NOW = 1_700_000_000.0


def make_source(key: str = KEY, url: str | None = URL, refs: dict[str, str] | None = None) -> Source:
    return Source(name="pos", kind="pos", adapter="square", secrets=(key,), refs=refs or {},
                  options={} if url is None else {"notification_url": url})


def notification(event_type: str, data_type: str, data_id: str, obj: dict[str, Any],
                 event_id: str = "116038d3-2948-439f-8679-fc86dbf80f69") -> dict[str, Any]:
    return {"merchant_id": "5S9MXCS9Y99KK", "type": event_type, "event_id": event_id,
            "created_at": "2020-04-16T23:14:26.129Z", "data": {"type": data_type, "id": data_id, "object": obj}}


def parse(payload: dict[str, Any] | bytes, source: Source | None = None) -> list[Event]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"x-square-hmacsha256-signature": square.sign(KEY, URL, body), "content-type": "application/json"}
    return square.parse(Delivery(id="d1", source="pos", received_at=datetime(2026, 1, 1), headers=headers, body=body),
                        source or make_source())


def parse_one(payload: dict[str, Any], source: Source | None = None) -> Event:
    events = parse(payload, source)
    assert len(events) == 1
    return events[0]


OCCURRED = datetime(2020, 4, 16, 23, 14, 26, 129000)
ORDER_ID = "eA3vssLHKJrv9H0IdJCM3gNqfdcZY"
PAYMENT_ID = "hYy9pRFVxpDsO1FB05SunFWUe9JZY"
REFUND_ID = "hYy9pRFVxpDsO1FB05SunFWUe9JZY_ptNfZONjkuo9IkSoQ9Bn26hh2cBpqb1ZFxE9d0Pg"


def order_event(event_type: str, state: str = "OPEN") -> dict[str, Any]:
    key = "order_created" if event_type == "order.created" else "order_updated"
    body = {"created_at": "2020-04-16T23:14:26.129Z", "location_id": "FPYCBCHYMXFK1", "order_id": ORDER_ID,
            "state": state, "version": 1}
    if key == "order_updated":
        body["updated_at"] = "2020-04-16T23:14:26.359Z"
    return notification(event_type, "order", ORDER_ID, {key: body})


def payment(status: str = "COMPLETED", **changes: Any) -> dict[str, Any]:
    return {"amount_money": {"amount": 100, "currency": "USD"}, "approved_money": {"amount": 100, "currency": "USD"},
            "card_details": {"card": {"card_brand": "VISA", "last_4": "1111"}, "entry_method": "KEYED",
                             "status": "CAPTURED"},
            "created_at": "2020-11-22T21:16:51.086Z", "id": PAYMENT_ID, "location_id": "S8GWD5R9QB376",
            "order_id": "03O3USaPaAaFnI6kkwB1JxGgBsUZY", "receipt_number": "hYy9", "source_type": "CARD",
            "status": status, "tip_money": {"amount": 20, "currency": "USD"},
            "total_money": {"amount": 120, "currency": "USD"}, "updated_at": "2020-11-22T21:16:51.198Z",
            "version_token": "FfQhQJf9r3VSQIgyWBk1oqhIwiznLwVwJbVVA0bdyEv6o", **changes}


def payment_event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return notification(event_type, "payment", data["id"], {"payment": data})


def refund_event(event_type: str, status: str = "PENDING") -> dict[str, Any]:
    refund = {"amount_money": {"amount": 100, "currency": "USD"}, "created_at": "2020-02-06T21:27:41.836Z",
              "id": REFUND_ID, "location_id": "NAQ1FHV6ZJ8YV", "order_id": "haOyDuHiqtAXMk3SDfsYz8ZsfnW4",
              "payment_id": PAYMENT_ID, "status": status, "updated_at": "2020-02-06T21:27:41.836Z"}
    return notification(event_type, "refund", REFUND_ID, {"refund": refund})


def inventory_event(*counts: dict[str, Any]) -> dict[str, Any]:
    return notification("inventory.count.updated", "inventory", "84e4ac73-d605-4dbd-a9e5-ffff794ddb9d",
                        {"inventory_counts": list(counts)}, event_id="df5f3813-a913-45a1-94e9-fdc3f7d5e3b6")


def count(state: str, quantity: str = "10") -> dict[str, Any]:
    return {"calculated_at": "2019-10-29T18:38:45.10296Z", "catalog_object_id": "FGQ5JJWT2PYTHF35CKZ2DSKP",
            "catalog_object_type": "ITEM_VARIATION", "location_id": "YYQR03DGCTXA4", "quantity": quantity,
            "state": state}


# --- signature: the published vector ---------------------------------------------------------------------


def vector_source(key: str | None = None, url: str | None = None) -> Source:
    return make_source(key or VECTOR["signature_key"], url or VECTOR["notification_url"])


def test_sign_reproduces_the_published_vector() -> None:
    body = VECTOR["body"].encode()
    assert square.sign(VECTOR["signature_key"], VECTOR["notification_url"], body) == VECTOR["signature"]


def test_verify_accepts_the_published_vector() -> None:
    square.verify({VECTOR["header"]: VECTOR["signature"]}, VECTOR["body"].encode(), vector_source(), NOW)


def test_verify_accepts_any_configured_key_during_rotation() -> None:
    source = Source(name="pos", kind="pos", adapter="square", secrets=("old-key", VECTOR["signature_key"]),
                    options={"notification_url": VECTOR["notification_url"]})
    square.verify({VECTOR["header"]: VECTOR["signature"]}, VECTOR["body"].encode(), source, NOW)


@pytest.mark.parametrize("case", ["wrong_url", "wrong_key"])
def test_verify_refuses_the_published_negative_cases(case: str) -> None:
    source = vector_source(url=VECTOR["negative"][case]) if case == "wrong_url" else \
        vector_source(key=VECTOR["negative"][case])
    with pytest.raises(SignatureError):
        square.verify({VECTOR["header"]: VECTOR["signature"]}, VECTOR["body"].encode(), source, NOW)


@pytest.mark.parametrize("case", ["tampered", "missing", "forged"])
def test_verify_refuses_forged_deliveries(case: str) -> None:
    body = VECTOR["body"].encode()
    headers = {VECTOR["header"]: VECTOR["signature"]}
    if case == "tampered":
        body = body.replace(b"MLEFBHHSJGVHD", b"MLEFBHHSJGVHE")
    elif case == "missing":
        headers = {}
    else:
        headers = {VECTOR["header"]: square.sign("attacker-key", VECTOR["notification_url"], body)}
    with pytest.raises(SignatureError):
        square.verify(headers, body, vector_source(), NOW)


def test_verify_refuses_without_a_notification_url_or_a_key() -> None:
    body = VECTOR["body"].encode()
    no_url = Source(name="pos", kind="pos", adapter="square", secrets=(VECTOR["signature_key"],))
    with pytest.raises(SignatureError, match="notification_url"):
        square.verify({VECTOR["header"]: VECTOR["signature"]}, body, no_url, NOW)
    no_key = Source(name="pos", kind="pos", adapter="square", options={"notification_url": VECTOR["notification_url"]})
    with pytest.raises(SignatureError, match="no secret"):
        square.verify({VECTOR["header"]: VECTOR["signature"]}, body, no_key, NOW)


@pytest.mark.parametrize("url", [None, "", "square.example/hooks", 42])
def test_check_options_requires_the_notification_url(url: object) -> None:
    square.check_options(vector_source())
    options = {} if url is None else {"notification_url": url}
    with pytest.raises(ConfigError, match="source 'pos': options.notification_url"):
        square.check_options(Source(name="pos", kind="pos", adapter="square", secrets=("k",), options=options))


def test_dedup_key_is_the_event_id() -> None:
    assert square.dedup_key({}, VECTOR["body"].encode()) == "ac3ac95b-f97d-458c-a6e6-18981597e05f"
    assert square.dedup_key({}, b"{oops") is None
    assert square.dedup_key({}, b'{"event_id": 7}') is None


def test_the_test_notification_is_an_unknown_event() -> None:
    event = parse_one(json.loads(VECTOR["body"]))
    assert event.type == UNKNOWN_TYPE
    assert event.source == "pos"
    assert event.source_event_id == "ac3ac95b-f97d-458c-a6e6-18981597e05f"
    assert event.occurred_at == datetime(2022, 7, 13, 20, 30, 59, 37339)
    assert event.refs == [] and event.lines == [] and event.amount is None


# --- orders ----------------------------------------------------------------------------------------------


def test_order_created_is_placed() -> None:
    event = parse_one(order_event("order.created"))
    assert event.type == "order.placed"
    assert event.source_event_id == "116038d3-2948-439f-8679-fc86dbf80f69"
    assert event.occurred_at == OCCURRED
    assert event.refs == [Ref("pos:order", ORDER_ID), Ref("pos:location", "FPYCBCHYMXFK1", RELATED)]
    assert event.lines == [] and event.amount is None and event.status == "ok"


@pytest.mark.parametrize(("state", "expected"), [("OPEN", "order.updated"), ("COMPLETED", "order.updated"),
                                                 ("CANCELED", "order.cancelled")])
def test_order_updated_follows_the_order_state(state: str, expected: str) -> None:
    event = parse_one(order_event("order.updated", state))
    assert event.type == expected
    assert event.refs == [Ref("pos:order", ORDER_ID), Ref("pos:location", "FPYCBCHYMXFK1", RELATED)]


def test_configured_refs_apply_to_the_whole_body() -> None:
    source = make_source(refs={"data.object.payment.reference_id": "shop:order"})
    event = parse_one(payment_event("payment.created", payment(reference_id="450789469")), source)
    assert event.refs[-1] == Ref("shop:order", "450789469")


# --- payments and refunds --------------------------------------------------------------------------------


def test_a_completed_payment_created_is_a_capture_of_the_total() -> None:
    event = parse_one(payment_event("payment.created", payment("COMPLETED")))
    assert event.type == "payment.captured"
    assert event.refs == [Ref("pos:payment", PAYMENT_ID), Ref("pos:order", "03O3USaPaAaFnI6kkwB1JxGgBsUZY"),
                          Ref("pos:location", "S8GWD5R9QB376", RELATED)]
    assert event.amount == Amount(Decimal("1.20"), "USD", "capture")  # total_money: amount + tip
    assert event.status == "ok" and event.error is None


def test_a_payment_not_taken_by_card_is_a_tender_no_payout_pays() -> None:
    gift = payment(card_details={"card": {"card_brand": "SQUARE_GIFT_CARD", "last_4": "0000"}, "status": "CAPTURED"})
    assert parse_one(payment_event("payment.created", gift)).amount == Amount(Decimal("1.20"), "USD", "gift_card")
    cash = payment(source_type="CASH", card_details=None)
    assert parse_one(payment_event("payment.created", cash)).amount == Amount(Decimal("1.20"), "USD", "cash")
    external = payment(source_type="EXTERNAL", card_details=None)
    assert parse_one(payment_event("payment.created", external)).amount.kind == "external"
    wallet = payment(source_type="WALLET", card_details=None)
    assert parse_one(payment_event("payment.created", wallet)).amount.kind == "capture"


def test_an_approved_payment_is_an_authorization() -> None:
    event = parse_one(payment_event("payment.created", payment("APPROVED")))
    assert event.type == "payment.authorized"
    assert event.amount == Amount(Decimal("1.00"), "USD", "authorization")


def test_payment_updated_carries_no_amount_so_the_capture_is_counted_once() -> None:
    event = parse_one(payment_event("payment.updated", payment("COMPLETED")))
    assert event.type == "payment.captured"
    assert event.refs[0] == Ref("pos:payment", PAYMENT_ID)
    assert event.amount is None


@pytest.mark.parametrize(("status", "errors", "message"), [
    ("FAILED", [{"category": "PAYMENT_METHOD_ERROR", "code": "GENERIC_DECLINE", "detail": "Card declined."}],
     "Card declined."),
    ("FAILED", None, "payment FAILED"),
    ("CANCELED", None, "payment CANCELED"),
])
def test_failed_and_canceled_payments_are_failures(status: str, errors: list[dict[str, str]] | None,
                                                   message: str) -> None:
    data = payment(status)
    if errors:
        data["card_details"]["errors"] = errors
    event = parse_one(payment_event("payment.updated", data))
    assert event.type == "payment.failed"
    assert event.status == "failed"
    assert event.error == message


def test_zero_decimal_currencies_are_not_divided() -> None:
    data = payment("COMPLETED", total_money={"amount": 1500, "currency": "JPY"})
    assert parse_one(payment_event("payment.created", data)).amount == Amount(Decimal("1500"), "JPY", "capture")


def test_refund_created_is_a_refund_with_its_amount() -> None:
    event = parse_one(refund_event("refund.created"))
    assert event.type == "refund.issued"
    assert event.occurred_at == OCCURRED
    assert event.refs == [Ref("pos:refund", REFUND_ID), Ref("pos:payment", PAYMENT_ID),
                          Ref("pos:order", "haOyDuHiqtAXMk3SDfsYz8ZsfnW4"),
                          Ref("pos:location", "NAQ1FHV6ZJ8YV", RELATED)]
    assert event.amount == Amount(Decimal("1.00"), "USD", "refund")
    assert event.status == "ok"


@pytest.mark.parametrize(("status", "failed"), [("COMPLETED", False), ("REJECTED", True), ("FAILED", True)])
def test_refund_updated_reports_the_outcome_without_recounting(status: str, failed: bool) -> None:
    event = parse_one(refund_event("refund.updated", status))
    assert event.type == "refund.issued"
    assert event.amount is None
    assert event.status == ("failed" if failed else "ok")
    assert event.error == (f"refund {status}" if failed else None)


# --- inventory -------------------------------------------------------------------------------------------


def test_inventory_count_updated_is_a_snapshot_line_per_count() -> None:
    event = parse_one(inventory_event(count("IN_STOCK")))
    assert event.type == "inventory.snapshot"
    assert event.source_event_id == "df5f3813-a913-45a1-94e9-fdc3f7d5e3b6"
    assert event.occurred_at == OCCURRED
    assert event.lines == [Line("FGQ5JJWT2PYTHF35CKZ2DSKP", Decimal("10"), "YYQR03DGCTXA4", "on_hand")]
    assert event.refs == [Ref("pos:catalog_object", "FGQ5JJWT2PYTHF35CKZ2DSKP", RELATED),
                          Ref("pos:location", "YYQR03DGCTXA4", RELATED)]


def test_a_state_change_keeps_stock_states_and_drops_flow_states() -> None:
    event = parse_one(inventory_event(count("IN_STOCK", "12.375"), count("SOLD", "1"), count("WASTE", "2"),
                                      count("RESERVED_FOR_SALE", "3"), count("RETURNED_BY_CUSTOMER", "1"),
                                      count("IN_TRANSIT_TO", "4"), count("NONE", "5")))
    assert [(line.state, line.qty) for line in event.lines] == [
        ("on_hand", Decimal("12.375")), ("damaged", Decimal("2")), ("reserved", Decimal("3")),
        ("returned", Decimal("1")), ("in_transit", Decimal("4"))]


@pytest.mark.parametrize(("drop", "field"), [("quantity", "quantity"), ("location_id", "location_id"),
                                             ("catalog_object_id", "catalog_object_id"), ("state", "state")])
def test_an_inventory_count_missing_a_field_is_drift(drop: str, field: str) -> None:
    broken = count("IN_STOCK")
    del broken[drop]
    with pytest.raises(ParseError, match=field):
        parse(inventory_event(count("IN_STOCK"), broken))


def test_a_non_numeric_quantity_is_drift() -> None:
    with pytest.raises(ParseError, match="inventory_counts.0.quantity"):
        parse(inventory_event(count("IN_STOCK", "lots")))


# --- unknown types and drift -----------------------------------------------------------------------------


def test_an_unmapped_type_is_unknown_but_keeps_a_known_object_ref() -> None:
    event = parse_one(notification("order.fulfillment.updated", "order_fulfillment_updated", ORDER_ID,
                                   {"order_fulfillment_updated": {"order_id": ORDER_ID, "state": "OPEN"}}))
    assert event.type == UNKNOWN_TYPE
    assert event.refs == [Ref("pos:order", ORDER_ID)]
    event = parse_one(notification("customer.created", "customer", "JDKYHBWT1D4F8MFH63DBMEN8Y4", {}))
    assert event.type == UNKNOWN_TYPE and event.refs == []


@pytest.mark.parametrize(("payload", "field"), [
    ({k: v for k, v in order_event("order.created").items() if k != "event_id"}, "event_id"),
    ({k: v for k, v in order_event("order.created").items() if k != "created_at"}, "created_at"),
    ({k: v for k, v in order_event("order.created").items() if k != "type"}, "type"),
    (notification("order.created", "order", ORDER_ID, {}), "data.object.order_created"),
    (notification("payment.created", "payment", PAYMENT_ID, {"payment": {"id": PAYMENT_ID}}),
     "data.object.payment.status"),
    (notification("payment.created", "payment", PAYMENT_ID, {"payment": {"status": "COMPLETED"}}),
     "data.object.payment.id"),
    (notification("refund.created", "refund", REFUND_ID, {"refund": {"status": "PENDING"}}),
     "data.object.refund.id"),
    (notification("inventory.count.updated", "inventory", "x", {}), "data.object.inventory_counts"),
])
def test_schema_drift_names_the_missing_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(ParseError, match=f"'{field}'"):
        parse(payload)


def test_money_without_a_currency_is_drift() -> None:
    data = payment("COMPLETED", total_money={"amount": 120})
    with pytest.raises(ParseError, match="data.object.payment.total_money.currency"):
        parse(payment_event("payment.created", data))


def test_bad_bodies_are_parse_errors() -> None:
    with pytest.raises(ParseError, match="malformed JSON"):
        parse(b"{nope")
    with pytest.raises(ParseError, match="JSON object"):
        parse(b"[]")
    payload = copy.deepcopy(order_event("order.created"))
    payload["created_at"] = "yesterday"
    with pytest.raises(ParseError, match="created_at"):
        parse(payload)
