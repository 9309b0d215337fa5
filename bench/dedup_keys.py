"""What the dedup key table costs the inbox's write on PostgreSQL (issue 15 item 7), at two sizes.

On one migrated scratch schema, the same group commits (``--batch`` new deliveries, then the same keys sent again)
go to:
- ``partitioned``: :func:`hub.store.inbox.insert_new` (the statement of ``append_deliveries``) in an urgent write:
  ``delivery_keys`` takes the keys in a CTE, only new keys insert into the partitioned ``deliveries``;
- ``plain`` (the baseline, the hub before partitioning): the statement it sent then, ``INSERT … ON CONFLICT DO
  NOTHING RETURNING`` into a plain copy of the table with its ``UNIQUE (source, dedup_key)``, in a write of the
  same store (so both pay the same transaction and commit).
Each is timed fresh and again after ``--stored`` deliveries were put in both tables (and their keys) set-based.
Runs alternate within one process; the ratio is partitioned / plain. Figures are printed, never asserted.

    .venv/bin/python -m bench.dedup_keys [--deliveries 6400] [--batch 64] [--stored 300000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import ratio, scratch_postgres
from hub.ids import new_id
from hub.store import Store
from hub.store.inbox import insert_new

_PLAIN = (  # the inbox's statement before partitioning, into the plain copy
    "INSERT INTO plain_deliveries (id, source, dedup_key, received_at, headers, body, content_type, state) "
    "SELECT t.*, 'pending' FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamp[], $5::json[], "
    "$6::bytea[], $7::text[]) AS t ON CONFLICT DO NOTHING RETURNING source, dedup_key, id")


def _rows(round_: int, batch: int, start: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC).replace(tzinfo=None)
    return [{"id": new_id("dlv"), "source": "shop", "dedup_key": f"r{round_}-{n}", "received_at": now,
             "headers": {"webhook-id": f"r{round_}-{n}"}, "body": b'{"order": %d}' % n,
             "content_type": "application/json"} for n in range(start, start + batch)]


async def _plain(store: Store, rows: list[dict[str, Any]]) -> None:
    values = [(r["id"], r["source"], r["dedup_key"], r["received_at"], json.dumps(r["headers"]), r["body"],
               r["content_type"]) for r in rows]
    async with store.write(urgent=True) as conn:
        await conn.exec_driver_sql(_PLAIN, tuple(list(column) for column in zip(*values, strict=True)))


async def _partitioned(store: Store, rows: list[dict[str, Any]]) -> None:
    async with store.write(urgent=True) as conn:
        await insert_new(conn, rows)


async def _timed(store: Store, kind: str, round_: int, deliveries: int, batch: int) -> float:
    """Seconds for ``deliveries`` new deliveries in group commits of ``batch``, then the same keys again."""
    write = _partitioned if kind == "partitioned" else _plain
    started = time.perf_counter()
    for _ in range(2):  # new, then sent again
        for start in range(0, deliveries, batch):
            await write(store, _rows(round_, batch, start))
    return time.perf_counter() - started


async def _store_more(admin: Any, stored: int) -> None:
    """``stored`` old deliveries in both tables, their keys in ``delivery_keys`` (set-based)."""
    for table in ("deliveries", "plain_deliveries"):
        await admin.execute(
            f"INSERT INTO {table} (id, source, dedup_key, received_at, headers, body, content_type, state) "
            "SELECT 'dlv_00000' || lpad(g::text, 21, '0'), 'shop', 'old-' || g, now(), '{}', '\\x7b7d', "
            "'application/json', 'done' FROM generate_series(1, $1) AS g", stored)
    await admin.execute("INSERT INTO delivery_keys SELECT 'shop', 'old-' || g, 'dlv_00000' || lpad(g::text, 21, '0') "
                        "FROM generate_series(1, $1) AS g", stored)
    await admin.execute("ANALYZE")


async def run(deliveries: int, batch: int, stored: int) -> list[dict[str, Any]]:
    results = []
    async with scratch_postgres("bench_keys") as (admin, store, _):
        await admin.execute("CREATE TABLE plain_deliveries (LIKE deliveries_initial INCLUDING ALL)")
        await admin.execute("ALTER TABLE plain_deliveries ADD UNIQUE (source, dedup_key)")
        round_ = 0
        for size in (0, stored):
            if size:
                await _store_more(admin, size)
            seconds: dict[str, list[float]] = {"plain": [], "partitioned": []}
            for _ in range(2):
                for kind in ("plain", "partitioned"):
                    round_ += 1
                    seconds[kind].append(await _timed(store, kind, round_, deliveries, batch))
            best = {kind: min(values) for kind, values in seconds.items()}
            row = {"stored": size, **{f"{kind}_per_s": 2 * deliveries / s for kind, s in best.items()},
                   "ratio": ratio(best["plain"], best["partitioned"]), "load": os.getloadavg()}
            results.append(row)
            print(f"{size:>9,} stored: plain {row['plain_per_s']:,.0f} deliveries/s, partitioned + keys "
                  f"{row['partitioned_per_s']:,.0f} deliveries/s (ratio {row['ratio']:.2f}; best of 2, "
                  f"{deliveries:,} new + {deliveries:,} repeats in commits of {batch}); "
                  f"load {' '.join(f'{x:.1f}' for x in row['load'])}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=6400)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--stored", type=int, default=300_000)
    args = parser.parse_args(argv)
    asyncio.run(run(args.deliveries, args.batch, args.stored))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
