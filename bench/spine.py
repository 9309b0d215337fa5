"""Where ingest time goes: the webhook path and the normalizer measured apart, in one process, no HTTP.

    .venv/bin/python -m bench.spine                    # 4,000 signed webhooks, c64
    .venv/bin/python -m bench.spine --profile          # plus a cProfile of each phase, by package

On a fresh SQLite file each, through the real app (``create_app``), calling its ASGI entry directly:
1. ``receive``: signed webhooks with the normalizer stopped (verify, inbox group commit, 2xx);
2. ``receive+normalize``: the same with the normalizer running, as ``crosstrace serve`` runs, then the drain;
3. ``normalize``: the normalizer alone over the deliveries stored by (1).
For each it prints the rate and the writer accounting (``Store.writer_stats``): how long the inbox waited for
the one writer and how long each kind held it. Compare the phases of one run with each other; absolute
figures move with whatever else shares the CPUs. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import SECRET, bench_config, dumps, iso_now, order_event, order_stream, sqlite_url
from collectors.standard_webhooks import sign

Request = tuple[str, list[tuple[bytes, bytes]], bytes]


def signed_requests(count: int, run: str) -> list[Request]:
    """(source, ASGI headers, body) of ``count`` signed CloudEvents webhooks, orders linked across sources."""
    when, now = iso_now(), int(time.time())
    result: list[Request] = []
    for (order, stage), _ in zip(order_stream(count // 3 + 1000, 500), range(count), strict=False):
        event = order_event(order, stage, when)
        event["id"] = f"{run}-{event['id']}"
        body, msg_id = dumps(event), f"msg_{run}-{order}-{stage}"
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"webhook-id", msg_id.encode()), (b"webhook-timestamp", str(now).encode()),
                   (b"webhook-signature", sign(SECRET, msg_id, now, body).encode())]
        result.append((event["source"], headers, body))
    return result


async def _post(app: Any, request: Request, statuses: Counter[int]) -> None:
    source, headers, body = request
    path = f"/hooks/{source}"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] += 1

    await app(scope, receive, send)


async def post_all(app: Any, requests: list[Request], concurrency: int) -> tuple[float, Counter[int]]:
    """Send every request with ``concurrency`` in flight; returns requests/s and the status counts."""
    queue = list(reversed(requests))
    statuses: Counter[int] = Counter()

    async def worker() -> None:
        while queue:
            await _post(app, queue.pop(), statuses)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(requests) / (time.perf_counter() - started), statuses


def _writers(store: Any) -> str:
    parts = []
    for writer, stats in store.writer_stats.items():
        if stats.transactions:
            count = stats.transactions
            parts.append(f"{writer}: {count} txns, wait {stats.wait_seconds / count * 1000:.1f} ms, hold "
                         f"{stats.hold_seconds / count * 1000:.1f} ms avg ({stats.hold_seconds:.2f} s held)")
    return "; ".join(parts)


def _by_package(profile: cProfile.Profile, top: int = 12) -> str:
    """Own time per package (sqlalchemy, hub/store, collectors, ...): a flat profile read at a glance."""
    totals: Counter[str] = Counter()
    for (filename, _, function), (_, _, own, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        if "site-packages/" in filename:
            key = filename.split("site-packages/")[1].split("/")[0]
        elif "/python3." in filename:
            key = "stdlib"
        elif filename == "~":
            key = "waiting (epoll)" if "poll" in function else "builtins"
        else:
            key = "/".join(Path(filename).parts[-2:])
        totals[key] += own
    whole = sum(totals.values()) or 1.0
    return "\n".join(f"      {seconds:6.2f} s {seconds / whole:5.1%}  {key}"
                     for key, seconds in totals.most_common(top))


async def _phase(name: str, db: Path, requests: list[Request], concurrency: int, normalizer: bool,
                 profile: bool) -> dict[str, Any]:
    from hub.app import create_app

    app = create_app(bench_config(sqlite_url(str(db))), evaluate_every=3600)
    profiler = cProfile.Profile() if profile else None
    result: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        hub = app.state.hub
        if not normalizer:
            await hub.normalizer.stop()
        if profiler and name != "normalize":
            profiler.enable()
        started = time.perf_counter()
        result["rps"], statuses = await post_all(app, requests, concurrency)
        if name == "normalize" and profiler:
            profiler.enable()
        drained = time.perf_counter()
        normalized = await hub.normalizer.run_until_idle() if name != "receive" else 0
        ended = time.perf_counter()
        if profiler:
            profiler.disable()
        result.update(statuses=dict(statuses), normalized=normalized, drain_seconds=ended - drained,
                      overall_per_s=len(requests) / (ended - started), writers=_writers(hub.started().store))
    if name == "receive":
        line = f"{result['rps']:,.0f} webhooks/s acknowledged (normalizer stopped)"
    elif name == "receive+normalize":
        line = (f"{result['rps']:,.0f} webhooks/s acknowledged with the normalizer running; backlog of "
                f"{result['normalized']} drained in {result['drain_seconds']:.1f} s "
                f"({result['overall_per_s']:,.0f}/s received and normalized overall)")
    else:
        line = f"{result['normalized'] / result['drain_seconds']:,.0f} deliveries/s normalized+correlated alone"
        result["normalize_per_s"] = result["normalized"] / result["drain_seconds"]
    print(f"  {name:<18} {line}\n  {'':<18} writer: {result['writers']}", flush=True)
    if profiler:
        print(_by_package(profiler), flush=True)
    return result


async def run(tmp: Path, *, deliveries: int, concurrency: int, profile: bool) -> dict[str, Any]:
    results = {"receive": await _phase("receive", tmp / "a.db", signed_requests(deliveries, "a"), concurrency,
                                       normalizer=False, profile=profile)}
    results["receive+normalize"] = await _phase("receive+normalize", tmp / "b.db", signed_requests(deliveries, "b"),
                                                concurrency, normalizer=True, profile=profile)
    results["normalize"] = await _phase("normalize", tmp / "c.db", signed_requests(deliveries, "c"), concurrency,
                                        normalizer=False, profile=profile)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile", action="store_true", help="cProfile each phase; own time by package")
    args = parser.parse_args(argv)
    print(f"crosstrace spine breakdown: {args.deliveries:,} signed webhooks, c{args.concurrency}, in-process",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="ct-spine-") as tmp:
        asyncio.run(run(Path(tmp), deliveries=args.deliveries, concurrency=args.concurrency, profile=args.profile))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
