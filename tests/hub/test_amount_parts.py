"""Amount parts (issue 17: amount kinds): what an order's total consists of, stored with its event and served in
GraphQL, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.hub.test_exception_rules import FakeClock, ingest
from tests.support import cloudevent, gql, running_app

EVENTS = '{ transaction(ref: "5001") { events { type amount { value kind } amountParts { value currency kind } } } }'


@pytest.mark.asyncio
async def test_an_orders_tax_shipping_and_discount_are_parts_of_its_total(store_url: str) -> None:
    async with running_app(store_url, clock=FakeClock()) as (client, hub):
        amount = {"value": "59.90", "currency": "eur", "kind": "total",
                  "parts": [{"value": "9.56", "kind": "tax"}, {"value": "4.95", "kind": "shipping"},
                            {"value": "5.00", "kind": "discount"}]}
        await ingest(client, hub, cloudevent("shop", "order.placed", [("shop:order", "5001")], amount=amount),
                     cloudevent("shop", "payment.captured", [("shop:order", "5001")],
                                amount={"value": "59.90", "currency": "EUR", "kind": "capture"}))
        result = await gql(client, EVENTS)
        assert "errors" not in result, result
        placed, captured = result["data"]["transaction"]["events"]
        assert placed["amount"] == {"value": "59.90", "kind": "total"}
        assert placed["amountParts"] == [{"value": "9.56", "currency": "EUR", "kind": "tax"},
                                         {"value": "4.95", "currency": "EUR", "kind": "shipping"},
                                         {"value": "5.00", "currency": "EUR", "kind": "discount"}]
        assert captured["amountParts"] == []
        # the parts are inside the total: the capture of the total adds up
        exceptions = await gql(client, '{ exceptions(filter: {type: ["amount_mismatch"]}, first: 5) { totalCount } }')
        assert exceptions["data"]["exceptions"]["totalCount"] == 0
