"""``/ingest`` events/s on SQLite and PostgreSQL, on a fresh store and with events already stored (issue 14 item 4),
beside each database's bulk-insert floor; and RSS during a sustained ``/ingest`` load.

    .venv/bin/python -m bench.growth                       # 30,000 events per run, fresh and at 1M stored, twice
    .venv/bin/python -m bench.growth --prestore 300000 --events 15000 --repeats 1
    .venv/bin/python -m bench.growth --rss-seconds 60      # RSS over 60 s of sustained /ingest, tuned and not

Each run is the real app in-process (``bench.ingest.hub_events_per_second``) on a new SQLite file or a new
PostgreSQL database (dropped after); the stored events are made set-based by ``bench.prestore``. Baselines, in the
same run: ``sqlite3.executemany`` and asyncpg ``copy_records_to_table`` of the same rows into ``events``.
Figures are printed, never asserted; the load average is printed beside them (the machine is shared).

The RSS figure runs each store twice at once, in two processes under the same load: the hub as it is, and the hub
untuned (glibc's default allocator settings, Python's 128 prepared statements per SQLite connection; see
hub/memory.py and ``SQLITE_STATEMENT_CACHE`` in hub/store/engine.py) as the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.common import ratio, sqlite_url  # noqa: E402
from bench.ingest import event_rows, executemany_rows_per_second, hub_events_per_second  # noqa: E402
from hub.store import Store  # noqa: E402

PG_URL = os.environ.get("CROSSTRACE_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _fresh_pg() -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PG_URL.rsplit("/", 1)[0] + f"/{name}"


async def _drop_pg(url: str) -> None:
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        await conn.execute(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


async def copy_rows_per_second(count: int, per_transaction: int = 10_000) -> dict[str, Any]:
    """asyncpg ``copy_records_to_table`` of :func:`bench.ingest.event_rows` into a migrated ``events`` table."""
    url = await _fresh_pg()
    try:
        store = await Store.open(url)
        await store.close()
        rows = [_typed(row) for row in event_rows(count)]
        conn = await asyncpg.connect(_dsn(url))
        try:
            columns = ["id", "source", "source_event_id", "type", "occurred_at", "received_at", "tx_id", "delivery_id",
                       "status", "error", "traceparent", "lines", "amount_value", "amount_currency", "amount_kind",
                       "unknown_type", "out_of_order", "duplicates"]
            started = time.perf_counter()
            for start in range(0, count, per_transaction):
                async with conn.transaction():
                    await conn.copy_records_to_table("events", records=rows[start:start + per_transaction],
                                                     columns=columns)
            elapsed = time.perf_counter() - started
        finally:
            await conn.close()
    finally:
        await _drop_pg(url)
    return {"rows": count, "seconds": elapsed, "rows_per_s": count / elapsed}


def _typed(row: tuple) -> tuple:
    from datetime import datetime

    values = list(row)
    values[4] = values[5] = datetime.fromisoformat(values[4])
    values[15], values[16] = bool(values[15]), bool(values[16])
    return tuple(values)


async def _ingest(store: str, tmp: Path, events: int, prestored: int, **options: Any) -> dict[str, Any]:
    if store == "sqlite":
        return await hub_events_per_second(sqlite_url(str(tmp / f"hub-{uuid.uuid4().hex[:6]}.db")), events, 500, 4,
                                           prestored=prestored, **options)
    url = await _fresh_pg()
    try:
        return await hub_events_per_second(url, events, 500, 4, prestored=prestored, **options)
    finally:
        await _drop_pg(url)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def growth(tmp: Path, events: int, prestore: int, repeats: int, stores: list[str]) -> list[dict[str, Any]]:
    results = []
    for repeat in range(1, repeats + 1):
        floor = {"sqlite": executemany_rows_per_second(tmp / f"raw-{repeat}.db", events)["rows_per_s"]}
        if "postgresql" in stores:
            floor["postgresql"] = asyncio.run(copy_rows_per_second(events))["rows_per_s"]
        print(f"repeat {repeat} (load {_load()}): sqlite3 executemany {floor['sqlite']:,.0f} rows/s"
              + (f", asyncpg COPY {floor['postgresql']:,.0f} rows/s" if "postgresql" in floor else ""), flush=True)
        for store in stores:
            for stored in (0, prestore):
                run = asyncio.run(_ingest(store, tmp, events, stored))
                row = {"repeat": repeat, "store": store, "prestored": stored, "events_per_s": run["events_per_s"],
                       "floor": floor["sqlite"] if store == "sqlite" else floor[store], "dead": run["dead"],
                       "rss_mb": run["rss_mb"], "load": _load()}
                row["ratio"] = ratio(row["events_per_s"], row["floor"])
                results.append(row)
                row["cpu_ms_per_100"] = run["cpu_ms_per_100"]
                print(f"  {store:10} {stored:>9,} stored: {row['events_per_s']:7,.0f} events/s "
                      f"({run['stored']:,} events, {run['dead']} dead, {run['seconds']:.1f} s, "
                      f"{run['cpu_ms_per_100']:.1f} ms CPU per 100 events), ratio to "
                      f"{'executemany' if store == 'sqlite' else 'COPY'} {row['ratio']:.4f}; load {row['load']}",
                      flush=True)
    return results


def rss(tmp: Path, seconds: float, store: str) -> dict[str, Any]:
    run = asyncio.run(_ingest(store, tmp, 10_000_000, 0, post_seconds=seconds))
    memory = run["rss_mb"]
    print(f"RSS over {seconds:.0f} s of /ingest ({store}, {run['stored']:,} events, {run['events_per_s']:,.0f} "
          f"events/s): start {memory['start']:.0f} MB, +{memory['posting'] - memory['start']:.0f} MB peak while "
          f"posting, +{memory['draining'] - memory['start']:.0f} MB peak while the backlog drained "
          f"({run['seconds'] - run['accept_seconds']:.1f} s); load {_load()}", flush=True)
    return run


def untune() -> None:
    """The hub without its memory bounds, as the RSS figure's baseline (before any store or thread starts)."""
    import hub.app
    import hub.store.engine

    hub.app.tune_allocator = lambda: False  # glibc's defaults: an arena per thread, a threshold that climbs
    hub.store.engine.SQLITE_STATEMENT_CACHE = 128  # Python's default


def rss_beside_untuned(seconds: float, store: str) -> None:
    """The RSS figure of ``store`` in two processes at once: the hub as it is, and untuned (the baseline)."""
    command = [sys.executable, "-m", "bench.growth", "--rss-seconds", str(seconds), "--stores", store, "--alone"]
    runs = {name: subprocess.Popen(command + extra, stdout=subprocess.PIPE, text=True)
            for name, extra in (("untuned", ["--untuned"]), ("tuned", []))}
    for name, process in runs.items():
        out, _ = process.communicate()
        for line in out.splitlines():
            if line.startswith("RSS"):
                print(f"{name:8} {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000, help="events sent through /ingest per run")
    parser.add_argument("--prestore", type=int, default=1_000_000, help="events stored before the second run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--rss-seconds", type=float, help="instead: RSS over this many seconds of /ingest, "
                        "each store tuned and untuned at once (two processes)")
    parser.add_argument("--alone", action="store_true", help="with --rss-seconds: in this process only")
    parser.add_argument("--untuned", action="store_true", help="with --alone: without the memory bounds")
    args = parser.parse_args(argv)
    if args.untuned:
        untune()
    with tempfile.TemporaryDirectory(prefix="crosstrace-growth-") as tmp:
        if args.rss_seconds and not args.alone:
            for store in args.stores.split(","):
                rss_beside_untuned(args.rss_seconds, store)
        elif args.rss_seconds:
            for store in args.stores.split(","):
                rss(Path(tmp), args.rss_seconds, store)
        else:
            growth(Path(tmp), args.events, args.prestore, args.repeats, args.stores.split(","))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
