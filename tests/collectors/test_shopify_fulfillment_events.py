"""Shopify's carrier status feed (``fulfillment_events/create`` and ``/delete``) on Shopify's published
FulfillmentEvent example (tests/fixtures/shopify/fulfillment_event.json): unit mapping, then over real HTTP —
signed webhooks into the app, the carrier's statuses landing on the order's trace at ``happened_at``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from collectors import shopify
from collectors.base import ParseError
from hub.config import Source
from hub.model import RELATED, UNKNOWN_TYPE, Delivery, Ref
from tests.paths import FIXTURES
from tests.support import gql, running_app

SECRET = "shpss_fulfillment_events"
TRACE = """query($ref: String!) { transaction(ref: $ref) { id
  events { source type occurredAt status error refs { namespace value role } } } }"""


def resource(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "shopify" / f"{name}.json").read_text())[name]


def source() -> Source:
    return Source(name="shop", kind="commerce", adapter="shopify", secrets=(SECRET,))


def parse(topic: str, payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    body = json.dumps(payload).encode()
    headers = {"x-shopify-topic": topic, "x-shopify-event-id": "e-1",
               "x-shopify-hmac-sha256": shopify.sign(SECRET, body)}
    (event,) = shopify.parse(Delivery(id="d1", source="shop", received_at=datetime(2026, 1, 1), headers=headers,
                                      body=body), source())
    return event


def test_the_published_label_printed_event_is_a_shipment_of_its_fulfillment_and_order() -> None:
    event = parse("fulfillment_events/create", resource("fulfillment_event"))
    assert event.type == "shipment.shipped"
    assert event.occurred_at == datetime(2021, 1, 25, 21, 32, 23)  # happened_at 16:32:23-05:00
    assert event.refs == [Ref("shop:fulfillment", "2608403447971"), Ref("shop:order", "2776493818019"),
                          Ref("shop:fulfillment_event", "12584341209251", RELATED)]
    assert event.lines == [] and event.amount is None and event.status == "ok"


@pytest.mark.parametrize(("status", "expected"), [
    ("label_printed", "shipment.shipped"), ("label_purchased", "shipment.shipped"), ("confirmed", "shipment.shipped"),
    ("carrier_picked_up", "shipment.in_transit"), ("in_transit", "shipment.in_transit"),
    ("out_for_delivery", "shipment.in_transit"), ("attempted_delivery", "shipment.in_transit"),
    ("ready_for_pickup", "shipment.in_transit"), ("delayed", "shipment.in_transit"),
    ("delivered", "shipment.delivered"), ("picked_up", "shipment.delivered"),
    ("failure", "shipment.exception"), ("a_status_added_later", UNKNOWN_TYPE),
])
def test_each_carrier_status_is_the_matching_shipment_event(status: str, expected: str) -> None:
    payload = {**resource("fulfillment_event"), "status": status, "message": "Parcel damaged"}
    event = parse("fulfillment_events/create", payload)
    assert event.type == expected
    assert event.refs[:2] == [Ref("shop:fulfillment", "2608403447971"), Ref("shop:order", "2776493818019")]
    assert (event.status, event.error) == (("failed", "carrier reports failure: Parcel damaged")
                                           if status == "failure" else ("ok", None))


def test_a_happened_at_later_than_its_creation_is_when_it_happened() -> None:
    payload = {**resource("fulfillment_event"), "happened_at": "2021-01-27T09:00:00-05:00"}
    assert parse("fulfillment_events/create", payload).occurred_at == datetime(2021, 1, 27, 14, 0)


def test_a_deleted_fulfillment_event_stays_on_its_order_as_unknown() -> None:
    event = parse("fulfillment_events/delete", resource("fulfillment_event"))
    assert event.type == UNKNOWN_TYPE
    assert event.refs == [Ref("shop:fulfillment", "2608403447971"), Ref("shop:order", "2776493818019"),
                          Ref("shop:fulfillment_event", "12584341209251", RELATED)]


@pytest.mark.parametrize("field", ["fulfillment_id", "order_id", "status"])
def test_a_created_event_without_its_links_is_drift_naming_the_field(field: str) -> None:
    payload = resource("fulfillment_event")
    del payload[field]
    with pytest.raises(ParseError, match=f"'{field}'"):
        parse("fulfillment_events/create", payload)


async def hook(client: Any, topic: str, payload: dict[str, Any], event_id: str) -> int:
    body = json.dumps(payload).encode()
    response = await client.post("/hooks/shop", content=body, headers={
        "content-type": "application/json", "x-shopify-topic": topic, "x-shopify-event-id": event_id,
        "x-shopify-hmac-sha256": shopify.sign(SECRET, body)})
    return response.status_code


@pytest.mark.asyncio
async def test_carrier_statuses_over_http_land_on_the_orders_trace(store_url: str) -> None:
    order, fulfillment = resource("order"), resource("fulfillment")  # order 450789469, its fulfillment 255858046
    scans = [("in_transit", "2013-11-02T08:00:00-04:00"), ("out_for_delivery", "2013-11-03T07:30:00-04:00"),
             ("delivered", "2013-11-03T14:05:00-04:00")]
    config = {"sources": [{"name": "shop", "kind": "commerce", "adapter": "shopify", "secret": SECRET}]}
    async with running_app(store_url, extra=config) as (client, hub):
        assert await hook(client, "orders/create", order, "e-order") == 202
        assert await hook(client, "fulfillments/create", fulfillment, "e-ship") == 202
        for n, (status, at) in enumerate(scans):
            scan = {**resource("fulfillment_event"), "id": 12584341209251 + n, "status": status, "happened_at": at,
                    "fulfillment_id": fulfillment["id"], "order_id": order["id"]}
            assert await hook(client, "fulfillment_events/create", scan, f"e-scan-{n}") == 202
            assert await hook(client, "fulfillment_events/create", scan, f"e-scan-{n}") == 200  # Shopify's retry
        await hub.normalizer.run_until_idle()
        trace = (await gql(client, TRACE, ref="shop:order:450789469"))["data"]["transaction"]
        also = (await gql(client, TRACE, ref="shop:fulfillment:255858046"))["data"]["transaction"]
    assert also["id"] == trace["id"]
    timeline = [(e["type"], e["occurredAt"]) for e in trace["events"]]
    assert timeline == [("order.placed", "2008-01-10T16:00:00Z"),
                        ("shipment.shipped", "2013-11-01T20:06:08Z"),
                        ("shipment.in_transit", "2013-11-02T12:00:00Z"),
                        ("shipment.in_transit", "2013-11-03T11:30:00Z"),
                        ("shipment.delivered", "2013-11-03T18:05:00Z")]
    assert all(e["status"] == "ok" for e in trace["events"])
