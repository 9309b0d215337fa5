"""Business KPIs (issue 17 item 4) checked number by number against a hand-computed fixture, on both stores.

The fixture (T0 = 2026-10-24 21:30 UTC, 23:30 in Berlin; the window is T0-1h .. T0+1d; now is T0+3d):

| order | channel (attr) | placed | amount | what happened after (from placed) |
|---|---|---|---|---|
| tx_1 | shop (web) | T0 (Berlin Oct 24) | 100.00 EUR | accepted 10m, paid 1h, shipped 2h, delivered 26h |
| tx_2 | shop (web) | T0+1h (Oct 25) | 50.50 EUR | accepted 45m (late: SLA 30m), paid 2h, shipped 10h, delivered 50h |
| tx_3 | amazon (marketplace) | T0+2h | 30 USD | accepted 20m, reservation failed 1h, cancelled 3h |
| tx_4 | amazon (none) | T0+3h | 20 USD | cancelled 1h; a quantity exception opened 1h30 (after: not a cause) |
| tx_5 | shop (none) | T0+4h | none | nothing: accepted overdue |
| tx_6 | shop (web) | T0-2d | 999 EUR | outside the window |
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hub import kpis
from hub.config import parse
from hub.exceptions.evaluate import Evaluator
from hub.exceptions.lifecycle import Changes
from hub.store import Store
from hub.store.metrics_queries import Window
from hub.store.tables import stock_positions, transaction_attributes
from tests.resolvers.seed import T0, event, exception, transaction, write

NOW = T0 + timedelta(days=3)
WINDOW = Window(T0 - timedelta(hours=1), T0 + timedelta(days=1))
CONFIG = parse({"sources": [{"name": name, "kind": kind, "adapter": "cloudevents", "secret": "s"} for name, kind in (
    ("shop", "commerce"), ("amazon", "marketplace"), ("erp", "erp"), ("pay", "payment"), ("wms", "wms"),
    ("carrier", "carrier"))]}, {})
H, M = timedelta(hours=1), timedelta(minutes=1)

_STORY: list[tuple[str, str, Any, str | None, list[tuple[str, str, timedelta, dict]]]] = [
    # tx, placing source, placed at, channel attribute, [(source, type, after placed, extra)]
    ("tx_1", "shop", T0, "web", [("erp", "order.accepted", 10 * M, {}), ("pay", "payment.captured", H, {}),
                                 ("wms", "shipment.shipped", 2 * H, {}),
                                 ("carrier", "shipment.delivered", 26 * H, {})]),
    ("tx_2", "shop", T0 + H, "web", [("erp", "order.accepted", 45 * M, {}),
                                     ("pay", "payment.captured", 2 * H, {}),
                                     ("wms", "shipment.shipped", 10 * H, {}),
                                     ("carrier", "shipment.delivered", 50 * H, {})]),
    ("tx_3", "amazon", T0 + 2 * H, "marketplace", [("erp", "order.accepted", 20 * M, {}),
                                                   ("wms", "inventory.reserved", H, {"status": "failed"}),
                                                   ("amazon", "order.cancelled", 3 * H, {})]),
    ("tx_4", "amazon", T0 + 3 * H, None, [("amazon", "order.cancelled", H, {})]),
    ("tx_5", "shop", T0 + 4 * H, None, []),
    ("tx_6", "shop", T0 - timedelta(days=2), "web", [("erp", "order.accepted", 10 * M, {})]),
]
_AMOUNTS = {"tx_1": ("100.00", "EUR"), "tx_2": ("50.50", "EUR"), "tx_3": ("30", "USD"), "tx_4": ("20", "USD"),
            "tx_6": ("999", "EUR")}


async def _seed(store: Store) -> None:
    events, txs, attrs = [], [], []
    n = 0
    for tx, source, placed, channel, later in _STORY:
        value, currency = _AMOUNTS.get(tx, (None, None))
        n += 1
        events.append(event(n, tx, source, "order.placed", placed, amount_value=value, amount_currency=currency,
                            amount_kind="total" if value else None))
        for other, type_, after, extra in later:
            n += 1
            events.append(event(n, tx, other, type_, placed + after, **extra))
        last = placed + max([after for *_, after, _ in later], default=timedelta())
        txs.append(transaction(tx, "order", placed, last, sorted({source, *(s for s, *_ in later)}), 1 + len(later)))
        if channel:
            attrs.append({"tx_id": tx, "name": "channel", "value": channel})
    await write(store, event_rows=events, tx_rows=txs, exception_rows=[
        exception(1, "quantity_mismatch", "open", T0 + 4 * H + 30 * M, tx="tx_4")])
    async with store.write() as conn:
        await conn.execute(transaction_attributes.insert(), attrs)
        await conn.execute(stock_positions.insert(), [
            {"sku": sku, "location": "WH-1", "source": source, "state": state, "qty": 1.0, "as_of": as_of,
             "event_id": "evt_x", "updated_at": as_of}
            for sku, source, state, as_of in (("SKU-1", "erp", "on_hand", T0), ("SKU-2", "erp", "on_hand", T0 + H),
                                              ("SKU-1", "shop", "available", T0 - timedelta(days=1)))])


@pytest.mark.asyncio
async def test_orders_and_order_value_per_channel_attribute_and_local_day(store: Store) -> None:
    await _seed(store)
    async with store.read() as conn:
        assert await kpis.orders(conn, WINDOW) == [
            {"group": "amazon", "bucket": None, "currency": "USD", "orders": 2, "value": "50.00"},
            {"group": "shop", "bucket": None, "currency": "EUR", "orders": 2, "value": "150.50"},
            {"group": "shop", "bucket": None, "currency": None, "orders": 1, "value": None}]
        # Berlin days: tx_1 is placed at 23:30 on Oct 24, the others after midnight (CEST, +02:00)
        assert await kpis.orders(conn, WINDOW, bucket="day", tz="Europe/Berlin") == [
            {"group": "shop", "bucket": "2026-10-24T00:00:00+02:00", "currency": "EUR", "orders": 1, "value": "100.00"},
            {"group": "amazon", "bucket": "2026-10-25T00:00:00+02:00", "currency": "USD", "orders": 2,
             "value": "50.00"},
            {"group": "shop", "bucket": "2026-10-25T00:00:00+02:00", "currency": "EUR", "orders": 1, "value": "50.50"},
            {"group": "shop", "bucket": "2026-10-25T00:00:00+02:00", "currency": None, "orders": 1, "value": None}]
        assert await kpis.orders(conn, WINDOW, "channel") == [
            {"group": None, "bucket": None, "currency": None, "orders": 1, "value": None},
            {"group": None, "bucket": None, "currency": "USD", "orders": 1, "value": "20.00"},
            {"group": "marketplace", "bucket": None, "currency": "USD", "orders": 1, "value": "30.00"},
            {"group": "web", "bucket": None, "currency": "EUR", "orders": 2, "value": "150.50"}]
        assert await kpis.orders(conn, Window(source="shop")) == [
            {"group": "shop", "bucket": None, "currency": "EUR", "orders": 3, "value": "1149.50"},
            {"group": "shop", "bucket": None, "currency": None, "orders": 1, "value": None}]
        with pytest.raises(ValueError, match="unknown IANA timezone"):
            await kpis.orders(conn, WINDOW, bucket="day", tz="Mars/Olympus")


@pytest.mark.asyncio
async def test_cycle_times_and_cancellations(store: Store) -> None:
    await _seed(store)
    async with store.read() as conn:
        # shop: shipped after 2h and 10h, delivered after 26h and 50h (nearest rank: p50 the first of two)
        assert await kpis.cycle_times(conn, WINDOW) == [
            {"bucket": None, "group": "shop", "milestone": "shipped", "count": 2, "p50": 7200.0, "p90": 36000.0,
             "sampled": False},
            {"bucket": None, "group": "shop", "milestone": "delivered", "count": 2, "p50": 93600.0, "p90": 180000.0,
             "sampled": False}]
        daily = await kpis.cycle_times(conn, WINDOW, "channel", "day", "Europe/Berlin")
        assert [(r["bucket"][:10], r["group"], r["milestone"], r["p50"]) for r in daily] == [
            ("2026-10-24", "web", "shipped", 7200.0), ("2026-10-24", "web", "delivered", 93600.0),
            ("2026-10-25", "web", "shipped", 36000.0), ("2026-10-25", "web", "delivered", 180000.0)]
        # amazon: both cancelled, tx_3 after its reservation failed; tx_4's exception came after the cancellation
        assert await kpis.cancellations(conn, WINDOW) == [
            {"bucket": None, "group": "amazon", "orders": 2, "cancelled": 2, "rate": 1.0, "after_stock_problem": 1,
             "stock_share": 0.5, "sampled": False},
            {"bucket": None, "group": "shop", "orders": 3, "cancelled": 0, "rate": 0.0, "after_stock_problem": 0,
             "stock_share": None, "sampled": False}]
        by_channel = await kpis.cancellations(conn, WINDOW, "channel")
        assert [(r["group"], r["orders"], r["cancelled"], r["after_stock_problem"]) for r in by_channel] == [
            (None, 2, 1, 0), ("marketplace", 1, 1, 1), ("web", 2, 0, 0)]


@pytest.mark.asyncio
async def test_sla_attainment_per_step_and_inventory_freshness(store: Store) -> None:
    await _seed(store)
    async with store.read() as conn:
        rows = await kpis.sla_attainment(conn, CONFIG, NOW, WINDOW)
        assert [(r["group"], r["step"], r["on_time"], r["late"], r["overdue"], r["attainment"]) for r in rows] == [
            ("amazon", "accepted", 1, 0, 0, 1.0),  # tx_3 on time; tx_4 was cancelled first (skipped)
            ("shop", "accepted", 1, 1, 1, 1 / 3),  # tx_1 on time, tx_2 late (45m > 30m), tx_5 overdue
            ("shop", "paid", 2, 0, 0, 1.0), ("shop", "shipped", 2, 0, 0, 1.0), ("shop", "delivered", 2, 0, 0, 1.0)]
        assert rows[1]["sla_seconds"] == 1800.0
        by_channel = await kpis.sla_attainment(conn, CONFIG, NOW, WINDOW, attribute="channel")
        assert [(r["group"], r["step"], r["attainment"]) for r in by_channel][:3] == [
            (None, "accepted", 0.0), ("marketplace", "accepted", 1.0), ("web", "accepted", 0.5)]
        with pytest.raises(ValueError, match="no flow for kind"):
            await kpis.sla_attainment(conn, CONFIG, NOW, WINDOW, kind="nonsense")

        assert await kpis.inventory_freshness(conn, NOW) == [
            {"source": "erp", "location": "WH-1", "latest": T0 + timedelta(hours=1), "positions": 2,
             "age_seconds": 255600.0},
            {"source": "shop", "location": "WH-1", "latest": T0 - timedelta(days=1), "positions": 1,
             "age_seconds": 345600.0}]


KPI_QUERY = """{ metrics(since: "2026-10-24T20:30:00Z", until: "2026-10-25T21:30:00Z", timeZone: "Europe/Berlin") {
  orders(bucket: DAY) { group bucket currency orders value }
  cycleTimes(attribute: "channel") { group milestone count p50 p90 }
  cancellations { group orders cancelled rate afterStockProblem stockShare }
  slaAttainment(kind: "order") { group step onTime late overdue attainment }
  inventoryFreshness { source location ageSeconds positions } } }"""


@pytest.mark.asyncio
async def test_kpis_over_graphql(store_url: str) -> None:
    from datetime import UTC

    from tests.support import VIEWER_KEY, gql, running_app

    async with running_app(store_url, clock=lambda: NOW.replace(tzinfo=UTC).timestamp()) as (client, hub):
        await _seed(hub.started().store)
        result = await gql(client, KPI_QUERY, VIEWER_KEY)
        assert "errors" not in result, result
        metrics = result["data"]["metrics"]
        assert metrics["orders"][0] == {"group": "shop", "bucket": "2026-10-24T00:00:00+02:00", "currency": "EUR",
                                        "orders": 1, "value": "100.00"}
        assert metrics["cycleTimes"] == [{"group": "web", "milestone": "shipped", "count": 2, "p50": 7200.0,
                                          "p90": 36000.0},
                                         {"group": "web", "milestone": "delivered", "count": 2, "p50": 93600.0,
                                          "p90": 180000.0}]
        assert metrics["cancellations"][0] == {"group": "amazon", "orders": 2, "cancelled": 2, "rate": 1.0,
                                               "afterStockProblem": 1, "stockShare": 0.5}
        # the test config's sources (erp, wms, shop) name no amazon: its orders still count by the source name
        assert {(r["group"], r["step"]): r["attainment"] for r in metrics["slaAttainment"]}[("shop", "paid")] == 1.0
        assert [r["ageSeconds"] for r in metrics["inventoryFreshness"]] == [255600.0, 345600.0]
        bad = await gql(client, '{ metrics { slaAttainment(kind: "nonsense") { step } } }', VIEWER_KEY)
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert (await gql(client, '{ metrics { orders { orders } } }', None)).get("errors")  # no key: nothing


@pytest.mark.asyncio
async def test_dashboard_shows_the_business_tiles(store_url: str) -> None:
    import re
    from datetime import UTC

    from tests.support import VIEWER_KEY, running_app
    from tests.web.app import login

    async with running_app(store_url, clock=lambda: NOW.replace(tzinfo=UTC).timestamp()) as (client, hub):
        await _seed(hub.started().store)
        assert (await login(client, VIEWER_KEY)).status_code == 303
        page = (await client.get("/dashboard", params={"window": "7d"})).text

        def rows(table: str) -> list[list[str]]:
            body = re.search(rf'<table id="{table}">(.*?)</table>', page, re.S)
            assert body, table
            return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
                    for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)[1:]]

        # 7 days back from now also hold tx_6 (placed two days before T0): shop has 3 EUR orders
        assert rows("kpi-orders") == [["amazon", "2", "50.00 USD"], ["shop", "3", "1149.50 EUR"],
                                      ["shop", "1", "no amount"]]
        assert rows("kpi-cancel")[0] == ["amazon", "2", "2 (100%)", "1 (50%)"]
        assert rows("kpi-cycle")[0] == ["shop", "shipped", "2", "2h", "10h"]
        assert ["shop", "accepted ≤ 30m", "2", "1", "1", "50%"] in rows("kpi-sla")  # tx_6 accepted on time too
        assert rows("kpi-fresh") == [["erp", "WH-1", "2", "2d 23h ago"], ["shop", "WH-1", "1", "4d ago"]]
        by_channel = (await client.get("/dashboard", params={"window": "7d", "by": "channel"})).text
        assert "<th>channel</th>" in by_channel and "<td>web</td>" in by_channel


@pytest.mark.asyncio
async def test_rates_and_percentiles_read_the_newest_orders_when_capped(store: Store) -> None:
    await _seed(store)
    async with store.read() as conn:
        facts, capped = await kpis.milestones(conn, WINDOW, cap=2)
        assert capped and sorted(f.tx_id for f in facts) == ["tx_4", "tx_5"]  # placed at T0+3h and T0+4h
        assert [(r["group"], r["orders"], r["sampled"]) for r in kpis.cancellation_rows(facts, capped)] == [
            ("amazon", 1, True), ("shop", 1, True)]
        facts, capped = await kpis.milestones(conn, WINDOW, cap=5)
        assert not capped and len(facts) == 5
        rows = await kpis.sla_attainment(conn, CONFIG, NOW, WINDOW, cap=1)  # tx_5 (the newest id): overdue
        assert [(r["group"], r["step"], r["overdue"], r["sampled"]) for r in rows] == [("shop", "accepted", 1, True)]


@pytest.mark.asyncio
async def test_sla_attainment_is_counted_from_the_evaluators_step_outcomes(store: Store) -> None:
    """Once the evaluator has seen the orders, SLA attainment is counted in SQL from their step outcomes: every
    order of the window (never sampled, whatever the cap), the same figures as the walk over their events, and a
    step that was pending when evaluated is overdue once the KPI's now passes its due time."""
    await _seed(store)
    async with store.read() as conn:
        walked = await kpis.sla_attainment(conn, CONFIG, NOW, WINDOW)
        walked_by_attribute = await kpis.sla_attainment(conn, CONFIG, NOW, WINDOW, attribute="channel")
    evaluated_at = T0 + 4 * H + M  # tx_5's accepted is pending (due at T0+4h30)
    async with store.write() as conn:
        await Evaluator(store, CONFIG, lambda: evaluated_at).evaluate(conn, [s[0] for s in _STORY], evaluated_at,
                                                                      Changes())
    async with store.read() as conn:
        assert await kpis.sla_attainment(conn, CONFIG, NOW, WINDOW, cap=1) == walked
        assert await kpis.sla_attainment(conn, CONFIG, NOW, WINDOW, attribute="channel", cap=1) == walked_by_attribute
        before_due = await kpis.sla_attainment(conn, CONFIG, T0 + 4 * H + 20 * M, WINDOW, cap=1)
        assert [(r["on_time"], r["late"], r["overdue"], r["sampled"]) for r in before_due
                if (r["group"], r["step"]) == ("shop", "accepted")] == [(1, 1, 0, False)]
