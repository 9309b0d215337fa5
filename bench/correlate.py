"""Correlation: the pure plan's property cases/s, and ``record_events`` events/s on both stores at two sizes.

    .venv/bin/python -m bench.correlate                       # both figures, SQLite and PostgreSQL
    .venv/bin/python -m bench.correlate --engines sqlite --stored 0,30000 --events 9000

1. **plan cases/s**: random cases of the property test (up to 14 events over 3 namespaces with placeholders, a
   random arrival order and batch split) recorded into the dict store of ``tests/hub/plan_memory.py`` through
   :func:`hub.correlation.plan.plan`, each checked against the oracle (no database, no hypothesis overhead).
2. **record_events events/s**: the normalizer's recording step alone (no HTTP, no parsing, no evaluator): 500-event
   batches of linked orders (``bench.common.order_stream``: shop, erp and wms events of one order arrive batches
   apart) each in one write transaction, after ``--stored`` events were recorded the same way; with the SQL
   statements per batch (an ``executemany`` counts once). Runs on whatever ``hub`` is importable, so the same
   file measures another checkout: ``PYTHONPATH=/path/to/checkout python -m bench.correlate``.
Figures are printed, never asserted; compare figures of one run (the load average is printed beside them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import event as sa_event

from bench.common import order_stream
from hub.correlation.plan import CorrelationSettings
from hub.model import DEFAULT_JUNK_VALUES, Event, Ref
from hub.store import Store
from hub.store.record import Incoming, record_events

PG_URL = os.environ.get("CROSSTRACE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
SETTINGS = CorrelationSettings(frozenset(DEFAULT_JUNK_VALUES), 50)
KEYS = ([("shop:order", v) for v in ("1", "2", "3", "4", "PENDING")]
        + [("erp:so", v) for v in ("SO-1", "SO-2", "SO-3", "SO-4", "PENDING")]
        + [("wms:shipment", v) for v in ("SH-1", "SH-2", "SH-3")])


def plan_cases(cases: int, seed: int = 14) -> tuple[float, float]:
    """Random property cases through the pure plan, each checked against the oracle; cases per wall and CPU second."""
    from tests.hub.plan_memory import MemoryStore
    from tests.hub.test_correlate_plan import as_indexes, components, placeholders_of

    rng = random.Random(seed)
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(cases):
        sets = [frozenset(rng.sample(KEYS, rng.randint(0, 3))) for _ in range(rng.randint(1, 14))]
        order = rng.sample(range(len(sets)), len(sets))
        bounds = sorted({0, len(sets), *(rng.randint(0, len(sets)) for _ in range(rng.randint(0, 4)))})
        store = MemoryStore(2)
        batch = [(f"evt_{i:03d}", sets[i]) for i in order]
        for start, end in zip(bounds, bounds[1:], strict=False):
            store.record(dict(batch[start:end]))
        store.check_invariants()
        assert as_indexes(store.partition()) == components(sets, placeholders_of(sets, 2))
    return cases / (time.perf_counter() - started), cases / (time.process_time() - cpu)


def order_events(first: int, count: int, run: str) -> Iterator[Incoming]:
    """``count`` events of orders from ``first`` on, the three stages of an order 50 orders apart."""
    now = datetime.now(UTC).replace(tzinfo=None)
    for (order, stage), _ in zip(order_stream(count // 3 + 100, 50), range(count), strict=False):
        order += first
        refs = [[Ref("shop:order", f"50{order:010d}"), Ref("shop:order_name", f"#{order + 1000}")],
                [Ref("erp:sales_order", f"SO-{order:08d}"), Ref("shop:order", f"50{order:010d}")],
                [Ref("wms:shipment", f"SH-{order:08d}"), Ref("erp:sales_order", f"SO-{order:08d}"),
                 Ref("wms:wave", f"W-{order // 40}", "related")]][stage]
        source = ("shop", "erp", "wms")[stage]
        yield Incoming(Event(source=source, source_event_id=f"{run}-{order}-{stage}",
                             type=("order.placed", "erp.posted", "shipment.shipped")[stage], occurred_at=now,
                             refs=refs), f"dlv_{run}_{order // 100}_{stage}", now)


async def record_all(store: Store, items: list[Incoming], batch: int) -> None:
    for start in range(0, len(items), batch):
        async with store.write() as conn:
            await record_events(store, conn, items[start:start + batch], SETTINGS)


async def record_rate(url: str, stored: int, events: int, batch: int, search_path: str | None = None
                      ) -> tuple[float, float, float]:
    """events/s, this process's CPU ms per 1,000 events (steadier than wall time on shared cores; the database
    server's CPU is not in it) and statements per batch, recording ``events`` after ``stored`` were recorded."""
    store = await Store.open(url, search_path=search_path)
    try:
        await record_all(store, list(order_events(0, stored, "pre")), batch)
        statements = 0

        def count(*_: object) -> None:
            nonlocal statements
            statements += 1

        sa_event.listen(store.engine.sync_engine, "before_cursor_execute", count)
        items = list(order_events(stored, events, "run"))
        started, cpu = time.perf_counter(), time.process_time()
        await record_all(store, items, batch)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        return events / elapsed, cpu * 1e6 / events, statements / -(-events // batch)
    finally:
        await store.close()


async def on_engine(engine: str, stored: int, events: int, batch: int) -> tuple[float, float, float]:
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            return await record_rate(f"sqlite+aiosqlite:///{folder}/c.db", stored, events, batch)
    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        return await record_rate(PG_URL, stored, events, batch, search_path=schema)
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=5000, help="random plan cases (0: skip the figure)")
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--stored", default="0,30000", help="comma-separated stored events before measuring")
    parser.add_argument("--events", type=int, default=9000, help="events recorded while measuring")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args(argv)
    if args.cases:
        wall, cpu = plan_cases(args.cases)
        print(f"plan: {wall:,.0f} property cases/s, {cpu:,.0f} per CPU second (load {os.getloadavg()[0]:.1f})",
              flush=True)
    for engine in filter(None, args.engines.split(",")):
        for stored in (int(s) for s in args.stored.split(",")):
            rate, cpu_ms, per_batch = asyncio.run(on_engine(engine, stored, args.events, args.batch))
            print(f"record_events {engine} after {stored:,} stored: {rate:,.0f} events/s, {cpu_ms:,.0f} CPU ms "
                  f"per 1,000 events, {per_batch:.1f} statements per {args.batch}-event batch "
                  f"(load {os.getloadavg()[0]:.1f})",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
