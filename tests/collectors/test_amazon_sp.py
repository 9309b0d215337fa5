"""The Amazon SP-API adapter on the examples embedded in Amazon's notification schemas.

``OrderChangeNotification`` and ``ItemInventoryEventChangeNotification`` are whole notifications;
the FBA_INVENTORY_AVAILABILITY_CHANGES example is only the payload, so it is wrapped here in the
notification envelope the same schema defines (NotificationVersion/Type, EventTime, Payload,
NotificationMetadata). The EventBridge wrapping follows the EventBridge event structure
(https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html): the notification is
``detail``. Authentication is the API destination connection's static header (nothing is signed).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from collectors import ADAPTERS, amazon_sp
from collectors.base import ParseError, SignatureError, body_digest
from hub.config import Source
from hub.errors import ConfigError
from hub.model import RELATED, UNKNOWN_TYPE, Delivery, Line, Ref
from tests.paths import FIXTURES
from tests.support import gql, running_app

FOLDER = FIXTURES / "amazon-sp"
SECRET = "eb-connection-key-1f0c"
NOW = 1_793_000_000.0
SUPPLY_SOURCE = "d7679e14-031b-4ab3-a81b-ec4fc7a460b3"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FOLDER / name).read_text())


def order_change() -> dict[str, Any]:
    return fixture("OrderChangeNotification.example.json")


def item_inventory() -> dict[str, Any]:
    return fixture("ItemInventoryEventChangeNotification.example.json")


def fba_inventory() -> dict[str, Any]:
    return {"NotificationVersion": "1.0", "NotificationType": "FBA_INVENTORY_AVAILABILITY_CHANGES",
            "PayloadVersion": "1.0", "EventTime": "2020-07-13T19:42:04.284Z",
            "Payload": fixture("FBAInventoryAvailabilityChangeNotification.example.json"),
            "NotificationMetadata": {"ApplicationId": "app-id-1", "SubscriptionId": "subscription-id-1",
                                     "PublishTime": "2020-07-13T19:42:04.284Z", "NotificationId": "fba-notif-1"}}


def eventbridge(notification: dict[str, Any], event_id: str = "eb-7f1c") -> dict[str, Any]:
    return {"version": "0", "id": event_id, "detail-type": notification.get("NotificationType", "notification"),
            "source": "aws.partner/sellingpartnerapi.amazon/amzn1.sellerapps.app.1", "account": "123456789012",
            "time": "2022-11-29T19:42:05Z", "region": "us-east-1", "resources": [], "detail": notification}


def make_source(**options: Any) -> Source:
    return Source(name="amazon", kind="marketplace", adapter="amazon-sp", secrets=("old-key", SECRET),
                  options=options)


def parse_one(payload: dict[str, Any] | bytes, source: Source | None = None):  # type: ignore[no-untyped-def]
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    delivery = Delivery(id="d1", source="amazon", received_at=datetime(2026, 1, 1),
                        headers={"x-crosstrace-secret": SECRET}, body=body, content_type="application/json")
    events = amazon_sp.parse(delivery, source or make_source())
    assert len(events) == 1
    return events[0]


# --- authentication and dedup -----------------------------------------------------------------------------


def test_registered_and_shared_secret_header_is_accepted_with_rotation() -> None:
    assert ADAPTERS["amazon-sp"] is amazon_sp
    body = json.dumps(order_change()).encode()
    amazon_sp.verify(amazon_sp.sign(SECRET), body, make_source(), NOW)
    amazon_sp.verify(amazon_sp.sign("old-key"), body, make_source(), NOW)
    custom = make_source(secret_header="X-Api-Key")
    amazon_sp.verify({"x-api-key": SECRET}, body, custom, NOW)


@pytest.mark.parametrize(("headers", "message"), [
    ({"x-crosstrace-secret": "guessed"}, "does not match"),
    ({"x-crosstrace-secret": SECRET + "x"}, "does not match"),
    ({}, "missing x-crosstrace-secret"),
    ({"x-api-key": SECRET}, "missing x-crosstrace-secret"),
])
def test_wrong_or_missing_secret_is_refused(headers: dict[str, str], message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        amazon_sp.verify(headers, b"{}", make_source(), NOW)
    with pytest.raises(SignatureError):
        amazon_sp.verify(amazon_sp.sign(SECRET), b"{}", Source("amazon", "marketplace", "amazon-sp"), NOW)


def test_dedup_key_is_the_notification_type_and_id_in_either_casing() -> None:
    """Amazon's published examples reuse one NotificationId across types: the type keeps them apart."""
    notification_id = "d0e9e693-c3ad-4373-979f-ed4ec98dd746"
    assert amazon_sp.dedup_key({}, json.dumps(order_change()).encode()) == f"ORDER_CHANGE:{notification_id}"
    assert amazon_sp.dedup_key({}, json.dumps(item_inventory()).encode()) \
        == f"ITEM_INVENTORY_EVENT_CHANGE:{notification_id}"
    wrapped = eventbridge(order_change())
    assert amazon_sp.dedup_key({}, json.dumps(wrapped).encode()) == "ORDER_CHANGE:d0e9e693-c3ad-4373-979f-ed4ec98dd746"
    del wrapped["detail"]["NotificationMetadata"]
    assert amazon_sp.dedup_key({}, json.dumps(wrapped).encode()) == "ORDER_CHANGE:eb-7f1c"
    del wrapped["detail"]["NotificationType"]
    assert amazon_sp.dedup_key({}, json.dumps(wrapped).encode()) == "eb-7f1c"
    assert amazon_sp.dedup_key({}, b"not json") is None and amazon_sp.dedup_key({}, b"[]") is None


# --- the three fixtures, field by field -------------------------------------------------------------------


def test_order_change_buyer_requested_cancel_field_by_field() -> None:
    event = parse_one(order_change(), make_source(locations={SUPPLY_SOURCE: "WH-1"}))
    assert (event.source, event.source_event_id) == ("amazon", "ORDER_CHANGE:d0e9e693-c3ad-4373-979f-ed4ec98dd746")
    assert event.type == "order.updated"  # a buyer's request changes no status yet
    assert event.occurred_at == datetime(2022, 11, 29, 19, 42, 4, 284000)  # TimeOfOrderChange, not EventTime
    assert event.lines == [Line("SellerSKUID1", Decimal(10), "WH-1")]
    assert event.refs == [Ref("amazon:order", "903-8868176-2219830"), Ref("amazon:sku", "SellerSKUID1", RELATED)]
    assert event.status == "ok" and event.amount is None


@pytest.mark.parametrize(("status", "expected", "qty"), [
    ("Pending", "order.placed", 10), ("Unshipped", "order.accepted", 10), ("Shipped", "shipment.shipped", 4),
    ("Canceled", "order.cancelled", 10), ("PartiallyShipped", "order.updated", 10)])
def test_order_status_changes(status: str, expected: str, qty: int) -> None:
    payload = order_change()
    body = payload["Payload"]["OrderChangeNotification"]
    body["OrderChangeType"] = "OrderStatusChange"
    body["Summary"]["OrderStatus"] = status
    body["Summary"]["OrderItems"][0]["QuantityShipped"] = 4
    event = parse_one(payload)
    assert event.type == expected
    assert event.lines == [Line("SellerSKUID1", Decimal(qty), SUPPLY_SOURCE)]


def test_item_inventory_event_change_in_lower_camel_case() -> None:
    event = parse_one(item_inventory(), make_source(locations={"ATVPDKIKX0DER": "AMZ-US"}))
    assert event.type == "inventory.snapshot"
    assert event.source_event_id == "ITEM_INVENTORY_EVENT_CHANGE:d0e9e693-c3ad-4373-979f-ed4ec98dd746"
    assert event.occurred_at == datetime(2023, 2, 7, 16, 5, 32, 378000)
    assert event.lines == [Line("B00032HE0O", Decimal(650), "AMZ-US", "available"),
                           Line("B00094A20U", Decimal(519), "AMZ-US", "available")]
    assert event.refs == [Ref("amazon:asin", "B00032HE0O", RELATED), Ref("amazon:asin", "B00094A20U", RELATED)]


def test_fba_inventory_availability_per_marketplace_and_state() -> None:
    event = parse_one(fba_inventory(), make_source(locations={"ATVPDKIKX0DER": "FBA-US"}))
    assert event.type == "inventory.snapshot"
    assert event.source_event_id == "FBA_INVENTORY_AVAILABILITY_CHANGES:fba-notif-1"
    by_place = {(line.location, line.state): line.qty for line in event.lines}
    assert all(line.sku == "SELLERSKU-1" for line in event.lines)
    # US: 50 fulfillable, 5+15+10 reserved, inbound shipped 5 + receiving 10 (working units not counted).
    assert by_place == {
        ("FBA-US", "on_hand"): 80, ("FBA-US", "reserved"): 30, ("FBA-US", "available"): 50,
        ("FBA-US", "in_transit"): 15, ("FBA-US", "damaged"): 0,
        ("A2EUQ1WTGCTBG2", "on_hand"): 70, ("A2EUQ1WTGCTBG2", "reserved"): 30,
        ("A2EUQ1WTGCTBG2", "available"): 40, ("A2EUQ1WTGCTBG2", "in_transit"): 5,
        ("A2EUQ1WTGCTBG2", "damaged"): 0}
    assert event.refs == [Ref("amazon:sku", "SELLERSKU-1", RELATED), Ref("amazon:asin", "B00001ABCD", RELATED),
                          Ref("amazon:fnsku", "X001ABCDEF", RELATED)]


def test_eventbridge_envelope_gives_the_same_event_and_source_refs_apply() -> None:
    source = Source(name="amazon", kind="marketplace", adapter="amazon-sp", secrets=(SECRET,),
                    refs={"Payload.OrderChangeNotification.SellerId": "amazon:seller"})
    bare, wrapped = parse_one(order_change(), source), parse_one(eventbridge(order_change()), source)
    assert bare == wrapped
    assert Ref("amazon:seller", "A3TH9S8BH6GOGM") in wrapped.refs


# --- bad input --------------------------------------------------------------------------------------------


def test_unmapped_notification_type_is_unknown_with_its_order_ref() -> None:
    payload = {"NotificationType": "ORDER_ITEM_PRICE_CHANGE", "EventTime": "2026-11-01T10:00:00Z",
               "Payload": {"OrderItemPriceChange": {"AmazonOrderId": "111-2223334-4445556"}},
               "NotificationMetadata": {"NotificationId": "n-9"}}
    event = parse_one(payload)
    assert event.type == UNKNOWN_TYPE
    assert event.refs == [Ref("amazon:order", "111-2223334-4445556")]


def test_wrong_topic_payload_is_drift_naming_the_field() -> None:
    # An ORDER_CHANGE type carrying an inventory payload: the order fields it needs are missing.
    payload = order_change()
    payload["Payload"] = fba_inventory()["Payload"]
    with pytest.raises(ParseError, match="'Payload.OrderChangeNotification'"):
        parse_one(payload)


@pytest.mark.parametrize(("change", "field"), [
    (lambda p: p["Payload"]["OrderChangeNotification"].pop("AmazonOrderId"),
     "'Payload.OrderChangeNotification.AmazonOrderId'"),
    (lambda p: p["Payload"]["OrderChangeNotification"]["Summary"].pop("OrderStatus"),
     "'Payload.OrderChangeNotification.Summary.OrderStatus'"),
    (lambda p: p["Payload"]["OrderChangeNotification"]["Summary"]["OrderItems"][0].pop("SellerSKU"),
     "'Payload.OrderChangeNotification.Summary.OrderItems.0.SellerSKU'"),
    (lambda p: p.pop("NotificationType"), "'NotificationType'"),
    (lambda p: p.pop("Payload"), "'Payload'"),
    (lambda p: p.update(EventTime="last tuesday"), "'EventTime'"),
])
def test_schema_drift_names_the_field(change: Any, field: str) -> None:
    payload = order_change()
    change(payload)
    with pytest.raises(ParseError, match=field):
        parse_one(payload)


def test_body_without_notification_id_falls_back_to_the_digest() -> None:
    payload = order_change()
    del payload["NotificationMetadata"]
    body = json.dumps(payload).encode()
    assert parse_one(body).source_event_id == body_digest(body)


@pytest.mark.parametrize(("options", "key"), [({"secret_header": "x bad"}, "options.secret_header"),
                                              ({"locations": {"ATVPDKIKX0DER": ""}}, "options.locations"),
                                              ({"locations": "FBA-US"}, "options.locations")])
def test_check_options_names_source_and_key(options: dict[str, Any], key: str) -> None:
    amazon_sp.check_options(make_source(locations={"ATVPDKIKX0DER": "FBA-US"}))
    with pytest.raises(ConfigError, match=f"source 'amazon': {key}"):
        amazon_sp.check_options(make_source(**options))


# --- over HTTP -------------------------------------------------------------------------------------------

SOURCES = {"sources": [{"name": "amazon", "kind": "marketplace", "adapter": "amazon-sp", "secret": SECRET}]}
TRACE = "query($ref: String!) { transaction(ref: $ref) { id events { source type } } }"


@pytest.mark.asyncio
async def test_over_http_secret_header_accepted_forged_refused_retries_deduplicated(store_url: str) -> None:
    async with running_app(store_url, extra=SOURCES) as (client, hub):
        body = json.dumps(eventbridge(order_change())).encode()
        headers = {**amazon_sp.sign(SECRET), "content-type": "application/json"}
        first = await client.post("/hooks/amazon", content=body, headers=headers)
        # EventBridge retries with a new envelope id: NotificationId still makes it the same delivery.
        retry = await client.post("/hooks/amazon", content=json.dumps(eventbridge(order_change(), "eb-2")).encode(),
                                  headers=headers)
        assert (first.status_code, retry.status_code) == (202, 200)
        assert first.json() == retry.json()
        for bad in ({"x-crosstrace-secret": "guessed"}, {}):
            response = await client.post("/hooks/amazon", content=body,
                                         headers={**bad, "content-type": "application/json"})
            assert response.status_code == 401 and response.json()["error"]["code"]
        await hub.normalizer.run_until_idle()
        tx = (await gql(client, TRACE, ref="903-8868176-2219830"))["data"]["transaction"]
        assert tx["events"] == [{"source": "amazon", "type": "order.updated"}]
