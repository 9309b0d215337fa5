"""Cost budgets hold across hub processes on PostgreSQL: two apps on one database share each caller's bucket,
concurrent takes never overspend it, and a budget store that does not answer refuses the query (503)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from hub.store import Store, cost_budgets
from hub.store.engine import open_engine
from tests.resolvers.test_limits import COST_201, _cost, _post, _seed_orders
from tests.support import OPERATOR_KEY, VIEWER_KEY, running_app

pytestmark = [pytest.mark.asyncio, pytest.mark.parametrize("store_url", ["postgres"], indirect=True)]
LIMITS = {"graphql": {"max_cost": 300, "cost_bucket": 300, "cost_restore_rate": 10}}


async def test_a_budget_spent_on_one_process_is_spent_on_the_other_and_refills(store_url: str) -> None:
    now = [1_800_000_000.0]
    async with (running_app(store_url, clock=lambda: now[0], extra=LIMITS) as (first, hub),
                running_app(store_url, clock=lambda: now[0], extra=LIMITS) as (second, _)):
        await _seed_orders(hub.started().store, 100, big_events=1)
        assert _cost(await _post(first, {"query": COST_201})) == (201, 201, 99)
        refused = await _post(second, {"query": COST_201})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "11"
        assert _cost(refused) == (201, 0, 99)
        assert (await _post(second, {"query": COST_201}, key=VIEWER_KEY)).status_code == 200  # its own budget
        now[0] += 11  # 110 points back: 209
        assert _cost(await _post(second, {"query": COST_201})) == (201, 201, 8)
        assert (await _post(first, {"query": COST_201})).status_code == 429


async def test_concurrent_takes_from_two_stores_never_overspend(store_url: str) -> None:
    stores = [await Store.open(store_url), await Store.open(store_url)]
    try:
        bucket = cost_budgets.Bucket(size=500, rate=0.001)
        results = await asyncio.gather(*(cost_budgets.take(stores[n % 2], bucket, "key:bi", 100, 1_800_000_000.0)
                                         for n in range(12)))
        assert sorted(taken for taken, _, _ in results) == [False] * 7 + [True] * 5
        assert await cost_budgets.level(stores[0], bucket, "key:bi", 1_800_000_000.0) == 0
        assert await cost_budgets.forget_full(stores[1], bucket, 1_800_000_000.0 + 400_000) == 0  # 400 points
        assert await cost_budgets.forget_full(stores[1], bucket, 1_800_000_000.0 + 500_000) == 1  # full: forgotten
    finally:
        for store in stores:
            await store.close()


async def test_a_budget_store_that_does_not_answer_refuses_with_503(store_url: str) -> None:
    unreachable = Store(open_engine("postgresql+asyncpg://postgres@127.0.0.1:1/test"))
    async with running_app(store_url) as (client, hub):
        running = hub.started()
        hub.running = dataclasses.replace(running, store=unreachable)
        try:
            response = await _post(client, {"query": "{ sources { name } }"}, key=OPERATOR_KEY)
        finally:
            hub.running = running
            await unreachable.close()
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        assert (await _post(client, {"query": "{ sources { name } }"})).status_code == 200
