"""Figure 2: CloudEvents batch events/s, stored, normalized and correlated, beside raw ``executemany`` rows/s.

The real app (``create_app``: inbox, normalizer, evaluator) runs in-process; batches of CloudEvents are
POSTed to ``/ingest`` through ``httpx.ASGITransport`` with the operator key (a few requests in flight), and
the clock stops when no delivery is pending and every event is stored. Each order is three events (shop
``order.placed``, erp ``erp.posted``, wms ``shipment.shipped``) linked by ``shop:order`` and
``erp:sales_order``; the later stages arrive a few batches later, so correlation joins across batches.

The baseline inserts the same number of rows with the same columns into the ``events`` table (schema by
the Alembic migration, same pragmas as the hub: WAL, ``synchronous=FULL``) with ``sqlite3.executemany``,
10,000 rows per transaction, on a fresh file in this process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.common import OPERATOR_KEY, Ids, bench_config, dumps, iso_now, order_event, order_stream, ratio, sqlite_url
from hub.store import Store
from hub.store.tables import deliveries, events, transactions


def batch_stream(total: int, size: int, lag: int, run: str) -> Iterator[bytes]:
    """The bodies of :func:`batches`, made one at a time (a long run holds none of them in memory)."""
    when = iso_now()
    batch: list[dict[str, Any]] = []
    for order, stage in order_stream(total // 3, lag):
        event = order_event(order, stage, when)
        event["id"] = f"{run}-{event['id']}"
        batch.append(event)
        if len(batch) == size:
            yield dumps(batch)
            batch = []
    if batch:
        yield dumps(batch)


def rss_mb() -> float:
    """This process's resident set size in MB (``VmRSS`` of /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def hub_events_per_second(db: Path | str, total: int, batch_size: int, inflight: int, *, prestored: int = 0,
                                post_seconds: float | None = None) -> dict[str, Any]:
    """``db``: an SQLite file or a store URL. ``prestored``: events stored set-based first (``bench.prestore``).
    ``post_seconds``: stop posting after that long (a sustained load for the RSS figure) instead of at ``total``.
    RSS is sampled every 0.2 s: at the start of the load, its peak while posting, and its peak while draining.
    ``cpu_ms_per_100``: this process's CPU time (client, receiver, normalizer, evaluator) per 100 events stored, a
    figure the machine's load moves far less than events/s."""
    from bench.prestore import prestore
    from hub.app import create_app
    from hub.startup_heap import freeze_startup_heap

    bodies = batch_stream(total, batch_size, lag=max(1, 2 * batch_size // 3 + 50), run="ing")
    app = create_app(bench_config(db if isinstance(db, str) else sqlite_url(str(db))))
    freeze_startup_heap()  # as `crosstrace serve` does before serving
    headers = {"authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"}
    async with app.router.lifespan_context(app):
        hub = app.state.hub
        before = await prestore(hub.store, prestored) if prestored else 0
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            statuses: dict[int, int] = {}
            sent = 0
            rss = {"start": rss_mb(), "posting": 0.0, "draining": 0.0}
            phase = "posting"

            async def sample() -> None:
                while True:
                    rss[phase] = max(rss[phase], rss_mb())
                    await asyncio.sleep(0.2)

            async def post() -> None:
                nonlocal sent
                for body in bodies:
                    if post_seconds is not None and time.perf_counter() - started > post_seconds:
                        return
                    sent += len(body)
                    response = await client.post("/ingest", content=body, headers=headers)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            sampler = asyncio.create_task(sample())
            started, cpu_started = time.perf_counter(), time.process_time()
            await asyncio.gather(*(post() for _ in range(inflight)))
            accepted = time.perf_counter() - started
            phase = "draining"
            while True:
                async with hub.store.read() as conn:
                    pending = (await conn.execute(select(func.count()).select_from(deliveries)
                                                  .where(deliveries.c.state == "pending"))).scalar_one()
                if not pending:
                    break
                await asyncio.sleep(0.05)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            sampler.cancel()
            async with hub.store.read() as conn:
                stored = (await conn.execute(select(func.count()).select_from(events))).scalar_one() - before
                txs = (await conn.execute(select(func.count()).select_from(transactions))).scalar_one()
                dead = (await conn.execute(select(func.count()).select_from(deliveries)
                                           .where(deliveries.c.state == "dead"))).scalar_one()
    return {"events": total, "batches": sum(statuses.values()), "batch_size": batch_size, "bytes": sent,
            "statuses": statuses, "accept_seconds": accepted, "seconds": elapsed, "events_per_s": stored / elapsed,
            "cpu_ms_per_100": 1e5 * cpu / max(stored, 1),
            "stored": stored, "prestored": before, "transactions": txs, "dead": dead, "rss_mb": rss}


def event_rows(count: int) -> list[tuple]:
    """Rows shaped like the hub's ``events`` inserts (time-ordered ids, orders of three events)."""
    ids, tx_ids, dlv = Ids("evt"), Ids("tx"), Ids("dlv")
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    rows = []
    tx = tx_ids()
    for n in range(count):
        if n % 3 == 0:
            tx = tx_ids()
        rows.append((ids(), ("shop", "erp", "wms")[n % 3], f"raw-{n}", "order.placed", now, now, tx, dlv(), "ok",
                     None, None, '[{"sku": "SKU-0001", "qty": "1", "location": null, "state": null}]', "49.90",
                     "EUR", "total", 0, 0, 0))
    return rows


EVENT_COLUMNS = ("id, source, source_event_id, type, occurred_at, received_at, tx_id, delivery_id, status, error, "
                 "traceparent, lines, amount_value, amount_currency, amount_kind, unknown_type, out_of_order, "
                 "duplicates")


async def _migrate(db: Path) -> None:
    store = await Store.open(sqlite_url(str(db)))
    await store.close()


def executemany_rows_per_second(db: Path, count: int, per_transaction: int = 10_000) -> dict[str, Any]:
    asyncio.run(_migrate(db))
    rows = event_rows(count)
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"):
        conn.execute(pragma)
    statement = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({', '.join('?' * 18)})"
    started = time.perf_counter()
    for start in range(0, count, per_transaction):
        conn.execute("BEGIN")
        conn.executemany(statement, rows[start:start + per_transaction])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return {"rows": count, "per_transaction": per_transaction, "seconds": elapsed, "rows_per_s": count / elapsed}


def run(tmp: Path, *, events: int, batch_size: int = 500, inflight: int = 4) -> dict[str, Any]:
    hub = asyncio.run(hub_events_per_second(tmp / "ingest.db", events, batch_size, inflight))
    print(f"  hub:         {hub['events_per_s']:,.0f} events/s normalized+correlated ({hub['stored']} events, "
          f"{hub['transactions']} transactions, {hub['batches']} batches of {batch_size}, {hub['dead']} dead) in "
          f"{hub['seconds']:.1f} s; all batches accepted after {hub['accept_seconds']:.1f} s; "
          f"statuses {hub['statuses']}", flush=True)
    raw = executemany_rows_per_second(tmp / "raw.db", events)
    print(f"  executemany: {raw['rows_per_s']:,.0f} rows/s ({raw['rows']} rows, {raw['per_transaction']} per "
          f"transaction) in {raw['seconds']:.2f} s", flush=True)
    result = {"hub": hub, "executemany": raw, "ratio": ratio(hub["events_per_s"], raw["rows_per_s"])}
    print(f"  hub/executemany = {result['ratio']:.3f}", flush=True)
    return result
