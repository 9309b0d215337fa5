"""What a shared GraphQL cost budget costs a request on PostgreSQL (issue 15 item 5).

Measured over N sequential calls on one fresh database (after a warm-up), against a bare baseline in the same run:
- ``select_1``: ``SELECT 1`` on the store's engine in its own transaction (a round trip to PostgreSQL: the floor);
- ``take``: :func:`hub.store.cost_budgets.take` (one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``);
- ``take_settle``: a take and then a refund (a query whose page came back short);
- ``take_reading``: the take with a ``read_url`` replica, which also answers whether the request's caller wrote
  lately on any process (read-your-writes, :mod:`hub.store.caller_writes`) in the same statement;
- ``take_lookup``: what that answer would cost as a statement of its own (a take, then a ``caller_writes`` lookup);
- ``write`` / ``write_marked``: a write transaction of one ``SELECT 1``, without and with a caller's mark (with a
  replica, the mark is one more statement before the commit);
- ``memory``: the in-memory bucket SQLite uses (:class:`resolvers.budgets.LeakyBuckets`);
- ``graphql``: a whole ``{ sources { name } }`` request through the app (in-process, httpx.ASGITransport), which
  pays one take (its actual cost equals its requested cost: no settle).

    .venv/bin/python -m bench.cost_budget [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import text

from bench.common import ADMIN_KEY, bench_config, latency_summary, ratio
from bench.workers import PG_URL, _admin
from hub.app import create_app
from hub.store import Store, caller_writes, cost_budgets
from hub.store.replica import reading_as
from resolvers.budgets import LeakyBuckets


async def _timed(calls: int, step: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    for n in range(min(100, calls)):
        await step(n)
    seconds = []
    for n in range(calls):
        started = time.perf_counter()
        await step(n)
        seconds.append(time.perf_counter() - started)
    return latency_summary(seconds)


async def run(calls: int) -> dict[str, dict[str, float]]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        store = await Store.open(url)
        bucket = cost_budgets.Bucket(size=10**12, rate=50.0)
        memory = LeakyBuckets(10**12, 50.0, time.time)

        async def select_1(n: int) -> None:
            async with store.engine.begin() as conn:
                await conn.execute(text("SELECT 1"))

        async def take(n: int) -> None:
            await cost_budgets.take(store, bucket, f"key:{n % 50}", 20, time.time())

        async def take_settle(n: int) -> None:
            await take(n)
            await cost_budgets.settle(store, bucket, f"key:{n % 50}", 10, time.time())

        async def in_memory(n: int) -> None:
            memory.take(f"key:{n % 50}", 20)

        replicated = await Store.open(url, read_url=url)  # the primary stands in for its replica: same statements

        async def take_reading(n: int) -> None:
            with reading_as(f"reader:{n % 50}"):  # a request of its own: nothing known of the caller yet
                await cost_budgets.take(replicated, bucket, f"key:{n % 50}", 20, time.time())

        async def take_lookup(n: int) -> None:
            await take(n)
            async with store.engine.connect() as conn:
                await caller_writes.wrote_lately(conn, f"reader:{n % 50}", 10.0)

        async def write(n: int) -> None:
            async with store.write() as conn:
                await conn.execute(text("SELECT 1"))

        async def write_marked(n: int) -> None:
            with reading_as(f"reader:{n % 50}"):
                async with replicated.write() as conn:
                    await conn.execute(text("SELECT 1"))

        results = {"select_1": await _timed(calls, select_1), "take": await _timed(calls, take),
                   "take_settle": await _timed(calls, take_settle), "take_reading": await _timed(calls, take_reading),
                   "take_lookup": await _timed(calls, take_lookup), "write": await _timed(calls, write),
                   "write_marked": await _timed(calls, write_marked), "memory": await _timed(calls, in_memory)}
        await store.close()
        await replicated.close()
        app = create_app(bench_config(url), evaluate_every=3600)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://hub.bench") as client:
            headers = {"authorization": f"Bearer {ADMIN_KEY}"}

            async def graphql(n: int) -> None:
                response = await client.post("/graphql", json={"query": "{ sources { name } }"}, headers=headers)
                assert response.status_code == 200, response.text

            results["graphql"] = await _timed(calls, graphql)
        return results
    finally:
        await _admin(f'DROP DATABASE "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    results = asyncio.run(run(args.calls))
    print(f"load average {os.getloadavg()[0]:.2f}; {args.calls} sequential calls each, on PostgreSQL")
    floor = results["select_1"]["mean_ms"]
    for method, figures in results.items():
        print(f"{method:13} p50 {figures['p50_ms']:7.3f} ms  p99 {figures['p99_ms']:7.3f} ms  "
              f"mean {figures['mean_ms']:7.3f} ms  ×select_1 {ratio(figures['mean_ms'], floor):.2f}")
    print(f"take / graphql request: {ratio(results['take']['mean_ms'], results['graphql']['mean_ms']):.2f}")
    take = results["take"]["mean_ms"]
    print(f"read-your-writes in the take: ×take {ratio(results['take_reading']['mean_ms'], take):.2f}"
          f" (a lookup of its own: ×take {ratio(results['take_lookup']['mean_ms'], take):.2f});"
          f" a write's mark: ×write {ratio(results['write_marked']['mean_ms'], results['write']['mean_ms']):.2f}")


if __name__ == "__main__":
    main()
