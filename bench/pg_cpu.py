"""CPU per event on each side of an all-in-one hub on PostgreSQL: the hub process and the PostgreSQL backends.

Runs figure 2's ``/ingest`` load (``bench.ingest.hub_events_per_second``, 500-event batches, 4 in flight) on a
fresh database on the local server, samples every 0.2 s the CPU time (``/proc/<pid>/stat`` utime + stime) of the
backends serving that database (``pg_stat_activity``), and prints events per CPU-second of the hub and of
PostgreSQL and the bytes stored per event (every table with its indexes): the sizing figures of docs/scaling.md.
``python -m bench.pg_cpu [--events N] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
from typing import Any

import asyncpg

from bench.growth import _drop_pg, _dsn, _fresh_pg, _load
from bench.ingest import hub_events_per_second

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of proc(5))


async def _backends_cpu(url: str, seen: dict[int, float], stop: asyncio.Event) -> None:
    """Keep ``seen`` = each backend of the database's latest CPU seconds until ``stop``."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        while not stop.is_set():
            for row in await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND pid <> pg_backend_pid()"):
                cpu = _cpu_seconds(row["pid"])
                if cpu is not None:
                    seen[row["pid"]] = cpu
            try:
                await asyncio.wait_for(stop.wait(), 0.2)
            except TimeoutError:
                pass
    finally:
        await conn.close()


async def _bytes_by_table(url: str) -> dict[str, int]:
    """Each table's size on disk with its indexes and TOAST (``pg_total_relation_size``); a partitioned table's is
    the sum of its partitions'."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        rows = await conn.fetch("SELECT coalesce(p.relname, c.relname) AS relname, "
                                "sum(pg_total_relation_size(c.oid))::bigint AS size FROM pg_class c "
                                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
                                "LEFT JOIN pg_class p ON p.oid = i.inhparent "
                                "WHERE n.nspname = 'public' AND c.relkind = 'r' GROUP BY 1")
    finally:
        await conn.close()
    return {row["relname"]: row["size"] for row in rows}


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(events: int) -> dict[str, Any]:
    url = await _fresh_pg()
    seen: dict[int, float] = {}
    stop = asyncio.Event()
    try:
        sampler = asyncio.create_task(_backends_cpu(url, seen, stop))
        hub_before = _own_cpu()
        run = await hub_events_per_second(url, events, 500, 4)
        hub_cpu = _own_cpu() - hub_before
        stop.set()
        await sampler
        sizes = await _bytes_by_table(url)
    finally:
        await _drop_pg(url)
    pg_cpu = sum(seen.values())  # backends start with the run: their whole CPU time is this run's
    return {"events_per_s": run["events_per_s"], "stored": run["stored"], "seconds": run["seconds"],
            "bytes_per_event": sum(sizes.values()) / run["stored"],
            "raw_bytes_per_event": sizes.get("deliveries", 0) / run["stored"], "hub_cpu_s": hub_cpu,
            "pg_cpu_s": pg_cpu, "backends": len(seen),
            "events_per_hub_cpu_s": run["stored"] / hub_cpu, "events_per_pg_cpu_s": run["stored"] / pg_cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=9000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    for repeat in range(1, args.repeats + 1):
        load = _load()
        row = asyncio.run(measure(args.events))
        print(f"repeat {repeat} (load {load} → {_load()}): {row['events_per_s']:,.0f} events/s wall "
              f"({row['stored']:,} events, {row['seconds']:.1f} s); hub {row['hub_cpu_s']:.1f} CPU s = "
              f"{row['events_per_hub_cpu_s']:,.0f} events per hub CPU-second; PostgreSQL {row['pg_cpu_s']:.1f} "
              f"CPU s over {row['backends']} backends = {row['events_per_pg_cpu_s']:,.0f} events per PostgreSQL "
              f"CPU-second; {row['bytes_per_event']:,.0f} bytes stored per event, of which raw deliveries "
              f"{row['raw_bytes_per_event']:,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
