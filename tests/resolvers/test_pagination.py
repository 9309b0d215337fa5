"""Keyset pages never skip or repeat a transaction while events keep arriving (and merging)."""

from __future__ import annotations

import pytest

from tests.support import OPERATOR_KEY, cloudevent, dumps, gql, running_app

PAGE = """query($after: String, $filter: TransactionFilter) { transactions(first: 7, after: $after, filter: $filter) {
  edges { cursor node { id } } nodes { id kind } pageInfo { hasNextPage endCursor } } }"""


@pytest.mark.asyncio
async def test_paging_while_appending_never_skips_or_repeats(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        async def ingest(*events: dict) -> None:
            response = await client.post("/ingest", content=dumps(list(events)), headers={
                "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"})
            assert response.status_code == 202, response.text
            await hub.normalizer.run_until_idle()

        await ingest(*[cloudevent("erp", "order.placed", [("erp:so", f"SO-{n}")], time_=f"2026-11-01T10:{n:02d}:00Z")
                       for n in range(30)])
        before = {n["id"] for n in (await gql(client, '{ transactions(first: 100) { nodes { id } } }'))[
            "data"]["transactions"]["nodes"]}
        seen: list[str] = []
        after = None
        round_ = 0
        while True:
            page = (await gql(client, PAGE, after=after))["data"]["transactions"]
            seen += [n["id"] for n in page["nodes"]]
            assert [e["node"]["id"] for e in page["edges"]] == [n["id"] for n in page["nodes"]]
            round_ += 1
            # meanwhile: new orders arrive, and an early event moves an old order's first event time
            await ingest(cloudevent("erp", "order.placed", [("erp:so", f"NEW-{round_}")]),
                         cloudevent("shop", "order.updated", [("erp:so", f"SO-{round_ * 3}")],
                                    time_="2026-10-01T00:00:00Z"))
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert len(seen) == len(set(seen)) and set(seen) == before

        only_orders = await gql(client, PAGE, filter={"kind": "order", "source": "shop"})
        assert {n["kind"] for n in only_orders["data"]["transactions"]["nodes"]} == {"order"}
        bad = await gql(client, '{ transactions(first: 101) { nodes { id } } }')
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        bad = await gql(client, '{ transactions(after: "garbage!") { nodes { id } } }')
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
