"""Normalizer throughput with 1, 2 and 3 worker processes on one PostgreSQL (issue 15).

Each run: a new database, ``--events`` single-event deliveries stored pending (three systems' events of
``events/3`` orders, each order's later events arriving ``--lag`` orders later, so links cross batches and
workers meet on the same orders); then K worker processes, each a Store and a Normalizer with the evaluator, as
``crosstrace serve`` runs them, start together and claim the backlog (hub/store/claims.py) until it is empty.
Printed: events/s for the K workers together, per worker, the ratio to one worker in the same repeat, the
workers' CPU seconds and the load average. Figures are printed, never asserted.

    .venv/bin/python -m bench.workers [--events 6000] [--workers 1,2,3] [--repeats 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from sqlalchemy.engine import make_url

from bench.common import bench_config, dumps, iso_now, order_event, order_stream
from hub.store import Store
from hub.store.inbox import insert_new

PG_URL = os.environ.get("CROSSTRACE_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
_CHUNK = 1000


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _prepare(url: str, events: int, lag: int) -> None:
    """A migrated database holding ``events`` pending single-event deliveries."""
    store = await Store.open(url)
    try:
        now = datetime.now(UTC).replace(tzinfo=None)
        when = iso_now()
        rows = []
        for order, stage in order_stream(events // 3, lag):
            event = order_event(order, stage, when)
            rows.append({"id": f"dlv_{len(rows):012d}", "source": event["source"], "dedup_key": event["id"],
                         "received_at": now, "headers": {}, "body": dumps(event),
                         "content_type": "application/cloudevents+json", "state": "pending"})
        for start in range(0, len(rows), _CHUNK):
            async with store.write() as conn:
                await insert_new(conn, rows[start:start + _CHUNK])
    finally:
        await store.close()


async def _child(url: str) -> None:
    """One worker process: open, say ready, wait for go, normalize until nothing is left to claim."""
    from collectors import parser_for
    from hub.exceptions.evaluate import Evaluator
    from hub.ingest.normalize import Normalizer
    from hub.model import utcnow
    from hub.telemetry import new_metrics

    config = bench_config(url)
    store = await Store.open(url)
    try:
        evaluator = Evaluator(store, config, utcnow)
        normalizer = Normalizer(store, parser_for(config), config, new_metrics(), evaluator=evaluator)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        taken = await normalizer.run_until_idle()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(f"done {taken} {usage.ru_utime + usage.ru_stime:.2f}", flush=True)
    finally:
        await store.close()


async def _run(workers: int, events: int, lag: int) -> dict[str, float]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        await _prepare(url, events, lag)
        children = [await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.workers", "--child", url, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE) for _ in range(workers)]
        for child in children:
            assert child.stdout is not None
            assert (await child.stdout.readline()).strip() == b"ready"
        started = time.perf_counter()
        for child in children:
            assert child.stdin is not None
            child.stdin.write(b"go\n")
            await child.stdin.drain()
        outputs = [(await child.communicate())[0].decode().split() for child in children]
        elapsed = time.perf_counter() - started
        taken = sum(int(out[1]) for out in outputs)
        cpu = sum(float(out[2]) for out in outputs)
        return {"workers": workers, "deliveries": taken, "seconds": elapsed, "events_per_second": events / elapsed,
                "cpu_seconds": cpu, "shares": [int(out[1]) for out in outputs]}  # type: ignore[dict-item]
    finally:
        await _admin(f'DROP DATABASE "{name}" WITH (FORCE)')


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


async def _main(args: argparse.Namespace) -> None:
    counts = [int(n) for n in args.workers.split(",")]
    for repeat in range(1, args.repeats + 1):
        base: float | None = None
        for workers in counts:
            before = _load()
            run = await _run(workers, args.events, args.lag)
            rate = run["events_per_second"]
            base = base or rate
            print(f"repeat {repeat}, {workers} worker(s): {rate:,.0f} events/s ({rate / workers:,.0f} per worker, "
                  f"{rate / base:.2f}x one worker), {run['seconds']:.1f} s, workers' CPU {run['cpu_seconds']:.1f} s, "
                  f"deliveries per worker {run['shares']}, load {before} -> {_load()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--lag", type=int, default=50)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(_child(args.child))
    else:
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
