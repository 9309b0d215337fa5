"""Stock positions and divergence from real event sequences over /ingest, on SQLite and PostgreSQL, fake clock.

The must-show cases of issue 5: a store sale the ERP learns of 20 minutes late; a transfer shipped 10 and
received 8; a return inspected as damaged; a channel that keeps publishing stale availability.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.stock import queries as stock
from tests.hub.test_exception_rules import EXCEPTIONS, T0, FakeClock, at, ingest
from tests.support import ERP_SECRET, OPERATOR_KEY, cloudevent, running_app
from tests.support import gql as _gql

SOURCES = [
    {"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": ERP_SECRET},
    {"name": "pos", "kind": "pos", "adapter": "cloudevents", "secret": ERP_SECRET},
    {"name": "wms", "kind": "wms", "adapter": "cloudevents", "secret": ERP_SECRET},
    {"name": "shop", "kind": "commerce", "adapter": "cloudevents", "secret": ERP_SECRET},
]
EXTRA = {"sources": SOURCES, "stock": {"settle_minutes": 15, "tolerance": 0}}


async def gql(client, query: str, **variables: object) -> dict:  # type: ignore[no-untyped-def]
    return await _gql(client, query, key=OPERATOR_KEY, **variables)


async def listed(client, **filter_: object) -> list[dict]:  # type: ignore[no-untyped-def]
    result = await gql(client, EXCEPTIONS, filter=filter_ or None)
    assert "errors" not in result, result
    return result["data"]["exceptions"]["nodes"]


def line(sku: str, location: str, qty: float, state: str | None = None) -> dict:
    return {"sku": sku, "location": location, "qty": qty, **({"state": state} if state else {})}


def snapshot(source: str, minutes: float, *lines: dict) -> dict:
    return cloudevent(source, "inventory.snapshot", [], time_=at(minutes), lines=list(lines))


async def move(client, hub, clock: FakeClock, minutes: float, *events: dict) -> None:  # type: ignore[no-untyped-def]
    clock.now = T0 + timedelta(minutes=minutes)
    await ingest(client, hub, *events)


async def quantities(hub, sku: str, location: str) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    async with hub.store.read() as conn:
        rows = await stock.positions(conn, sku, location, settings=hub.config.stock)
    return {p.source: {q.state: q.qty for q in p.quantities} for p in rows}


@pytest.mark.asyncio
async def test_store_sale_the_erp_learns_of_late_opens_after_the_settle_window_and_resolves(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock, extra=EXTRA) as (client, hub):
        await move(client, hub, clock, 0, snapshot("erp", 0, line("SKU-1", "ST-1", 10)),
                   snapshot("pos", 0, line("SKU-1", "ST-1", 10)))
        await move(client, hub, clock, 5, cloudevent("pos", "order.placed", [("pos:sale", "S-1")], time_=at(5),
                                                     lines=[line("SKU-1", "ST-1", 1)]))
        assert (await quantities(hub, "SKU-1", "ST-1"))["pos"]["on_hand"] == 9
        async with hub.store.read() as conn:
            [pending] = (await stock.list_divergences(conn, stock.DivergenceFilter(), 10, None)).rows
        assert (pending.source, pending.authoritative, pending.units, pending.status) == ("pos", "erp", 1, "pending")

        clock.now = T0 + timedelta(minutes=19)  # 14 minutes after the sale: still settling
        await hub.evaluator.tick(clock.naive())
        assert await listed(client, type=["stock_divergence"]) == []
        clock.now = T0 + timedelta(minutes=20, seconds=30)
        assert (await hub.evaluator.tick(clock.naive())).due == 1
        [opened] = await listed(client, type=["stock_divergence"])
        assert opened["status"] == "open" and opened["system"] == "pos"
        assert opened["subject"] == "SKU-1@ST-1/pos"
        evidence = opened["evidence"]
        assert (evidence["sku"], evidence["location"], evidence["authoritative"]) == ("SKU-1", "ST-1", "erp")
        assert evidence["states"]["on_hand"] == {"source": 9, "authoritative": 10, "in_flight": 0, "difference": -1}
        assert evidence["since"] == "2026-11-02T09:05:00"
        assert [m["type"] for m in evidence["last_movements"]["pos"]] == ["order.placed", "inventory.snapshot"]
        assert [m["type"] for m in evidence["last_movements"]["erp"]] == ["inventory.snapshot"]

        await move(client, hub, clock, 25, cloudevent("erp", "inventory.adjusted", [("erp:posting", "P-1")],
                                                      time_=at(25), lines=[line("SKU-1", "ST-1", -1)]))
        [resolved] = await listed(client, type=["stock_divergence"])
        assert resolved["id"] == opened["id"] and resolved["status"] == "resolved"
        assert resolved["resolvedBy"] == "system"
        assert resolved["history"][-1]["note"] == "the positions agree again"
        async with hub.store.read() as conn:
            assert (await stock.list_divergences(conn, stock.DivergenceFilter(), 10, None)).rows == []


@pytest.mark.asyncio
async def test_a_catch_up_inside_the_settle_window_never_opens_an_exception(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock, extra=EXTRA) as (client, hub):
        await move(client, hub, clock, 0, snapshot("erp", 0, line("SKU-1", "ST-1", 10)),
                   snapshot("pos", 0, line("SKU-1", "ST-1", 10)))
        await move(client, hub, clock, 5, cloudevent("pos", "order.placed", [("pos:sale", "S-1")], time_=at(5),
                                                     lines=[line("SKU-1", "ST-1", 2)]))
        await move(client, hub, clock, 12, snapshot("erp", 11, line("SKU-1", "ST-1", 8)))
        async with hub.store.read() as conn:
            assert (await stock.list_divergences(conn, stock.DivergenceFilter(), 10, None)).rows == []
        clock.now = T0 + timedelta(hours=2)
        await hub.evaluator.tick(clock.naive())
        assert await listed(client, type=["stock_divergence"]) == []
        assert (await quantities(hub, "SKU-1", "ST-1")) == {"erp": {"on_hand": 8, "available": 8},
                                                            "pos": {"on_hand": 8}}


@pytest.mark.asyncio
async def test_transfer_shipped_ten_received_eight_shows_the_shortfall(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock, extra=EXTRA) as (client, hub):
        ref = [("erp:transfer", "TO-1042")]
        await move(client, hub, clock, 0, snapshot("erp", 0, line("SKU-9", "WH-1", 50), line("SKU-9", "ST-1", 0)),
                   snapshot("wms", 0, line("SKU-9", "WH-1", 50)), snapshot("pos", 0, line("SKU-9", "ST-1", 0)),
                   cloudevent("erp", "transfer.created", ref, time_=at(0), lines=[line("SKU-9", "WH-1", 10)]))
        await move(client, hub, clock, 10, cloudevent("wms", "transfer.shipped", ref, time_=at(10),
                                                      lines=[line("SKU-9", "WH-1", 10)]))
        # the WMS shipped, the ERP has not booked it yet: those 10 units are in flight, not a divergence
        async with hub.store.read() as conn:
            assert (await stock.list_divergences(conn, stock.DivergenceFilter(), 10, None)).rows == []
        await move(client, hub, clock, 30, cloudevent("erp", "transfer.shipped", ref, time_=at(11),
                                                      lines=[line("SKU-9", "WH-1", 10)]))
        await move(client, hub, clock, 90, cloudevent("pos", "transfer.received", ref, time_=at(90),
                                                      lines=[line("SKU-9", "ST-1", 8)]),
                   cloudevent("erp", "transfer.received", ref, time_=at(91), lines=[line("SKU-9", "ST-1", 8)]))
        assert await quantities(hub, "SKU-9", "WH-1") == {"erp": {"on_hand": 40, "available": 40},
                                                          "wms": {"on_hand": 40}}
        assert (await quantities(hub, "SKU-9", "ST-1"))["pos"]["on_hand"] == 8

        tx = (await gql(client, '{ transaction(ref: "TO-1042") { kind events { source type lines { sku location qty } }'
                                ' exceptions { type status evidence } } }'))["data"]["transaction"]
        assert tx["kind"] == "transfer"
        steps = [(e["source"], e["type"], [(ln["sku"], ln["location"], ln["qty"]) for ln in e["lines"]])
                 for e in tx["events"]]
        assert ("wms", "transfer.shipped", [("SKU-9", "WH-1", "10")]) in steps
        assert ("pos", "transfer.received", [("SKU-9", "ST-1", "8")]) in steps
        [short] = [x for x in tx["exceptions"] if x["type"] == "quantity_mismatch"]
        assert short["status"] == "open" and short["evidence"]["shortfall"] == "2"
        assert short["evidence"]["sku"] == "SKU-9"

        # and on the SKU: its stock page lists the shortfall and the transfer's movements with their transaction
        result = await gql(client, '{ stock(sku: "SKU-9") { location source quantities { state quantity } '
                                   'shortfalls { transactionId shortfall } '
                                   'movements { type delta transactionId } } }')
        assert "errors" not in result, result
        by_place = {(p["location"], p["source"]): p for p in result["data"]["stock"]}
        shortfalls = by_place[("WH-1", "erp")]["shortfalls"]
        assert [s["shortfall"] for s in shortfalls] == [2.0]
        moved = by_place[("ST-1", "pos")]["movements"]
        assert moved[0]["type"] == "transfer.received" and moved[0]["delta"] == 8
        assert moved[0]["transactionId"] == shortfalls[0]["transactionId"]


@pytest.mark.asyncio
async def test_a_return_inspected_as_damaged_never_becomes_available(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock, extra=EXTRA) as (client, hub):
        ref = [("shop:return", "R-77")]
        await move(client, hub, clock, 0, snapshot("erp", 0, line("SKU-5", "WH-1", 3)),
                   cloudevent("erp", "return.received", ref, time_=at(1), lines=[line("SKU-5", "WH-1", 1)]))
        assert (await quantities(hub, "SKU-5", "WH-1"))["erp"] == {"on_hand": 3, "available": 3, "returned": 1}
        await move(client, hub, clock, 5, cloudevent("erp", "return.inspected", ref, time_=at(5),
                                                     lines=[line("SKU-5", "WH-1", 1, "damaged")]))
        after = (await quantities(hub, "SKU-5", "WH-1"))["erp"]
        assert after == {"on_hand": 3, "available": 3, "returned": 0, "damaged": 1}
        # a restock of the same return finds nothing left in `returned` to move: still 3 sellable
        await move(client, hub, clock, 9, cloudevent("erp", "return.restocked", ref, id="restock-1", time_=at(9),
                                                     lines=[line("SKU-5", "WH-1", 0)]))
        assert (await quantities(hub, "SKU-5", "WH-1"))["erp"]["available"] == 3
        # while a good return does become sellable once restocked
        await move(client, hub, clock, 10, cloudevent("erp", "return.received", [("shop:return", "R-78")],
                                                      time_=at(10), lines=[line("SKU-5", "WH-1", 1)]),
                   cloudevent("erp", "return.inspected", [("shop:return", "R-78")], time_=at(11),
                              lines=[line("SKU-5", "WH-1", 1, "available")]),
                   cloudevent("erp", "return.restocked", [("shop:return", "R-78")], time_=at(12),
                              lines=[line("SKU-5", "WH-1", 1)]))
        assert (await quantities(hub, "SKU-5", "WH-1"))["erp"] == {"on_hand": 4, "available": 4, "returned": 0,
                                                                   "damaged": 1}


@pytest.mark.asyncio
async def test_a_channel_publishing_stale_availability_is_named(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock, extra=EXTRA) as (client, hub):
        await move(client, hub, clock, 0, snapshot("erp", 0, line("SKU-7", "WEB", 7)),
                   cloudevent("shop", "inventory.published", [], time_=at(0), lines=[line("SKU-7", "WEB", 7)]))
        await move(client, hub, clock, 2, cloudevent("erp", "inventory.reserved", [("erp:so", "SO-1")], time_=at(2),
                                                     lines=[line("SKU-7", "WEB", 5)]))
        for minute in (10, 20, 30):  # the channel keeps saying 7
            await move(client, hub, clock, minute, cloudevent("shop", "inventory.published", [], time_=at(minute),
                                                              lines=[line("SKU-7", "WEB", 7)]))
            await hub.evaluator.tick(clock.naive())
        [stale] = await listed(client, type=["stock_divergence"])
        assert stale["system"] == "shop" and stale["status"] == "open"
        assert "shop says available 7, erp (authoritative) says 2" in (await _message(client, stale["id"]))
        assert stale["evidence"]["states"]["available"]["difference"] == 5

        result = await gql(client, '{ divergences(filter: {source: "shop", minUnits: 3}) { totalCount nodes { sku '
                                   'location source authoritative units status exceptionId } } '
                                   'divergenceCounts { location source divergent raised } }')
        assert "errors" not in result, result
        [node] = result["data"]["divergences"]["nodes"]
        assert node == {"sku": "SKU-7", "location": "WEB", "source": "shop", "authoritative": "erp", "units": 5.0,
                        "status": "open", "exceptionId": stale["id"]}
        assert result["data"]["divergenceCounts"] == [{"location": "WEB", "source": "shop", "divergent": 1,
                                                       "raised": 1}]
        await move(client, hub, clock, 40, cloudevent("shop", "inventory.published", [], time_=at(40),
                                                      lines=[line("SKU-7", "WEB", 2)]))
        assert (await listed(client, type=["stock_divergence"]))[0]["status"] == "resolved"


async def _message(client, exception_id: str) -> str:  # type: ignore[no-untyped-def]
    result = await gql(client, '{ exceptions(first: 50) { nodes { id message } } }')
    return next(n["message"] for n in result["data"]["exceptions"]["nodes"] if n["id"] == exception_id)

