"""Per-location and per-SKU-pattern divergence settings at work, over /ingest on SQLite and PostgreSQL.

A gift-card pattern tolerates two units; one store waits an hour before raising; another store's POS is
the authoritative source for its shelves, so there the ERP is the one named as diverging. Unit values
(per SKU pattern or location) give each divergence a value at risk to sort by.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.hub.test_exception_rules import T0, FakeClock, at
from tests.hub.test_stock import SOURCES, gql, line, listed, move, snapshot
from tests.support import VIEWER_KEY, cloudevent, running_app
from tests.web.app import login

STOCK = {"settle_minutes": 15, "tolerance": 0,
         "locations": {"ST-2": {"settle_minutes": 60}, "ST-3": {"authoritative": "pos"}},
         "skus": [{"pattern": "GC-*", "tolerance": 2}]}


def sale(minutes: float, sku: str, location: str, qty: float) -> dict:
    return cloudevent("pos", "order.placed", [("pos:sale", f"S-{sku}-{location}")], time_=at(minutes),
                      lines=[line(sku, location, qty)])


async def raised(client) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {x["subject"]: x for x in await listed(client, type=["stock_divergence"], status=["open"])}


@pytest.mark.asyncio
async def test_tolerance_settle_window_and_authority_follow_location_and_sku_pattern(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock, extra={"sources": SOURCES, "stock": STOCK}) as (client, hub):
        places = [("GC-1", "ST-1"), ("SKU-1", "ST-1"), ("SKU-1", "ST-2"), ("SKU-1", "ST-3")]
        await move(client, hub, clock, 0, *[snapshot(source, 0, line(sku, location, 10))
                                           for sku, location in places for source in ("erp", "pos")])
        await move(client, hub, clock, 5, sale(5, "GC-1", "ST-1", 2),  # within the gift-card tolerance
                   sale(5, "SKU-1", "ST-1", 1), sale(5, "SKU-1", "ST-2", 1), sale(5, "SKU-1", "ST-3", 1))

        clock.now = T0 + timedelta(minutes=21)  # past 15 minutes, short of ST-2's hour
        await hub.evaluator.tick(clock.naive())
        opened = await raised(client)
        assert set(opened) == {"SKU-1@ST-1/pos", "SKU-1@ST-3/erp"}
        assert opened["SKU-1@ST-3/erp"]["evidence"]["authoritative"] == "pos"
        assert opened["SKU-1@ST-3/erp"]["evidence"]["states"]["on_hand"]["difference"] == 1

        clock.now = T0 + timedelta(minutes=66)
        await hub.evaluator.tick(clock.naive())
        assert set(await raised(client)) == {"SKU-1@ST-1/pos", "SKU-1@ST-2/pos", "SKU-1@ST-3/erp"}

        await move(client, hub, clock, 70, sale(70, "GC-1", "ST-1", 1))  # three apart now: beyond the tolerance
        clock.now = T0 + timedelta(minutes=86)
        await hub.evaluator.tick(clock.naive())
        gift = (await raised(client))["GC-1@ST-1/pos"]
        assert gift["evidence"]["tolerance"] == 2 and gift["evidence"]["units"] == 3


VALUED = {"settle_minutes": 15, "tolerance": 0, "locations": {"ST-1": {"unit_value": 10}},
          "skus": [{"pattern": "GC-*", "unit_value": 25}]}
DIVERGENCES = """query($order: DivergenceOrder, $after: String) {
  divergences(orderBy: $order, first: 1, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { sku location units valueAtRisk } } }"""


@pytest.mark.asyncio
async def test_divergences_sort_by_value_at_risk_from_the_unit_value_of_sku_pattern_or_location(
        store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock, extra={"sources": SOURCES, "stock": VALUED}) as (client, hub):
        counts = {("GC-1", "ST-1"): 2, ("SKU-1", "ST-1"): 3, ("SKU-2", "ST-4"): 5}  # units apart
        await move(client, hub, clock, 0, *[event for (sku, location), apart in counts.items() for event in (
            snapshot("erp", 0, line(sku, location, 10)), snapshot("pos", 0, line(sku, location, 10 + apart)))])

        async def pages(order: str) -> list[tuple[str, float | None]]:
            seen, after = [], None
            while True:
                result = await gql(client, DIVERGENCES, order=order, after=after)
                assert "errors" not in result, result
                page = result["data"]["divergences"]
                assert page["totalCount"] == 3
                seen += [(n["sku"], n["valueAtRisk"]) for n in page["nodes"]]
                if not page["pageInfo"]["hasNextPage"]:
                    return seen
                after = page["pageInfo"]["endCursor"]

        assert await pages("VALUE") == [("GC-1", 50.0), ("SKU-1", 30.0), ("SKU-2", None)]
        assert await pages("UNITS") == [("SKU-2", None), ("SKU-1", 30.0), ("GC-1", 50.0)]
        first = await gql(client, DIVERGENCES, order="UNITS")
        mixed = await gql(client, DIVERGENCES, order="VALUE",
                          after=first["data"]["divergences"]["pageInfo"]["endCursor"])
        assert mixed["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert (await login(client, VIEWER_KEY)).status_code == 303  # the UI asks for a key
        page = await client.get("/stock", params={"location": "ST-1"})  # the web twin: 50 + 30 at ST-1
        assert page.status_code == 200 and '<td class="num bad">5</td><td class="num">80.00</td>' in page.text

        clock.now = T0 + timedelta(minutes=20)
        await hub.evaluator.tick(clock.naive())
        gift = (await raised(client))["GC-1@ST-1/pos"]
        assert gift["evidence"]["unit_value"] == 25
