"""Stock divergence evaluation over 100,000 SKU × location pairs across 4 sources, on a fresh SQLite file.

Setup: the schema comes from ``hub.store.Store.open`` (the Alembic migrations); ``stock_positions`` is
bulk-loaded with ``sqlite3.executemany`` (``synchronous=OFF`` while loading only): per pair the ERP
(authoritative) reports on_hand and reserved, the POS and the WMS on_hand, the storefront a published
available figure. ``--divergent`` of the pairs (default 5 %) have one source off by 1–5 units.

Measured, each in one write transaction through the hub's own code (``hub.stock.divergence.evaluate_all``,
SQLAlchemy Core on aiosqlite, the same path the normalizer and the tick take):
- ``sweep 1``: every pair evaluated, divergent ones recorded as pending (inside the settle window);
- ``tick``: 20 minutes later, the pending rows that fell due re-evaluated and raised as exceptions;
- ``sweep 2``: every pair again, with the divergences already open (refresh, nothing new).

Run: ``.venv/bin/python -m bench.divergence [--pairs 100000] [--divergent 0.05] [--db PATH]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from hub.config import Config, parse
from hub.exceptions.lifecycle import Changes
from hub.stock.divergence import evaluate_all, tick_divergences
from hub.store import Store

SOURCES = (("erp", "erp"), ("pos", "pos"), ("wms", "wms"), ("shop", "commerce"))
NOW = datetime(2026, 11, 24, 9, 0)


def bench_config(url: str) -> Config:
    return parse({"store": {"url": url},
                  "sources": [{"name": n, "kind": k, "adapter": "cloudevents"} for n, k in SOURCES],
                  "stock": {"authoritative": "erp", "settle_minutes": 15, "tolerance": 0}}, {})


def load(path: Path, pairs: int, divergent: float, seed: int = 7) -> int:
    """Bulk-load the positions; returns how many rows went in."""
    rng = random.Random(seed)
    locations = 10
    stamp = (NOW - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    rows = []
    for n in range(pairs):
        sku, location = f"SKU-{n // locations:06d}", f"LOC-{n % locations:02d}"
        on_hand, reserved = rng.randint(0, 200), rng.randint(0, 5)
        figures = {"erp": {"on_hand": on_hand, "reserved": reserved}, "pos": {"on_hand": on_hand},
                   "wms": {"on_hand": on_hand}, "shop": {"available": on_hand - reserved}}
        if rng.random() < divergent:
            off = rng.choice(("pos", "wms", "shop"))
            state = next(iter(figures[off]))
            figures[off][state] += rng.randint(1, 5)
        for source, states in figures.items():
            for state, qty in states.items():
                rows.append((sku, location, source, state, float(qty), stamp, stamp, f"evt_{n}", stamp))
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    with db:
        db.executemany("INSERT INTO stock_positions (sku, location, source, state, qty, as_of, base_at, event_id, "
                       "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()
    return len(rows)


async def run(path: Path, pairs: int, divergent: float) -> None:
    url = f"sqlite+aiosqlite:///{path}"
    store = await Store.open(url)
    await store.close()
    loaded = load(path, pairs, divergent)
    config = bench_config(url)
    store = await Store.open(url)
    try:
        for label, now, action in (("sweep 1", NOW, "sweep"), ("tick", NOW + timedelta(minutes=20), "tick"),
                                   ("sweep 2", NOW + timedelta(minutes=21), "sweep")):
            changes = Changes()
            started = time.perf_counter()
            async with store.write() as conn:
                if action == "sweep":
                    evaluated, found = await evaluate_all(conn, config, now, changes)
                else:
                    evaluated = await tick_divergences(conn, config, now, changes, limit=pairs)
                    found = sum(1 for c in changes.items if c.action == "opened")
            seconds = time.perf_counter() - started
            print(f"{label:8s} {evaluated:>7,} pairs in {seconds:6.2f} s  ({evaluated / seconds:>9,.0f} pairs/s, "
                  f"{loaded * evaluated / pairs / seconds:>9,.0f} position rows/s)  "
                  f"{'divergent' if action == 'sweep' else 'raised'}: {found:,}")
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--divergent", type=float, default=0.05)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file to create (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "divergence.db"
        if path.exists():
            raise SystemExit(f"{path} exists: the benchmark wants a fresh file")
        print(f"{args.pairs:,} SKU × location pairs, {len(SOURCES)} sources, {args.divergent:.0%} divergent, "
              f"SQLite file {path}")
        asyncio.run(run(path, args.pairs, args.divergent))


if __name__ == "__main__":
    main()
