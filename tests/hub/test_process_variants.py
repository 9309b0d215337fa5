"""Process variants and conformance (issue 17 item 7) on a hand-built window, on both stores: the store function,
GraphQL ``metrics { processVariants }`` and the table beside the process map on the dashboard."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest

from hub.config import Config
from hub.export.process_variants import process_variants
from hub.store import Store
from tests.resolvers.seed import T0, event, transaction, write
from tests.support import VIEWER_KEY, gql, running_app
from tests.web.app import login

H = timedelta(hours=1)
NOW = T0 + 2 * H
FULL = ("order.placed", "order.accepted", "payment.captured", "shipment.shipped")
# tx → kind, start, [(type, hours after start)]
STORY = {
    "tx_a": ("order", T0 - 10 * H, [(t, h) for t, h in zip(FULL, (0, 1, 2, 3), strict=True)]),
    "tx_b": ("order", T0 - 9 * H, [(t, h) for t, h in zip(FULL, (0, 1, 2, 5), strict=True)]),
    "tx_c": ("order", T0 - 8 * H, [("order.placed", 0), ("shipment.shipped", 4)]),  # accepted and paid skipped
    "tx_d": ("order", T0 - 7 * H, [("order.placed", 0), ("payment.captured", 1), ("order.accepted", 2),
                                   ("shipment.shipped", 3)]),  # paid before accepted: out of order
    "tx_e": ("order", T0 - 6 * H, [*((t, h) for t, h in zip(FULL, (0, 0.25, 0.5, 1), strict=True)),
                                   ("shipment.in_transit", 2), ("shipment.in_transit", 3),
                                   ("shipment.delivered", 30)]),  # two scans in a row: one activity
    "tx_f": ("transfer", T0 - 5 * H, [("transfer.created", 0), ("transfer.shipped", 1)]),  # another kind
    "tx_g": ("order", T0 - 30 * H, [("order.placed", 0)]),  # started before the window
}
SINCE, UNTIL = T0 - 12 * H, T0


async def _seed(store: Store) -> None:
    events, txs, n = [], [], 0
    for tx, (kind, start, steps) in STORY.items():
        for type_, hours in steps:
            n += 1
            events.append(event(n, tx, "shop", type_, start + timedelta(hours=hours)))
        txs.append(transaction(tx, kind, start, start + timedelta(hours=steps[-1][1]), ["shop"], len(steps)))
    await write(store, event_rows=events, tx_rows=txs)


@pytest.mark.asyncio
async def test_variants_count_paths_throughput_and_deviations(store: Store) -> None:
    await _seed(store)
    async with store.read() as conn:
        result = await process_variants(conn, Config(), "order", SINCE, UNTIL, NOW, limit=3)
    assert (result.transactions, result.conforming, result.deviating, result.capped) == (5, 3, 2, False)
    assert [(v.activities, v.count, v.share, v.deviating, v.deviations, v.p50_seconds, v.p90_seconds)
            for v in result.variants] == [
        (FULL, 2, 0.4, 0, (), 3 * 3600.0, 5 * 3600.0),
        ((*FULL, "shipment.in_transit", "shipment.delivered"), 1, 0.2, 0, (), 30 * 3600.0, 30 * 3600.0),
        (("order.placed", "payment.captured", "order.accepted", "shipment.shipped"), 1, 0.2, 1,
         ("out_of_order: paid",), 3 * 3600.0, 3 * 3600.0)]
    assert result.other_variants == 1  # tx_c's path, beyond the limit
    async with store.read() as conn:
        everything = await process_variants(conn, Config(), "order", SINCE, UNTIL, NOW)
    assert everything.variants[-1].activities == ("order.placed", "shipment.shipped")
    assert everything.variants[-1].deviations == ("skipped: accepted", "skipped: paid")


VARIANTS = """{ metrics(since: "2026-10-24T09:30:00Z", until: "2026-10-24T21:30:00Z") {
  processVariants(kind: "order", first: 2) { transactions conforming deviating otherVariants
    variants { activities count deviating deviations p50Seconds } } } }"""


@pytest.mark.asyncio
async def test_variants_over_graphql_and_beside_the_process_map(store_url: str) -> None:
    async with running_app(store_url, clock=lambda: NOW.replace(tzinfo=UTC).timestamp()) as (client, hub):
        await _seed(hub.started().store)
        result = await gql(client, VARIANTS, VIEWER_KEY)
        assert "errors" not in result, result
        variants = result["data"]["metrics"]["processVariants"]
        assert (variants["transactions"], variants["conforming"], variants["deviating"],
                variants["otherVariants"]) == (5, 3, 2, 2)
        assert variants["variants"][0] == {"activities": list(FULL), "count": 2, "deviating": 0, "deviations": [],
                                           "p50Seconds": 10800.0}
        bad = await gql(client, '{ metrics { processVariants(kind: "nonsense") { transactions } } }', VIEWER_KEY)
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

        assert (await login(client, VIEWER_KEY)).status_code == 303
        page = (await client.get("/dashboard", params={"window": "24h", "kind": "order"})).text
        table = re.search(r'<table id="variant-table">(.*?)</table>', page, re.S)
        assert table, page
        assert "<strong>3</strong> follow the configured order flow" in page
        assert "order.placed → shipment.shipped" in table.group(1)
        assert "1: skipped: accepted, skipped: paid" in table.group(1)
