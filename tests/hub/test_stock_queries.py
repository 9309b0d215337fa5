"""Positions in any arrival order, repeats counted once, "as of" history, and the divergence list's pages.

Real event sequences over /ingest on SQLite and PostgreSQL, a fake clock, GraphQL over ASGITransport.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hub.stock import queries as stock
from tests.hub.test_exception_rules import T0, FakeClock, at
from tests.hub.test_stock import EXTRA, gql, line, move, quantities, snapshot
from tests.support import cloudevent

SALE = [("pos:sale", "S-9")]


@pytest.mark.asyncio
async def test_a_snapshot_arriving_after_a_later_movement_keeps_the_movement(store_url: str) -> None:
    clock = FakeClock()
    async with running(store_url, clock) as (client, hub):
        await move(client, hub, clock, 0, snapshot("pos", 0, line("SKU-1", "ST-1", 10)))
        await move(client, hub, clock, 6, cloudevent("pos", "order.placed", SALE, time_=at(6),
                                                     lines=[line("SKU-1", "ST-1", 1)]))
        # a count taken at minute 5 (before the sale) arrives late: 7 then, so 6 now
        await move(client, hub, clock, 8, snapshot("pos", 5, line("SKU-1", "ST-1", 7)))
        assert (await quantities(hub, "SKU-1", "ST-1"))["pos"] == {"on_hand": 6}
        # an even older count changes nothing now, and a movement from before the minute-5 count is in it already
        await move(client, hub, clock, 9, snapshot("pos", 1, line("SKU-1", "ST-1", 99)),
                   cloudevent("pos", "order.placed", [("pos:sale", "S-0")], time_=at(3),
                              lines=[line("SKU-1", "ST-1", 2)]))
        assert (await quantities(hub, "SKU-1", "ST-1"))["pos"] == {"on_hand": 6}
        async with hub.store.read() as conn:
            [position] = await stock.positions(conn, "SKU-1", "ST-1")
            [quantity] = position.quantities
            assert quantity.as_of == datetime(2026, 11, 2, 9, 6)  # the sale, the latest event applied
            history = await stock.movements(conn, "SKU-1", "ST-1")
        assert [(m.event_type, m.applied) for m in history] == [
            ("order.placed", True), ("inventory.snapshot", True), ("order.placed", False),
            ("inventory.snapshot", False), ("inventory.snapshot", True)]


@pytest.mark.asyncio
async def test_a_repeated_delivery_moves_stock_once(store_url: str) -> None:
    clock = FakeClock()
    async with running(store_url, clock) as (client, hub):
        sale = cloudevent("pos", "order.placed", SALE, id="sale-1", time_=at(1), lines=[line("SKU-1", "ST-1", 1)])
        await move(client, hub, clock, 0, snapshot("pos", 0, line("SKU-1", "ST-1", 10)), sale)
        await move(client, hub, clock, 2, sale)
        await move(client, hub, clock, 3, sale, sale)
        assert (await quantities(hub, "SKU-1", "ST-1"))["pos"] == {"on_hand": 9}


@pytest.mark.asyncio
async def test_positions_as_of_a_past_time_and_movements_between_times(store_url: str) -> None:
    clock = FakeClock()
    async with running(store_url, clock) as (client, hub):
        await move(client, hub, clock, 0, snapshot("erp", 0, line("SKU-2", "WH-1", 20)))
        for minute, qty in ((10, 5), (20, 3), (30, 2)):
            await move(client, hub, clock, minute, cloudevent(
                "erp", "inventory.reserved", [("erp:so", f"SO-{minute}")], time_=at(minute),
                lines=[line("SKU-2", "WH-1", qty)]))
        await move(client, hub, clock, 40, snapshot("erp", 40, line("SKU-2", "WH-1", 15)))
        result = await gql(client, '''query($at: DateTime) { stock(sku: "SKU-2", location: "WH-1", asOf: $at) {
            source authoritative quantities { state quantity derived } } }''', at=at(25))
        assert "errors" not in result, result
        [erp] = result["data"]["stock"]
        assert erp["authoritative"] is True
        assert {q["state"]: (q["quantity"], q["derived"]) for q in erp["quantities"]} == {
            "on_hand": (20, False), "reserved": (8, False), "available": (12, True)}
        now = (await gql(client, '{ stock(sku: "SKU-2") { quantities { state quantity } } }'))["data"]["stock"][0]
        assert {q["state"]: q["quantity"] for q in now["quantities"]} == {"on_hand": 15, "reserved": 10,
                                                                          "available": 5}
        moved = await gql(client, '''query($from: DateTime, $to: DateTime) {
            movements(sku: "SKU-2", from: $from, to: $to) { type delta quantity transactionId } }''',
                          **{"from": at(10), "to": at(30)})
        assert [(m["type"], m["delta"]) for m in moved["data"]["movements"]] == [
            ("inventory.reserved", 3), ("inventory.reserved", 5)]
        assert all(m["transactionId"].startswith("tx_") for m in moved["data"]["movements"])


@pytest.mark.asyncio
async def test_divergences_page_by_units_and_filter(store_url: str) -> None:
    clock = FakeClock()
    async with running(store_url, clock) as (client, hub):
        events = []
        for n in range(5):
            sku = f"{'GC' if n % 2 else 'SKU'}-{n}"
            events += [snapshot("erp", 0, line(sku, "ST-1", 10)), snapshot("pos", 0, line(sku, "ST-1", 10 + n + 1))]
        await move(client, hub, clock, 0, *events)
        await move(client, hub, clock, 10, snapshot("wms", 10, line("SKU-0", "WH-1", 4)),
                   snapshot("erp", 10, line("SKU-0", "WH-1", 1)))
        query = '''query($filter: DivergenceFilter, $after: String) { divergences(filter: $filter, first: 2,
            after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { sku location units } } }'''
        seen, after = [], None
        while True:
            page = (await gql(client, query, after=after))["data"]["divergences"]
            assert page["totalCount"] == 6
            seen += [(n["sku"], n["location"], n["units"]) for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert seen == [("SKU-4", "ST-1", 5), ("GC-3", "ST-1", 4), ("SKU-0", "WH-1", 3), ("SKU-2", "ST-1", 3),
                        ("GC-1", "ST-1", 2), ("SKU-0", "ST-1", 1)]

        async def skus(**filter_: object) -> list[str]:
            result = await gql(client, query, filter=filter_)
            assert "errors" not in result, result
            return [n["sku"] for n in result["data"]["divergences"]["nodes"]]

        assert await skus(skuPrefix="GC-") == ["GC-3", "GC-1"]
        assert await skus(location="WH-1") == ["SKU-0"]
        assert await skus(source="wms") == ["SKU-0"]
        assert await skus(minUnits=4) == ["SKU-4", "GC-3"]
        clock.now = T0 + timedelta(minutes=12)
        assert await skus(olderThanMinutes=5, location="WH-1") == []
        assert await skus(olderThanMinutes=5, skuPrefix="SKU-4") == ["SKU-4"]
        bad = await gql(client, query, after="not-a-cursor")
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def running(store_url: str, clock: FakeClock):  # type: ignore[no-untyped-def]
    from tests.support import running_app

    return running_app(store_url, clock=clock, extra=EXTRA)
