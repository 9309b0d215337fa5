"""Amazon money: TRANSACTION_UPDATE notifications and the ``amazon-finances`` poll style.

Payloads are Amazon's published examples (tests/fixtures/amazon-sp, from amzn/selling-partner-api-models,
Apache-2.0): the TRANSACTION_UPDATE notification schema's example, and the Finances v0 sandbox responses of
``listFinancialEventGroups`` and ``listFinancialEventsByGroupId`` (financesV0.json). The sandbox's event is
a ``ChargebackEventList`` entry; ``ShipmentEventList`` and ``RefundEventList`` entries have the same
``ShipmentEvent`` definition, so the settlement tests reuse it with the charge and fee types the model
documents (Principal, Tax, Commission, FBAPerUnitFulfillmentFee) and amounts that add up as real ones do
(fees negative). The upstream is a real uvicorn on loopback; webhooks go over HTTP with the API-key header.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from collectors import amazon_sp
from collectors.base import ParseError
from collectors.poller import Poller, plan_polls
from hub.config import Source, parse
from hub.ingest.polling import load_poll_state
from hub.model import RELATED, Amount, Delivery, Ref
from tests.collectors.polling_server import EPOCH, Upstream
from tests.paths import FIXTURES
from tests.support import ERP_SECRET, cloudevent, dumps, gql, running_app, signed_headers

SECRET = "eb-connection-key-1f0c"
FOLDER = FIXTURES / "amazon-sp"
TRACE = """query($ref: String!) { transaction(ref: $ref) { id kind refs { namespace value role }
  related { id kind } exceptions { type status message }
  events { type amount { value currency kind } } } }"""


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FOLDER / name).read_text())


def transaction_update() -> dict[str, Any]:
    return fixture("TransactionUpdateNotification.example.json")


def parse_body(payload: dict[str, Any], headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    delivery = Delivery(id="d1", source="amazon", received_at=datetime(2026, 1, 1), headers=headers or {},
                        body=json.dumps(payload).encode())
    return amazon_sp.parse(delivery, Source(name="amazon", kind="marketplace", adapter="amazon-sp",
                                            secrets=(SECRET,)))


def usd(value: str) -> dict[str, Any]:
    return {"CurrencyCode": "USD", "CurrencyAmount": float(value)}


def shipment_event(order: str, charges: dict[str, str], fees: dict[str, str], withheld: str | None = None) -> dict:
    """The sandbox's ShipmentEvent-shaped entry for ``order``, one item with these charges and fees."""
    sample = fixture("financesV0.listFinancialEventsByGroupId.example.json")
    entry = copy.deepcopy(sample["payload"]["FinancialEvents"]["ChargebackEventList"][0])
    item = entry["ShipmentItemList"][0]
    item.update(ItemChargeList=[{"ChargeType": k, "ChargeAmount": usd(v)} for k, v in charges.items()],
                ItemFeeList=[{"FeeType": k, "FeeAmount": usd(v)} for k, v in fees.items()],
                ItemChargeAdjustmentList=[], ItemFeeAdjustmentList=[], PromotionList=[], PromotionAdjustmentList=[],
                ItemTaxWithheldList=[{"TaxCollectionModel": "MarketplaceFacilitator", "TaxesWithheld": [
                    {"ChargeType": "MarketplaceFacilitatorTax-Principal", "ChargeAmount": usd(withheld)}]}]
                if withheld else [], QuantityShipped=1)
    entry.update(AmazonOrderId=order, ShipmentItemList=[item], ShipmentItemAdjustmentList=[], OrderChargeList=[],
                 OrderChargeAdjustmentList=[], ShipmentFeeList=[], ShipmentFeeAdjustmentList=[], OrderFeeList=[],
                 OrderFeeAdjustmentList=[], DirectPaymentList=[])
    return entry


def group(group_id: str, start: str, status: str, total: str) -> dict[str, Any]:
    """The sandbox's FinancialEventGroup as ``group_id``, started at ``start``."""
    sample = copy.deepcopy(fixture("financesV0.listFinancialEventGroups.example.json")["payload"]
                           ["FinancialEventGroupList"][0])
    sample.update(FinancialEventGroupId=group_id, FinancialEventGroupStart=start, ProcessingStatus=status,
                  OriginalTotal=usd(total), FundTransferDate="2026-10-31T08:00:00Z")
    return sample


# --- TRANSACTION_UPDATE ---------------------------------------------------------------------------------


def test_published_transaction_update_is_a_captured_net_amount_on_its_order() -> None:
    [event] = parse_body(transaction_update())
    assert (event.type, event.status, event.error) == ("payment.captured", "ok", None)
    assert event.source_event_id == "TRANSACTION_UPDATE:d0e9e693-c3ad-4373-979f-ed4ec98dd746"
    assert event.occurred_at == datetime(2023, 7, 14, 3, 35, 13, 214000)  # PostedDate
    assert event.amount == Amount(Decimal(10), "USD", "net")
    assert event.refs == [Ref("amazon:order", "8129762527551")]


def test_breakdowns_become_one_event_per_kind() -> None:
    payload = transaction_update()
    body = payload["Payload"]["TransactionUpdateNotification"]
    # the Finances API 2024-06-19 Breakdown model (breakdownType, breakdownAmount {currencyCode, currencyAmount})
    body["breakdowns"] = [
        {"breakdownType": "Principal", "breakdownAmount": {"currencyCode": "USD", "currencyAmount": 12.5}},
        {"breakdownType": "Tax", "breakdownAmount": {"currencyCode": "USD", "currencyAmount": 1.0}},
        {"breakdownType": "Commission", "breakdownAmount": {"currencyCode": "USD", "currencyAmount": -1.9}},
        {"breakdownType": "FBAPerUnitFulfillmentFee", "breakdownAmount": {"currencyCode": "USD",
                                                                          "currencyAmount": -0.6}},
        {"breakdownType": "FBAWeightBasedFee", "breakdownAmount": {"currencyCode": "USD", "currencyAmount": -1.0}}]
    body["RelatedIdentifiers"].append({"RelatedIdentifierName": "FINANCIAL_EVENT_GROUP_ID",
                                       "RelatedIdentifierValue": "FEG-1"})
    main, *kinds = parse_body(payload)
    assert main.amount == Amount(Decimal(10), "USD", "net")
    assert {e.amount.kind: e.amount.value for e in kinds} == {
        "principal": Decimal("12.5"), "tax": Decimal("1.0"), "commission": Decimal("-1.9"), "fee": Decimal("-1.6")}
    assert {e.source_event_id for e in kinds} == {f"{main.source_event_id}:{k}" for k in
                                                   ("principal", "tax", "commission", "fee")}
    assert all(e.refs == [Ref("amazon:order", "8129762527551"), Ref("amazon:settlement", "FEG-1", RELATED)]
               for e in (main, *kinds))


def test_other_transaction_types_are_reported_and_drift_names_the_field() -> None:
    payload = transaction_update()
    body = payload["Payload"]["TransactionUpdateNotification"]
    body["TransactionType"] = "Refund"
    assert parse_body(payload)[0].type == "refund.issued"
    body["TransactionType"] = "ServiceFee"
    [event] = parse_body(payload)
    assert (event.type, event.status, event.error) == ("order.updated", "ok", "unmapped TransactionType 'ServiceFee'")
    del body["TotalAmount"]["CurrencyCode"]
    with pytest.raises(ParseError, match="TotalAmount.CurrencyCode"):
        parse_body(payload)


# --- settlements from the Finances API ------------------------------------------------------------------


def test_a_settled_group_is_a_settlement_with_gross_fee_and_the_orders_it_paid() -> None:
    financial = {"ShipmentEventList": [shipment_event("111-0000001-0000001", {"Principal": "20.00", "Tax": "1.60"},
                                                     {"Commission": "-3.00", "FBAPerUnitFulfillmentFee": "-2.50"},
                                                     withheld="-1.60")],
                 "RefundEventList": [shipment_event("111-0000002-0000002", {"Principal": "-5.00"},
                                                    {"Commission": "0.60"})]}
    body = {"FinancialEventGroup": group("FEG-1", "2026-10-17T00:00:00Z", "Closed", "10.10"),
            "FinancialEvents": financial}
    paid, gross, fee, commission, *lines = parse_body(body, {"x-crosstrace-polled": "amazon-finances"})
    assert [e.type for e in (paid, gross, fee, commission)] == ["settlement.paid"] * 4
    assert (paid.amount, gross.amount, fee.amount, commission.amount) == (
        Amount(Decimal("10.10"), "USD", "settlement"), Amount(Decimal("16.60"), "USD", "gross"),
        Amount(Decimal("6.50"), "USD", "fee"), Amount(Decimal("2.40"), "USD", "commission"))
    # per order, what its events contributed net of Amazon's fees (20.00 + 1.60 - 3.00 - 2.50 - 1.60; -5.00 + 0.60)
    assert [(e.refs, e.amount) for e in lines] == [
        ([Ref("amazon:settlement", "FEG-1"), Ref("amazon:order", "111-0000001-0000001", RELATED)],
         Amount(Decimal("14.50"), "USD", "line")),
        ([Ref("amazon:settlement", "FEG-1"), Ref("amazon:order", "111-0000002-0000002", RELATED)],
         Amount(Decimal("-4.40"), "USD", "line"))]
    assert paid.source_event_id == "financial-event-group:FEG-1"
    assert paid.occurred_at == datetime(2026, 10, 31, 8)
    assert paid.refs == [Ref("amazon:settlement", "FEG-1"), Ref("amazon:order", "111-0000001-0000001", RELATED),
                         Ref("amazon:order", "111-0000002-0000002", RELATED)]


def amazon_source(url: str) -> dict[str, Any]:
    return {"name": "amazon", "kind": "marketplace", "adapter": "amazon-sp", "secret": SECRET,
            "options": {"poll": {"style": "amazon-finances", "url": url, "token": "Atza|test-access-token",
                                 "page_size": 1, "timeout_seconds": 5, "backfill_seconds": 30 * 86400}}}


@pytest.mark.asyncio
async def test_finances_poll_relates_settlements_to_orders_net_of_fees_over_http(store_url: str,
                                                                                 upstream: Upstream) -> None:
    order_a, order_b = "111-0000001-0000001", "111-0000002-0000002"
    upstream.groups = [group("FEG-1", "2026-10-17T00:00:00Z", "Closed", "10.10"),
                       group("FEG-2", "2026-10-20T00:00:00Z", "Closed", "9.00"),  # 1.00 short of what it covers
                       group("FEG-3", "2026-10-24T00:00:00Z", "Open", "0.00")]
    upstream.group_events = {
        "FEG-1": [{"ShipmentEventList": [shipment_event(order_a, {"Principal": "20.00", "Tax": "1.60"},
                                                        {"Commission": "-3.00", "FBAPerUnitFulfillmentFee": "-2.50"},
                                                        withheld="-1.60")]},
                  {"RefundEventList": [shipment_event(order_b, {"Principal": "-5.00"}, {"Commission": "0.60"})]}],
        "FEG-2": [{"ShipmentEventList": [shipment_event(order_b, {"Principal": "12.00"}, {"Commission": "-2.00"})]}],
        "FEG-3": [{}]}
    plan = plan_polls(parse({"sources": [amazon_source(upstream.url)]}, {}))
    now = EPOCH.timestamp()  # 2026-11-01 12:00 UTC; the 30-day backfill reaches every group
    quiet = {"sources": [{**amazon_source(upstream.url), "options": {}},  # the test drives the poller itself
                         {"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": ERP_SECRET}]}
    async with running_app(store_url, extra=quiet) as (client, hub), httpx.AsyncClient() as http:
        store = hub.started().store
        poller = Poller(store, plan, http, clock=lambda: now, rng=random.Random(1))
        [outcome] = await poller.run_once()
        assert outcome.ok, outcome.error
        assert all(q.get("MaxResultsPerPage") == "1" for _, q in upstream.requests)
        # the cursor waits at the open group: it is read once it closes
        assert (await load_poll_state(store, "amazon")).cursor == "2026-10-24T00:00:00+00:00"
        booked = cloudevent("erp", "order.placed", [("amazon:order", order_a)],  # the order as the ERP books it
                            amount={"value": "21.60", "currency": "USD", "kind": "total"})
        assert (await client.post("/hooks/erp", content=dumps(booked), headers=signed_headers(dumps(booked)))
                ).status_code == 202
        async def posted(notification_id: str, value: float) -> None:  # Amazon's posting for order a, net of fees
            update = transaction_update()
            body = update["Payload"]["TransactionUpdateNotification"]
            body["RelatedIdentifiers"][0]["RelatedIdentifierValue"] = order_a
            body["TotalAmount"]["CurrencyAmount"] = value
            update["NotificationMetadata"]["NotificationId"] = notification_id
            response = await client.post("/hooks/amazon", content=json.dumps(update).encode(),
                                         headers={**amazon_sp.sign(SECRET), "content-type": "application/json"})
            assert response.status_code == 202
            await hub.normalizer.run_until_idle()

        await posted("posting-1", 14.50)
        settled = (await gql(client, TRACE, ref="amazon:settlement:FEG-1"))["data"]["transaction"]
        # order a's posting adds up with its line; order b (a refund) the hub never saw (issue 17)
        assert settled["kind"] == "settlement"
        unseen = "1 line(s) of this settlement name what the hub never saw: amazon:order:" + order_b
        assert [(x["type"], x["message"]) for x in settled["exceptions"]] == [("settlement_unmatched", unseen)]
        assert sorted((e["amount"]["kind"], Decimal(e["amount"]["value"])) for e in settled["events"]) == [
            ("commission", Decimal("2.40")), ("fee", Decimal("6.50")), ("gross", Decimal("16.60")),
            ("line", Decimal("-4.40")), ("line", Decimal("14.50")), ("settlement", Decimal("10.10"))]
        order_tx = (await gql(client, TRACE, ref=order_a))["data"]["transaction"]
        assert {"id": order_tx["id"], "kind": "order"} in settled["related"]
        # the posted transaction is net of fees: it is not what the buyer paid, so no "captured ≠ total" here
        assert sorted(e["type"] for e in order_tx["events"]) == ["order.placed", "payment.captured"]
        assert not [x for x in order_tx["exceptions"] if x["type"] == "amount_mismatch"]
        short = (await gql(client, TRACE, ref="FEG-2"))["data"]["transaction"]
        assert sorted((x["type"], x["status"]) for x in short["exceptions"]) == [
            ("amount_mismatch", "open"), ("settlement_unmatched", "open")]
        assert any("gross less fees 10.0 USD but settled 9.0 USD" in x["message"] for x in short["exceptions"])
        assert (await gql(client, TRACE, ref="FEG-3"))["data"]["transaction"] is None

        upstream.groups[2].update(ProcessingStatus="Closed", OriginalTotal=usd("3.00"))
        upstream.group_events["FEG-3"] = [{"ShipmentEventList": [shipment_event(order_a, {"Principal": "4.00"},
                                                                                 {"Commission": "-1.00"})]}]
        [again] = await poller.run_once()
        assert again.ok and again.new_items == 1  # FEG-1 and FEG-2 re-read, absorbed by dedup
        assert (await load_poll_state(store, "amazon")).cursor == "2026-10-24T00:00:00+00:00"
        await hub.normalizer.run_until_idle()
        closed = (await gql(client, TRACE, ref="FEG-3"))["data"]["transaction"]
        assert len(closed["events"]) == 5  # paid, gross, fee, commission, order a's line
        # order a's second shipment pays 3.00 here; its posting has not arrived: it does not add up until it does
        assert [x["type"] for x in closed["exceptions"]] == ["amount_mismatch"]
        await posted("posting-2", 3.00)
        closed = (await gql(client, TRACE, ref="FEG-3"))["data"]["transaction"]
        assert [x["status"] for x in closed["exceptions"]] == ["resolved"]
        first = (await gql(client, TRACE, ref="FEG-1"))["data"]["transaction"]  # 17.50 less the 3.00 paid in FEG-3
        assert [x["type"] for x in first["exceptions"]] == ["settlement_unmatched"]
