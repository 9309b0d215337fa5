"""What creating a month beside the DEFAULT partition costs on PostgreSQL (docs/scaling.md §4), at two sizes.

On one migrated scratch schema, ``--rows`` deliveries minted in a month no partition holds yet (the retention duty
was down) are put in ``deliveries_default``. Then, under :func:`hub.store.partitions.create_ahead`'s locks:
- ``baseline``: :func:`hub.store.partitions.add_month` of the month after theirs: nothing to move, the attach
  scans the default with every row still in it;
- ``taking``: ``add_month`` of their month: the rows are moved out of the default into it, then it is attached.
The ratio is taking / baseline. Figures are printed, never asserted.

    .venv/bin/python -m bench.partition_month [--rows 10000 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bench.common import ratio, scratch_postgres
from hub.store import Store
from hub.store.partitions import add_month, bound, month_start, next_month


async def _timed(store: Store, month: datetime) -> float:
    """Seconds for one write adding ``deliveries``' partition of ``month``, locks taken as ``create_ahead`` does."""
    started = time.perf_counter()
    async with store.write() as conn:
        await conn.execute(text("LOCK TABLE ONLY deliveries IN SHARE UPDATE EXCLUSIVE MODE"))
        await conn.execute(text('LOCK TABLE ONLY "deliveries_default" IN ACCESS EXCLUSIVE MODE'))
        await add_month(conn, "deliveries", month)
    return time.perf_counter() - started


async def _one(rows: int) -> dict[str, float]:
    async with scratch_postgres("bench_month") as (admin, store, _):
        month = month_start(month_start(datetime.now(UTC)) + timedelta(days=800))  # beyond every month created
        prefix = bound("deliveries", month)
        await admin.execute(
            "INSERT INTO deliveries (id, source, dedup_key, received_at, headers, body, content_type, state) "
            "SELECT $1 || lpad(g::text, 16, '0'), 'shop', 'k' || g, now(), '{}', '\\x7b7d', 'application/json', "
            "'done' FROM generate_series(1, $2) g", prefix, rows)
        await admin.execute("ANALYZE deliveries")
        baseline = await _timed(store, next_month(month))
        taking = await _timed(store, month)
        moved = await admin.fetchval(f'SELECT count(*) FROM "deliveries_{month:%Y_%m}"')
        assert moved == rows  # the bench measured what it says (not a speed assertion)
        return {"rows": rows, "baseline_ms": baseline * 1000, "taking_ms": taking * 1000,
                "ratio": ratio(taking, baseline)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    for rows in [size for size in args.rows for _ in range(2)]:  # each size twice
        figures = await _one(rows)
        print(f"{figures['rows']:>8} rows in the default: baseline (nothing to move) {figures['baseline_ms']:8.1f} ms, "
              f"taking them {figures['taking_ms']:8.1f} ms, ratio {figures['ratio']:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
