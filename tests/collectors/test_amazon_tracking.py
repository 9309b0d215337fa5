"""Amazon tracking milestones and Multi-Channel Fulfillment returns, on the examples in Amazon's own schemas.

``ShipmentTrackingMilestoneChangedNotification.example.json`` and ``FulfillmentOrderStatusNotification.example.json``
are the ``examples`` embedded in amzn/selling-partner-api-models ``schemas/notifications/`` (Apache-2.0), posted
as Amazon's EventBridge rule forwards them: authenticated by the API destination's API-key header.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from collectors import amazon_sp
from collectors.base import ParseError
from hub.config import Source
from hub.model import RELATED, Delivery, Line, Ref
from tests.paths import FIXTURES
from tests.support import gql, running_app

SECRET = "eb-connection-key-1f0c"
SOURCES = {"sources": [{"name": "amazon", "kind": "marketplace", "adapter": "amazon-sp", "secret": SECRET}]}
TRACE = """query($ref: String!) { transaction(ref: $ref) {
  refs { namespace value } events { type occurredAt status error } } }"""


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "amazon-sp" / f"{name}.example.json").read_text())


def parse(payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    delivery = Delivery(id="d1", source="amazon", received_at=datetime(2026, 1, 1), headers={},
                        body=json.dumps(payload).encode())
    return amazon_sp.parse(delivery, Source(name="amazon", kind="marketplace", adapter="amazon-sp",
                                            secrets=(SECRET,)))


def milestone(code: str, **status: str) -> dict[str, Any]:
    payload = fixture("ShipmentTrackingMilestoneChangedNotification")
    latest = payload["payload"]["shipmentTrackingMilestoneChangedNotification"]["trackingDetail"]["latestMilestone"]
    latest["status"] = {"code": code, **status}
    return payload


def test_published_milestone_is_a_delivery_at_the_milestones_own_time_with_the_tracking_ref() -> None:
    [event] = parse(fixture("ShipmentTrackingMilestoneChangedNotification"))
    assert (event.type, event.status, event.error) == ("shipment.delivered", "ok", None)
    assert event.occurred_at == datetime(2026, 6, 14, 1, 26, 56)  # occurredAt, not eventTime (2025-08-08)
    assert event.source_event_id == "SHIPMENT_TRACKING_MILESTONE_CHANGED:6712e8e5-b365-4cb1-9fd8-be9dfc6d5bda"
    assert event.refs == [Ref("amazon:tracking", "AFTN987654321")]


@pytest.mark.parametrize(("code", "expected"), [
    ("OUT_FOR_DELIVERY", "shipment.in_transit"), ("IN_TRANSIT", "shipment.in_transit"),
    ("SHIPPED", "shipment.shipped"), ("ORDER_PREPARING", "fulfillment.allocated"),
    ("CARRIER_ASSIGNED", "fulfillment.packed")])
def test_milestone_codes_of_the_published_history(code: str, expected: str) -> None:
    [event] = parse(milestone(code))
    assert (event.type, event.error) == (expected, None)


def test_failed_milestone_is_an_exception_and_an_unknown_code_is_reported_not_generic() -> None:
    [failed] = parse(milestone("DELIVERY_ATTEMPTED", subCode="NO_ACCESS", description="Could not access building"))
    assert (failed.type, failed.status) == ("shipment.exception", "failed")
    assert failed.error == "DELIVERY_ATTEMPTED NO_ACCESS Could not access building"
    [odd] = parse(milestone("HELD_AT_CUSTOMS"))
    assert (odd.type, odd.status, odd.error) == ("order.updated", "ok", "unmapped milestone code 'HELD_AT_CUSTOMS'")


def test_milestone_order_identifier_links_the_order_and_drift_names_the_field() -> None:
    payload = milestone("DELIVERED")
    detail = payload["payload"]["shipmentTrackingMilestoneChangedNotification"]["trackingDetail"]
    detail["identifier"]["amazonOrderId"] = "903-8868176-2219830"
    [event] = parse(payload)
    assert event.refs == [Ref("amazon:tracking", "AFTN987654321"), Ref("amazon:order", "903-8868176-2219830")]
    del detail["latestMilestone"]["occurredAt"]
    with pytest.raises(ParseError, match="latestMilestone.occurredAt"):
        parse(payload)


def test_published_fulfillment_status_reports_its_unknown_status_and_reads_the_return_item() -> None:
    # Amazon's example: EventType "TYPE3945", FulfillmentOrderStatus "PROCESSED", and a FulfillmentReturnItem.
    status, returned = parse(fixture("FulfillmentOrderStatusNotification"))
    assert (status.type, status.status) == ("order.updated", "ok")
    assert status.error == "unmapped FulfillmentOrderStatus 'PROCESSED'"
    assert returned.type == "return.received"
    assert returned.source_event_id == "FULFILLMENT_ORDER_STATUS:d0e9e693-c3ad-4373-979f-ed4ec98dd746:return"
    assert returned.lines == [Line("SELLERSKU9345", Decimal(12), None, "returned")]
    assert returned.occurred_at == datetime(2020, 7, 13, 19, 42, 4, 284000)
    assert Ref("amazon:fulfillment_order", "SFOID2345") in returned.refs
    assert Ref("amazon:sku", "SELLERSKU9345", RELATED) in returned.refs


def test_return_event_type_and_shipments_without_a_returned_quantity() -> None:
    payload = fixture("FulfillmentOrderStatusNotification")
    body = payload["Payload"]["FulfillmentOrderStatusNotification"]
    body["EventType"] = "Return"
    [event] = parse(payload)
    assert event.type == "return.received" and event.lines[0].qty == 12
    body["EventType"], body["FulfillmentReturnItem"]["ReturnedQuantity"] = "Shipment", 0
    body["FulfillmentShipment"]["FulfillmentShipmentStatus"] = "SHIPPED"
    [shipped] = parse(payload)
    assert (shipped.type, shipped.error) == ("shipment.shipped", None)


@pytest.mark.asyncio
async def test_over_http_milestones_and_mcf_return_reach_their_transactions(store_url: str) -> None:
    headers = {**amazon_sp.sign(SECRET), "content-type": "application/json"}
    async with running_app(store_url, extra=SOURCES) as (client, hub):
        for number, code in enumerate(("SHIPPED", "OUT_FOR_DELIVERY", "DELIVERED")):
            payload = milestone(code)
            payload["notificationMetadata"]["notificationId"] = f"milestone-{number}"
            detail = payload["payload"]["shipmentTrackingMilestoneChangedNotification"]["trackingDetail"]
            detail["latestMilestone"]["occurredAt"] = f"2026-06-1{3 + number}T0{number}:00:00Z"
            response = await client.post("/hooks/amazon", content=json.dumps(payload).encode(), headers=headers)
            assert response.status_code == 202
        response = await client.post("/hooks/amazon", headers=headers,
                                     content=json.dumps(fixture("FulfillmentOrderStatusNotification")).encode())
        assert response.status_code == 202
        forged = await client.post("/hooks/amazon", content=json.dumps(milestone("LOST")).encode(),
                                   headers={"x-crosstrace-secret": "guess", "content-type": "application/json"})
        assert forged.status_code == 401
        await hub.normalizer.run_until_idle()
        tracked = (await gql(client, TRACE, ref="AFTN987654321"))["data"]["transaction"]
        assert [(e["type"], e["occurredAt"][:19]) for e in tracked["events"]] == [
            ("shipment.shipped", "2026-06-13T00:00:00"), ("shipment.in_transit", "2026-06-14T01:00:00"),
            ("shipment.delivered", "2026-06-15T02:00:00")]
        mcf = (await gql(client, TRACE, ref="SFOID2345"))["data"]["transaction"]
        assert sorted((e["type"], e["error"]) for e in mcf["events"]) == [
            ("order.updated", "unmapped FulfillmentOrderStatus 'PROCESSED'"), ("return.received", None)]
        assert {"namespace": "amazon:tracking", "value": "1Z885647654573405"} in mcf["refs"]
