"""BI aggregates on both stores: counts by dimension and local time bucket, lag percentiles, backlog."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.store import Store
from hub.store import metrics_queries as mq
from hub.store.tables import stock_divergences
from tests.resolvers.seed import T0, delivery, event, exception, transaction, write
from tests.support import VIEWER_KEY, gql, running_app


async def _seed(store: Store) -> None:
    evs = [event(1, "tx_a", "erp", "order.placed", T0), event(2, "tx_a", "shop", "payment.captured",
                                                              T0 + timedelta(seconds=60)),
           event(3, "tx_a", "erp", "erp.posted", T0 + timedelta(hours=1), status="failed"),  # 00:30 Berlin, Oct 25
           event(4, "tx_b", "erp", "order.placed", T0 + timedelta(hours=3)),
           event(5, "tx_b", "shop", "payment.captured", T0 + timedelta(hours=3, seconds=180))]
    # 100 more erp events with lags of 1..100 s on a third transaction, for exact percentiles
    evs += [event(10 + i, "tx_c", "erp", "inventory.snapshot", T0 - timedelta(days=3, minutes=i), lag_s=i + 1)
            for i in range(100)]
    await write(store, event_rows=evs,
                tx_rows=[transaction("tx_a", "order", T0, T0 + timedelta(hours=1), ["erp", "shop"], 3),
                         transaction("tx_b", "order", T0 + timedelta(hours=3), T0 + timedelta(hours=3), ["erp",
                                                                                                         "shop"], 2),
                         transaction("tx_c", "adjustment", T0 - timedelta(days=3), T0, ["erp"], 100)],
                delivery_rows=[delivery(1, "erp", "done", T0), delivery(2, "erp", "done", T0),
                               delivery(3, "shop", "dead", T0 + timedelta(hours=2))],
                exception_rows=[
                    exception(1, "amount_mismatch", "open", T0 - timedelta(minutes=30), tx="tx_a",
                              evidence={"currency": "EUR", "difference": "-5.00"}),
                    exception(2, "amount_mismatch", "acknowledged", T0 - timedelta(days=2), tx="tx_b",
                              evidence={"currency": "EUR", "difference": "2.50"}),
                    exception(3, "amount_mismatch", "open", T0 - timedelta(days=2, hours=1),
                              evidence={"currency": "USD", "difference": "10"}),
                    exception(4, "amount_mismatch", "resolved", T0, evidence={"currency": "EUR", "difference": "99"}),
                    exception(5, "step_overdue", "open", T0, system="shop")])


@pytest.mark.asyncio
async def test_counts_group_by_dimensions_and_local_buckets(store: Store) -> None:
    await _seed(store)
    window = mq.Window(since=T0 - timedelta(hours=1), until=T0 + timedelta(days=1))
    async with store.read() as conn:
        by_source = await mq.counts(conn, "events", ["source", "status"], window)
        assert by_source == [{"source": "erp", "status": "failed", "bucket": None, "count": 1},
                             {"source": "erp", "status": "ok", "bucket": None, "count": 2},
                             {"source": "shop", "status": "ok", "bucket": None, "count": 2}]
        # Berlin: 21:30 UTC on Oct 24 is still Oct 24 locally, 22:30 UTC is already Oct 25 (CEST, +02:00);
        # Oct 25 is the day clocks go back, and the bucket keeps the offset in force at its midnight.
        daily = await mq.counts(conn, "events", [], window, "day", "Europe/Berlin")
        assert daily == [{"bucket": "2026-10-24T00:00:00+02:00", "count": 2},
                         {"bucket": "2026-10-25T00:00:00+02:00", "count": 3}]
        utc_daily = await mq.counts(conn, "events", [], window, "day", "UTC")
        assert utc_daily == [{"bucket": "2026-10-24T00:00:00+00:00", "count": 3},
                             {"bucket": "2026-10-25T00:00:00+00:00", "count": 2}]
        # Kolkata is +05:30: one UTC hour (21:00-22:00) spans two local hours
        hourly = await mq.counts(conn, "events", ["type"], mq.Window(T0, T0 + timedelta(minutes=2)), "hour",
                                 "Asia/Kolkata")
        assert hourly == [{"type": "order.placed", "bucket": "2026-10-25T03:00:00+05:30", "count": 1},
                          {"type": "payment.captured", "bucket": "2026-10-25T03:00:00+05:30", "count": 1}]
        late = await mq.counts(conn, "events", [], mq.Window(T0 + timedelta(minutes=30), T0 + timedelta(hours=2)),
                               "hour", "Asia/Kolkata")
        assert late == [{"bucket": "2026-10-25T04:00:00+05:30", "count": 1}]

        tx_by_source = await mq.counts(conn, "transactions", ["source", "kind"])
        assert tx_by_source == [{"source": "erp", "kind": "adjustment", "bucket": None, "count": 1},
                                {"source": "erp", "kind": "order", "bucket": None, "count": 2},
                                {"source": "shop", "kind": "order", "bucket": None, "count": 2}]
        assert await mq.counts(conn, "deliveries", ["source", "status"]) == [
            {"source": "erp", "status": "done", "bucket": None, "count": 2},
            {"source": "shop", "status": "dead", "bucket": None, "count": 1}]
        by_type = await mq.counts(conn, "exceptions", ["type", "status"], mq.Window(source="erp"))
        assert {(r["type"], r["status"]): r["count"] for r in by_type} == {
            ("amount_mismatch", "open"): 2, ("amount_mismatch", "acknowledged"): 1, ("amount_mismatch", "resolved"): 1}
        with pytest.raises(ValueError, match="cannot be grouped by"):
            await mq.counts(conn, "deliveries", ["type"])
        with pytest.raises(ValueError, match="unknown IANA timezone"):
            await mq.counts(conn, "events", [], bucket="day", tz="Mars/Olympus")


@pytest.mark.asyncio
async def test_lag_percentiles_and_reconciliation_backlog(store: Store) -> None:
    await _seed(store)
    async with store.read() as conn:
        lag = await mq.receive_lag(conn, mq.Window(source="erp", until=T0 - timedelta(days=1)))
        assert lag == [{"source": "erp", "count": 100, "p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0,
                        "sampled": False}]
        steps = await mq.step_lag(conn, mq.Window(since=T0 - timedelta(hours=1)))
        assert [(r["from_type"], r["from_source"], r["to_type"], r["to_source"], r["count"], r["p50"], r["max"])
                for r in steps] == [("order.placed", "erp", "payment.captured", "shop", 2, 60.0, 180.0),
                                    ("payment.captured", "shop", "erp.posted", "erp", 1, 3540.0, 3540.0)]
        chosen = await mq.step_lag(conn, mq.Window(), "order.placed", "erp.posted")
        assert [(r["count"], r["p50"]) for r in chosen] == [(1, 3600.0)]

        backlog = await mq.reconciliation_backlog(conn, T0)
        assert backlog == [{"currency": "EUR", "age": "<1h", "exceptions": 1, "unmatched": "5.00"},
                           {"currency": "EUR", "age": "1d-7d", "exceptions": 1, "unmatched": "2.50"},
                           {"currency": "USD", "age": "1d-7d", "exceptions": 1, "unmatched": "10"}]


QUERY = """query($tz: String!) { metrics(timezone: $tz, since: "2026-10-24T00:00:00Z") {
  counts(subject: EVENTS, groupBy: [SOURCE], bucket: DAY) { source bucket count }
  receiveLag { source count p50 p99 } reconciliationBacklog { currency age unmatched }
  divergences { location source divergent raised } } }"""


@pytest.mark.asyncio
async def test_metrics_over_graphql_are_flat_rows(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        await _seed(hub.started().store)
        async with hub.started().store.write() as conn:
            await conn.execute(stock_divergences.insert(), [
                {"sku": sku, "location": "WH-1", "source": "wms", "authoritative": "erp", "units": 2.0, "states": {},
                 "since": T0, "status": status, "updated_at": T0} for sku, status in (("A", "open"), ("B", "pending"))])
        result = await gql(client, QUERY, VIEWER_KEY, tz="Europe/Berlin")
        assert "errors" not in result, result
        metrics = result["data"]["metrics"]
        assert metrics["counts"] == [{"source": "erp", "bucket": "2026-10-24T00:00:00+02:00", "count": 1},
                                     {"source": "shop", "bucket": "2026-10-24T00:00:00+02:00", "count": 1},
                                     {"source": "erp", "bucket": "2026-10-25T00:00:00+02:00", "count": 2},
                                     {"source": "shop", "bucket": "2026-10-25T00:00:00+02:00", "count": 1}]
        assert {r["source"]: r["count"] for r in metrics["receiveLag"]} == {"erp": 3, "shop": 2}
        assert {r["currency"] for r in metrics["reconciliationBacklog"]} == {"EUR", "USD"}
        assert metrics["divergences"] == [{"location": "WH-1", "source": "wms", "divergent": 2, "raised": 1}]
        bad = await gql(client, QUERY, VIEWER_KEY, tz="Nowhere/Land")
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT" and bad["data"] is None
