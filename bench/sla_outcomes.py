"""SLA attainment before and after step outcomes, at two sizes, on SQLite and PostgreSQL.

Seeds orders as ``bench.kpis`` does (set-based, no evaluator), then times ``hub.kpis.sla_attainment`` over a
one-day and a 30-day window twice in one run: first with no step outcomes kept (every transaction walked from its
events, at most 100k: the path before outcomes existed, and still the path for transactions the evaluator has not
seen since ``[flows]`` changed), then after recording each order's outcomes as the evaluator does
(``hub.exceptions.step_outcomes``; the time that takes is printed too). Beside them the bare driver count of the
30-day window's orders. Figures are printed, never asserted.

    .venv/bin/python -m bench.sla_outcomes [--transactions 50000,200000] [--stores sqlite,postgres] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bench.common import scratch_postgres
from bench.kpis import _FMT, BARE_LABEL, BARE_SQL, NOW, _bare_args, _seed_postgres, _seed_sqlite, _time, print_figures
from hub import kpis
from hub.config import Config
from hub.exceptions.flows import transaction_steps
from hub.exceptions.step_outcomes import flow_key, outcome_rows
from hub.store import Store
from hub.store import kpi_queries as kq
from hub.store import metrics_queries as mq
from hub.store import step_outcomes as stored_outcomes

CHUNK = 5000
DAY = mq.Window(NOW - timedelta(days=8), NOW - timedelta(days=7))
MONTH = mq.Window(NOW - timedelta(days=37), NOW - timedelta(days=7))


async def _record_outcomes(store: Store, n: int, config: Config) -> None:
    """Each seeded order's step outcomes, as the evaluator keeps them when it evaluates the order."""
    key = flow_key(config, "order") or ""
    ids = [f"tx_{i:012d}" for i in range(n)]  # bench.kpis names its orders so
    for start in range(0, n, CHUNK):
        chunk = ids[start:start + CHUNK]
        async with store.read() as conn:
            lines = await kq.timelines_of(conn, chunk, None)
        rows = [row for line in lines for row in outcome_rows(
            config, line.tx_id, "order", line.events, transaction_steps(config, "order", line.events, NOW), key)]
        async with store.write() as conn:
            await stored_outcomes.replace(conn, chunk, rows)


async def _measure(store: Store, n: int, bare: Callable[[], Awaitable[Any]], repeats: int,
                   analyze: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    config = Config()

    def timed(window: mq.Window) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            async with store.read() as conn:
                return await kpis.sla_attainment(conn, config, NOW, window)
        return run

    results: dict[str, Any] = {BARE_LABEL: await _time(bare, repeats)}
    for label, window in (("1d", DAY), ("30d", MONTH)):
        results[f"SLA attainment {label}, walked (no outcomes)"] = await _time(timed(window), repeats)
    started = time.perf_counter()
    await _record_outcomes(store, n, config)
    results["recording outcomes (s)"] = time.perf_counter() - started
    await analyze()  # the statistics autovacuum (PostgreSQL) or a periodic ANALYZE would have by then
    for label, window in (("1d", DAY), ("30d", MONTH)):
        results[f"SLA attainment {label}, from outcomes"] = await _time(timed(window), repeats)
    return results


async def _run_sqlite(n: int, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/kpis.db"
        store = await Store.open(f"sqlite+aiosqlite:///{path}")
        await asyncio.to_thread(_seed_sqlite, path, n)
        db = sqlite3.connect(path, check_same_thread=False)
        type_, since, until = _bare_args()

        async def bare() -> Any:
            return db.execute(BARE_SQL.format(p="?"), (type_, since.strftime(_FMT), until.strftime(_FMT))).fetchall()
        async def analyze() -> Any:
            return db.execute("ANALYZE")
        try:
            return await _measure(store, n, bare, repeats, analyze)
        finally:
            db.close()
            await store.close()


async def _run_postgres(n: int, repeats: int) -> dict[str, Any]:
    async with scratch_postgres("bench_sla") as (admin, store, schema):
        await _seed_postgres(store, schema, n)
        statement = await admin.prepare(BARE_SQL.replace("{p}", "$1", 1).replace("{p}", "$2", 1)
                                        .replace("{p}", "$3", 1))

        async def bare() -> Any:
            return await statement.fetch(*_bare_args())

        async def analyze() -> Any:
            return await admin.execute(f'ANALYZE "{schema}".step_outcomes')
        return await _measure(store, n, bare, repeats, analyze)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", default="50000,200000", help="comma-separated order counts")
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per query")
    args = parser.parse_args(argv)
    for name in args.stores.split(","):
        for n in (int(size) for size in args.transactions.split(",")):
            print(f"{name}, {n:,} orders, load average {os.getloadavg()[0]:.2f}", flush=True)
            run = _run_sqlite if name == "sqlite" else _run_postgres
            print_figures(asyncio.run(run(n, args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
