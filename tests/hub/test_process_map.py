"""The process map and the dashboard's exception ages, on SQLite and PostgreSQL, over the web seed's deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.export.process_map import process_map
from hub.store import dashboard_queries as dq
from tests.support import cloudevent
from tests.web import seed
from tests.web.app import deliver_story, web_app

BASE = (datetime.now(UTC) - timedelta(hours=30)).replace(minute=0, second=0, microsecond=0, tzinfo=None)


@pytest.mark.asyncio
async def test_directly_follows_graph_counts_and_median_lag(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        for source, event in seed.story(BASE.replace(tzinfo=UTC)):
            path, body, headers = seed.signed(source, event)
            assert (await client.post(path, content=body, headers=headers)).status_code == 202
        # a second order with the same first two steps, 5 minutes apart instead of 70 s
        for source, event in [("shop", cloudevent("shop", "order.placed", [("shop:order", "W2")], id="x1",
                                                   time_=seed._at(BASE, 10))),
                              ("pay", cloudevent("pay", "payment.captured", [("shop:order", "W2")], id="x2",
                                                 time_=seed._at(BASE, 15)))]:
            path, body, headers = seed.signed(source, event)
            assert (await client.post(path, content=body, headers=headers)).status_code == 202
        await hub.normalizer.run_until_idle()
        async with hub.started().store.read() as conn:
            pm = await process_map(conn, "order", BASE - timedelta(hours=1), BASE + timedelta(days=2))
            nothing = await process_map(conn, "order", BASE + timedelta(days=3), BASE + timedelta(days=4))
            transfers = await process_map(conn, "transfer", BASE - timedelta(hours=2), BASE + timedelta(days=2))
            capped = await process_map(conn, "order", BASE - timedelta(hours=1), BASE + timedelta(days=2),
                                       max_transactions=2)
        edges = {(e.source, e.target): e for e in pm.edges}
        placed_paid = edges[("shop order.placed", "pay payment.captured")]
        assert placed_paid.count == 2 and placed_paid.median_lag_seconds == (70 + 300) / 2
        assert edges[("erp sync.failed", "erp erp.posted")].count == 1
        nodes = {n.id: n for n in pm.nodes}
        assert nodes["shop order.placed"].starts == 4  # W1001, W1002, shop's "7", W2
        assert nodes["erp order.placed"].starts == 1  # the ERP's own order "7"
        # 5 orders; the two ref-less inventory snapshots are adjustments (hub.model.transaction_kind), not orders
        assert pm.transactions == 5 and not pm.capped
        assert "erp inventory.snapshot" not in nodes
        assert pm.nodes[0].position <= pm.nodes[-1].position
        assert nothing.transactions == 0 and nothing.nodes == [] and nothing.edges == []
        assert [(e.source, e.target) for e in transfers.edges] == [("erp transfer.created", "wms transfer.shipped")]
        assert capped.capped and capped.transactions == 2


@pytest.mark.asyncio
async def test_open_exceptions_by_type_and_age(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        now = datetime.now(UTC).replace(tzinfo=None)
        async with hub.started().store.read() as conn:
            fresh = await dq.open_exceptions_by_age(conn, now)
            later = await dq.open_exceptions_by_age(conn, now + timedelta(days=3))
            much_later = await dq.open_exceptions_by_age(conn, now + timedelta(days=30))
        counts = {r["type"]: r["count"] for r in fresh}
        assert counts["failed"] == 1 and counts["dead_letter"] == 1 and counts["late"] >= 1
        assert {r["age"] for r in fresh} == {"<1h"}
        assert {r["age"] for r in later} == {"1d-7d"} and {r["age"] for r in much_later} == {">7d"}
        assert sum(r["count"] for r in later) == sum(counts.values())
