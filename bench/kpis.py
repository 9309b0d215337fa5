"""The business KPI queries at 1M transactions, on SQLite and PostgreSQL (issue 17 item 4, item 7).

Seeds orders set-based, in batches (``sqlite3.executemany`` / asyncpg ``copy_records_to_table``): each an
``order.placed`` with an amount from one of three channels, then accepted, captured, shipped and (mostly)
delivered, a few cancelled after a failed reservation; a ``channel`` attribute on most; stock positions for 2,000
SKUs at 5 locations. Orders are spread over 90 days. Then times, through the hub's own functions (what GraphQL
``metrics`` and the dashboard call), each KPI over a one-day and a 30-day window, and beside them a bare driver
query: the count of orders placed in the 30-day window. Figures are printed, never asserted.

    .venv/bin/python -m bench.kpis [--transactions 1000000] [--stores sqlite,postgres] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson

from bench.common import latency_summary, scratch_postgres
from hub import kpis
from hub.config import Config
from hub.export.process_variants import process_variants
from hub.store import Store
from hub.store import metrics_queries as mq

NOW = datetime(2026, 12, 6, 12, 0, 0)
SPAN = timedelta(days=90)
CHANNELS = (("shop", "web", 60), ("amazon", "marketplace", 30), ("pos", "store", 10))
EVENT_COLUMNS = ("id", "source", "source_event_id", "type", "occurred_at", "received_at", "tx_id", "delivery_id",
                 "status", "amount_value", "amount_currency", "amount_kind")
TX_COLUMNS = ("id", "kind", "first_at", "last_at", "updated_at", "events", "systems")
ATTR_COLUMNS = ("tx_id", "name", "value")
POSITION_COLUMNS = ("sku", "location", "source", "state", "qty", "as_of", "event_id", "updated_at")
BATCH = 50_000
BARE_LABEL = "bare: count orders placed in 30d (driver)"
BARE_SQL = "SELECT count(DISTINCT tx_id) FROM events WHERE type = {p} AND occurred_at >= {p} AND occurred_at < {p}"
M = timedelta(minutes=1)


def _batches(n: int, seed: int = 17) -> Iterator[tuple[list[tuple], list[tuple], list[tuple]]]:
    """(events, transactions, attributes) for ``n`` orders placed in time order over :data:`SPAN`, in batches."""
    rnd = random.Random(seed)
    step = SPAN / n
    start = NOW - SPAN
    evs: list[tuple] = []
    txs: list[tuple] = []
    attrs: list[tuple] = []
    counter = 0
    for i in range(n):
        tx = f"tx_{i:012d}"
        source, channel, _ = rnd.choices(CHANNELS, weights=[c[2] for c in CHANNELS])[0]
        placed = start + step * i
        steps = [(source, "order.placed", placed, "ok")]
        if rnd.random() < 0.05:  # cancelled, half of them after a failed reservation
            if rnd.random() < 0.5:
                steps.append(("wms", "inventory.reserved", placed + 30 * M, "failed"))
            steps.append((source, "order.cancelled", placed + 90 * M, "ok"))
        else:
            accepted = placed + rnd.randrange(2, 60) * M
            paid = accepted + rnd.randrange(1, 120) * M
            shipped = paid + rnd.randrange(60, 72 * 60) * M
            steps += [("erp", "order.accepted", accepted, "ok"), ("stripe", "payment.captured", paid, "ok"),
                      ("wms", "shipment.shipped", shipped, "ok")]
            if shipped + 3 * 24 * 60 * M < NOW and rnd.random() < 0.9:
                steps.append(("carrier", "shipment.delivered", shipped + rnd.randrange(12 * 60, 96 * 60) * M, "ok"))
        for k, (src, type_, at, status) in enumerate(steps):
            counter += 1
            amount = (f"{rnd.randrange(500, 50000) / 100:.2f}", "EUR", "total") if k == 0 else (None, None, None)
            evs.append((f"evt_{counter:016d}", src, f"se-{counter}", type_, at, at + timedelta(seconds=2), tx,
                        f"dlv_{counter:016d}", status, *amount))
        txs.append((tx, "order", placed, steps[-1][2], steps[-1][2], len(steps), sorted({s[0] for s in steps})))
        if rnd.random() < 0.8:
            attrs.append((tx, "channel", channel))
        if len(txs) >= BATCH:
            yield evs, txs, attrs
            evs, txs, attrs = [], [], []
    if txs:
        yield evs, txs, attrs


def _positions() -> list[tuple]:
    rnd = random.Random(3)
    return [(f"SKU-{s:05d}", f"WH-{loc}", source, "on_hand", float(rnd.randrange(0, 100)),
             NOW - timedelta(minutes=rnd.randrange(1, 60 * 24 * 3)), "evt_x", NOW)
            for s in range(2000) for loc in range(5) for source in ("erp", "wms")]


_FMT = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DateTime storage format


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime(_FMT)
    if isinstance(value, list):
        return orjson.dumps(value).decode()
    return value


def _insert_sqlite(db: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                   [tuple(_sqlite_value(v) for v in row) for row in rows])


def _seed_sqlite(path: str, n: int) -> None:
    db = sqlite3.connect(path)
    for evs, txs, attrs in _batches(n):
        _insert_sqlite(db, "events", EVENT_COLUMNS, evs)
        _insert_sqlite(db, "transactions", TX_COLUMNS, txs)
        _insert_sqlite(db, "transaction_attributes", ATTR_COLUMNS, attrs)
        db.commit()
    _insert_sqlite(db, "stock_positions", POSITION_COLUMNS, _positions())
    db.commit()
    db.execute("ANALYZE")
    db.close()


async def _seed_postgres(store: Store, schema: str, n: int) -> None:
    async with store.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        for evs, txs, attrs in _batches(n):
            await raw.copy_records_to_table("events", records=evs, columns=EVENT_COLUMNS, schema_name=schema)
            await raw.copy_records_to_table("transactions", records=[(*t[:6], orjson.dumps(t[6]).decode())
                                                                     for t in txs],
                                            columns=TX_COLUMNS, schema_name=schema)
            await raw.copy_records_to_table("transaction_attributes", records=attrs, columns=ATTR_COLUMNS,
                                            schema_name=schema)
        await raw.copy_records_to_table("stock_positions", records=_positions(), columns=POSITION_COLUMNS,
                                        schema_name=schema)
        await raw.execute("ANALYZE")


async def _time(fn: Callable[[], Awaitable[Any]], repeats: int) -> dict[str, float]:
    await fn()  # warm: first-time plan and page cache
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        await fn()
        seconds.append(time.perf_counter() - started)
    return latency_summary(seconds)


def _queries() -> dict[str, Callable[[Any], Awaitable[Any]]]:
    day = mq.Window(NOW - timedelta(days=8), NOW - timedelta(days=7))
    month = mq.Window(NOW - timedelta(days=37), NOW - timedelta(days=7))
    config = Config()
    return {
        "orders 30d per channel, by day (Berlin)": lambda c: kpis.orders(c, month, None, "day", "Europe/Berlin"),
        "orders 30d per attribute channel": lambda c: kpis.orders(c, month, "channel"),
        "cycle times 1d per channel": lambda c: kpis.cycle_times(c, day),
        "cycle times 30d per channel (100k cap)": lambda c: kpis.cycle_times(c, month),
        "cancellations 1d per attribute": lambda c: kpis.cancellations(c, day, "channel"),
        "cancellations 30d per channel (100k cap)": lambda c: kpis.cancellations(c, month),
        "SLA attainment 1d per channel": lambda c: kpis.sla_attainment(c, config, NOW, day),
        "SLA attainment 30d per channel (100k cap)": lambda c: kpis.sla_attainment(c, config, NOW, month),
        "inventory freshness (20k positions)": lambda c: kpis.inventory_freshness(c, NOW),
        "process variants 1d (5k cap)": lambda c: process_variants(c, config, "order", day.since, day.until, NOW),
    }


async def _measure(store: Store, bare: Callable[[], Awaitable[Any]], repeats: int) -> dict[str, dict[str, float]]:
    results = {BARE_LABEL: await _time(bare, repeats)}
    for name, fn in _queries().items():
        async def run(fn: Callable[[Any], Awaitable[Any]] = fn) -> Any:
            async with store.read() as conn:
                return await fn(conn)
        results[name] = await _time(run, repeats)
    return results


def _bare_args() -> tuple[str, datetime, datetime]:
    return "order.placed", NOW - timedelta(days=37), NOW - timedelta(days=7)


async def _run_sqlite(n: int, repeats: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/kpis.db"
        store = await Store.open(f"sqlite+aiosqlite:///{path}")
        started = time.perf_counter()
        await asyncio.to_thread(_seed_sqlite, path, n)
        print(f"  sqlite: seeded {n:,} orders in {time.perf_counter() - started:.0f} s", flush=True)
        db = sqlite3.connect(path, check_same_thread=False)
        type_, since, until = _bare_args()

        async def bare() -> Any:
            return db.execute(BARE_SQL.format(p="?"), (type_, since.strftime(_FMT), until.strftime(_FMT))).fetchall()
        try:
            return await _measure(store, bare, repeats)
        finally:
            db.close()
            await store.close()


async def _run_postgres(n: int, repeats: int) -> dict[str, dict[str, float]]:
    async with scratch_postgres("bench_kpis") as (admin, store, schema):
        started = time.perf_counter()
        await _seed_postgres(store, schema, n)
        print(f"  postgres: seeded {n:,} orders in {time.perf_counter() - started:.0f} s", flush=True)
        statement = await admin.prepare(BARE_SQL.replace("{p}", "$1", 1).replace("{p}", "$2", 1)
                                        .replace("{p}", "$3", 1))

        async def bare() -> Any:
            return await statement.fetch(*_bare_args())
        return await _measure(store, bare, repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=1_000_000, help="orders to seed (default 1,000,000)")
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per query")
    args = parser.parse_args(argv)
    for name in args.stores.split(","):
        print(f"{name}, {args.transactions:,} orders, load average {os.getloadavg()[0]:.2f}", flush=True)
        run = _run_sqlite if name == "sqlite" else _run_postgres
        print_figures(asyncio.run(run(args.transactions, args.repeats)))
    return 0


def print_figures(results: dict[str, Any]) -> None:
    """Each timing's p50 and p99 and its ratio to the bare count (a plain number is seconds, printed as is), then
    the load average."""
    bare = results[BARE_LABEL]["p50_ms"]
    for label, figure in results.items():
        if isinstance(figure, float):
            print(f"  {label:44s} {figure:9.1f} s", flush=True)
            continue
        print(f"  {label:44s} p50 {figure['p50_ms']:9.1f} ms  p99 {figure['p99_ms']:9.1f} ms"
              f"  ({figure['p50_ms'] / bare:7.1f}x bare)", flush=True)
    print(f"  load average after: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
