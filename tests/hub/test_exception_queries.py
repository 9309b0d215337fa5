"""The exception queue's filters, sorting and paging over GraphQL, on SQLite and PostgreSQL.

Covers what the lifecycle test does not: source, system kind, transaction kind, queue (routing), assignee,
age (older than), opened time range, keyset pages sorted by severity, and counts grouped by source.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.hub.test_exception_rules import T0, FakeClock, at, ingest
from tests.support import OPERATOR_KEY, VIEWER_KEY, cloudevent, gql, running_app

QUERY = """query($filter: ExceptionFilter, $order: ExceptionOrder, $first: Int, $after: String) {
  exceptions(filter: $filter, orderBy: $order, first: $first, after: $after) {
    totalCount nodes { id type severity system systemKind transactionKind queue assignee openedAt }
    pageInfo { hasNextPage endCursor } } }"""
ROUTING = {"routing": [{"queue": "warehouse", "sources": ["wms"]}, {"queue": "finance", "types": ["amount_mismatch"]}]}


async def page(client: Any, **variables: Any) -> dict[str, Any]:
    result = await gql(client, QUERY, key=VIEWER_KEY, **variables)
    assert "errors" not in result, result
    return result["data"]["exceptions"]


async def types(client: Any, **filter_: Any) -> list[str]:
    return sorted(n["type"] for n in (await page(client, filter=filter_, first=50))["nodes"])


@pytest.mark.asyncio
async def test_filters_sorting_paging_and_counts(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock, extra=ROUTING) as (client, hub):
        await ingest(client, hub, cloudevent("erp", "sync.failed", [("erp:so", "SO-1")], time_=at(0)))
        clock.now = T0 + timedelta(minutes=30)
        line = {"sku": "SKU-1", "location": "WH-1"}
        await ingest(client, hub,
                     cloudevent("wms", "transfer.shipped", [("erp:transfer", "TO-1")], time_=at(1),
                                lines=[dict(line, qty=10)]),
                     cloudevent("erp", "transfer.received", [("erp:transfer", "TO-1")], time_=at(2),
                                lines=[dict(line, qty=8)]))
        clock.now = T0 + timedelta(minutes=60)
        await ingest(client, hub,
                     cloudevent("wms", "shipment.exception", [("shop:order", "W-1")], time_=at(3), error="lost"),
                     cloudevent("shop", "order.placed", [("shop:order", "W-2")], time_=at(3),
                                amount={"value": "10.00", "currency": "EUR", "kind": "total"}),
                     cloudevent("shop", "payment.captured", [("shop:order", "W-2")], time_=at(4),
                                amount={"value": "8.00", "currency": "EUR", "kind": "capture"}))

        everything = await page(client, first=50)
        assert everything["totalCount"] == 5  # the order placed at 09:03 is also late by 10:00
        assert await types(client, source="wms") == ["failed"]
        assert await types(client, systemKind="erp") == ["failed", "late"]  # W-2 waits on the ERP (accepted)
        assert await types(client, transactionKind="transfer") == ["quantity_mismatch"]
        assert await types(client, queue="warehouse") == ["failed"]
        assert await types(client, queue="finance") == ["amount_mismatch"]
        assert await types(client, olderThanMinutes=45) == ["failed"]  # only the one opened at 09:00
        window = {"since": "2026-11-02T09:20:00", "until": "2026-11-02T09:50:00"}
        assert await types(client, **window) == ["quantity_mismatch"]

        [first] = (await page(client, filter={"source": "wms"}, first=1))["nodes"]
        await gql(client, 'mutation($id: ID!) { assignException(id: $id, assignee: "ana") { count } }',
                  key=OPERATOR_KEY, id=first["id"])
        assert [n["id"] for n in (await page(client, filter={"assignee": "ana"}, first=5))["nodes"]] == [first["id"]]

        seen: list[dict[str, Any]] = []
        after = None
        while True:  # one per page, most severe first, oldest first within a severity
            result = await page(client, order="SEVERITY", first=1, after=after)
            assert result["totalCount"] == 5
            seen.extend(result["nodes"])
            if not result["pageInfo"]["hasNextPage"]:
                break
            after = result["pageInfo"]["endCursor"]
        rank = {"critical": 4, "error": 3, "warning": 2, "info": 1}
        assert len({n["id"] for n in seen}) == 5
        assert seen == sorted(seen, key=lambda n: (-rank[n["severity"]], n["openedAt"], n["id"]))

        counts = await gql(client, '{ exceptionCounts(groupBy: [SOURCE]) { source count } }', key=VIEWER_KEY)
        assert {(r["source"], r["count"]) for r in counts["data"]["exceptionCounts"]} == {
            ("erp", 2), ("wms", 1), (None, 2)}
