"""The exception queue and its aggregates at 1M stored exceptions, on SQLite and PostgreSQL (issue 14, item 5).

Seeds the exceptions set-based (``sqlite3.executemany`` / asyncpg ``copy_records_to_table``; the counters the hub
keeps beside them are rebuilt once with the same statement the migration uses), then times through the hub's own
store functions — what GraphQL ``exceptions``/``exceptionCounts``/``metrics`` and the web queue and dashboard call —
each queue page (a keyset page of 50 plus its capped total), each aggregate, and beside them the bare page query on
the driver (``sqlite3`` / asyncpg). Figures are printed, never asserted.

    .venv/bin/python -m bench.queue [--rows 1000000] [--stores sqlite,postgres] [--repeats 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson

from bench.common import latency_summary, scratch_postgres
from hub.store import Store
from hub.store import dashboard_queries as dq
from hub.store import exception_queries as xq
from hub.store import metrics_queries as mq
from hub.store.paging import EXCEPTION_ORDER, PageRequest, keyset_page

try:
    from hub.store.exception_pages import queue_page
except ImportError:  # before item 5
    queue_page = None  # type: ignore[assignment]

NOW = datetime(2026, 12, 6, 12, 0, 0)
SPAN = timedelta(days=90)  # exceptions opened over the last 90 days
# type → (severity, rule, share); sources with their kind; statuses by share (most are resolved in a real queue).
TYPES = [("late", "warning", "sla", 30), ("failed", "error", "failed_event", 15), ("amount_mismatch", "error",
         "amount", 12), ("quantity_mismatch", "warning", "quantity", 10), ("stock_divergence", "warning", "stock", 10),
         ("duplicate", "info", "duplicate", 8), ("out_of_order", "info", "order", 6), ("dead_letter", "critical",
         "dead", 4), ("unlinked", "warning", "unlinked", 3), ("correlation", "critical", "placeholder", 2)]
SOURCES = [("shop", "commerce"), ("erp", "erp"), ("wms", "wms"), ("pos", "pos"), ("stripe", "payment"),
           ("easypost", "carrier"), ("amazon", "marketplace"), ("returns", "returns")]
STATUSES = [("resolved", 60), ("open", 30), ("acknowledged", 10)]
COLUMNS = ("id", "type", "severity", "rule", "subject", "key", "tx_id", "tx_kind", "system", "system_kind", "queue",
           "status", "open_key", "message", "evidence", "evidence_hash", "assignee", "resolved_by", "opened_at",
           "updated_at", "resolved_at")
PAGE = 50
BARE_SQL = ("SELECT * FROM exceptions WHERE status = {p} AND type = {p} ORDER BY opened_at, id LIMIT 51")


def _rows(n: int, seed: int = 14) -> list[tuple[Any, ...]]:
    """``n`` exception rows, opened in time order over :data:`SPAN` (ids sort as they would: time-ordered)."""
    rnd = random.Random(seed)
    types = rnd.choices(TYPES, weights=[t[3] for t in TYPES], k=n)
    statuses = rnd.choices([s for s, _ in STATUSES], weights=[w for _, w in STATUSES], k=n)
    start = NOW - SPAN
    step = SPAN / n
    rows = []
    for i in range(n):
        type_, severity, rule, _ = types[i]
        source, kind = SOURCES[rnd.randrange(len(SOURCES))]
        status = statuses[i]
        opened = start + step * i
        subject = f"tx_{i:012d}"
        key = f"{rule}|{subject}"
        evidence: dict[str, Any] = {"expected": "x", "actual": "y"}
        if type_ == "amount_mismatch":
            evidence = {"difference": f"{rnd.randrange(1, 50000) / 100:.2f}", "currency": rnd.choice(["EUR", "USD"])}
        resolved = status == "resolved"
        rows.append((f"exc_{i:016d}", type_, severity, rule, subject, key, f"tx_{i:012d}",
                     rnd.choice(["order", "order", "order", "transfer", "return", "settlement"]), source, kind,
                     "finance" if type_ == "amount_mismatch" else "warehouse" if source == "wms" else "ops", status,
                     None if resolved else key, f"{type_} on {subject}", evidence, "", None,
                     "system" if resolved else None, opened, opened, opened + timedelta(hours=2) if resolved else None))
    return rows


def _seed_sqlite(path: str, rows: list[tuple[Any, ...]]) -> None:
    db = sqlite3.connect(path)
    fmt = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DateTime storage format
    prepared = [(*r[:14], orjson.dumps(r[14]).decode(), *r[15:18], r[18].strftime(fmt), r[19].strftime(fmt),
                 r[20].strftime(fmt) if r[20] else None) for r in rows]
    db.executemany(f"INSERT INTO exceptions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                   prepared)
    db.commit()
    db.execute("ANALYZE")
    db.close()


async def _seed_postgres(store: Store, schema: str, rows: list[tuple[Any, ...]]) -> None:
    async with store.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        prepared = [(*r[:14], orjson.dumps(r[14]).decode(), *r[15:]) for r in rows]
        await raw.copy_records_to_table("exceptions", records=prepared, columns=COLUMNS, schema_name=schema)
        await raw.execute("ANALYZE exceptions")


async def _rebuild_counters(store: Store) -> None:
    """Counters the hub maintains beside the exceptions (absent before item 5: nothing to do)."""
    try:
        from hub.store.exception_counts import rebuild
    except ImportError:
        return
    else:
        async with store.write() as conn:
            await rebuild(conn)


async def _time(fn: Callable[[], Awaitable[Any]], repeats: int) -> dict[str, float]:
    await fn()  # warm: first-time plan and page cache
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        await fn()
        seconds.append(time.perf_counter() - started)
    return latency_summary(seconds)


def _queues() -> dict[str, tuple[xq.ExceptionFilter, str]]:
    F = xq.ExceptionFilter  # noqa: N806
    return {
        "open+late": (F(status=("open",), type=("late",)), "age"),
        "unresolved": (F(status=("open", "acknowledged")), "age"),
        "open, source=wms": (F(status=("open",), source="wms"), "age"),
        "open, older than 30d": (F(status=("open",), older_than=timedelta(days=30)), "age"),
        "open, by severity": (F(status=("open",)), "severity"),
        "all, type=amount_mismatch": (F(type=("amount_mismatch",)), "age"),
        "open, rare type=correlation,src=pos": (F(status=("open",), type=("correlation",), source="pos"), "age"),
    }


async def _measure(store: Store, bare: Callable[[], Awaitable[Any]], repeats: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}

    def reader(fn: Callable[[Any], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            async with store.read() as conn:
                return await fn(conn)
        return run

    results["bare page query (driver)"] = await _time(bare, repeats)
    for name, (flt, order) in _queues().items():
        async def page(conn: Any, flt: xq.ExceptionFilter = flt, order: str = order) -> Any:
            if queue_page is not None:  # the queue's page as GraphQL and the web read it
                result = await queue_page(conn, flt, NOW, order, PageRequest(first=PAGE))
            else:  # before item 5: one query in the keyset order
                result = await keyset_page(conn, xq.exception_query(flt, NOW), EXCEPTION_ORDER[order],
                                           PageRequest(first=PAGE))
            await xq.count_exceptions(conn, flt, NOW)
            return result
        results[f"page {name}"] = await _time(reader(page), repeats)
    aggregates: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "counts type x status": lambda c: xq.group_counts(c, xq.ExceptionFilter(), NOW, ["type", "status"]),
        "exceptionCounts by source (open)": lambda c: xq.group_counts(
            c, xq.ExceptionFilter(status=("open",)), NOW, ["source"]),
        "metrics EXCEPTIONS by type,status": lambda c: mq.counts(c, "exceptions", ["type", "status"]),
        "metrics 30-day counts by day": lambda c: mq.counts(
            c, "exceptions", [], mq.Window(datetime(2026, 11, 7), datetime(2026, 12, 7)), "day"),
        "metrics 30-day counts by day, edges in hours": lambda c: mq.counts(
            c, "exceptions", [], mq.Window(NOW - timedelta(days=30, minutes=17), NOW - timedelta(minutes=17)), "day"),
        "dashboard open by type x age": lambda c: dq.open_exceptions_by_age(c, NOW),
        "reconciliationBacklog": lambda c: mq.reconciliation_backlog(c, NOW),
    }

    async def facets(conn: Any) -> None:  # the web queue's five facet counts beside its default (open) page
        flt = xq.ExceptionFilter(status=("open",))
        for facet, empty in (("status", {"status": ()}), ("type", {}), ("severity", {}), ("source", {}),
                             ("tx_kind", {})):
            await xq.group_counts(conn, xq.ExceptionFilter(**{"status": ("open",), **empty}) if empty else flt,
                                  NOW, [facet])
    aggregates["web queue facets (5 counts)"] = facets
    for name, fn in aggregates.items():
        results[name] = await _time(reader(fn), max(3, repeats // 3))
    return results


async def _run_sqlite(rows: list[tuple[Any, ...]], repeats: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/queue.db"
        store = await Store.open(f"sqlite+aiosqlite:///{path}")
        started = time.perf_counter()
        await asyncio.to_thread(_seed_sqlite, path, rows)
        await _rebuild_counters(store)
        print(f"  sqlite: seeded {len(rows):,} in {time.perf_counter() - started:.0f} s", flush=True)
        db = sqlite3.connect(path, check_same_thread=False)

        async def bare() -> Any:
            return db.execute(BARE_SQL.format(p="?"), ("open", "late")).fetchall()
        try:
            return await _measure(store, bare, repeats)
        finally:
            db.close()
            await store.close()


async def _run_postgres(rows: list[tuple[Any, ...]], repeats: int) -> dict[str, dict[str, float]]:
    async with scratch_postgres("bench_queue") as (admin, store, schema):
        started = time.perf_counter()
        await _seed_postgres(store, schema, rows)
        await _rebuild_counters(store)
        print(f"  postgres: seeded {len(rows):,} in {time.perf_counter() - started:.0f} s", flush=True)
        statement = await admin.prepare(BARE_SQL.replace("{p}", "$1", 1).replace("{p}", "$2", 1))

        async def bare() -> Any:
            return await statement.fetch("open", "late")
        return await _measure(store, bare, repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="exceptions to seed (default 1,000,000)")
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per page query (aggregates: a third)")
    args = parser.parse_args(argv)
    rows = _rows(args.rows)
    for name in args.stores.split(","):
        print(f"{name}, {args.rows:,} exceptions, load average {os.getloadavg()[0]:.2f}", flush=True)
        run = _run_sqlite if name == "sqlite" else _run_postgres
        results = asyncio.run(run(rows, args.repeats))
        bare = results["bare page query (driver)"]["p50_ms"]
        for label, figure in results.items():
            print(f"  {label:46s} p50 {figure['p50_ms']:9.2f} ms  p99 {figure['p99_ms']:9.2f} ms"
                  f"  ({figure['p50_ms'] / bare:7.1f}x bare)", flush=True)
        print(f"  load average after: {os.getloadavg()[0]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
