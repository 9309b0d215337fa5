"""Run every crosstrace benchmark once and print the figures beside their baselines (DESIGN §6).

    .venv/bin/python -m bench.run            # full: ~10-15 min on 2 cores (1M stored events for lookups)
    .venv/bin/python -m bench.run --quick    # smoke run, small sizes, < 60 s
    .venv/bin/python -m bench.run --events 10000000   # transaction(ref) at 10M stored events

Each figure runs on a fresh SQLite file in its own temporary directory. Figures are printed, never asserted.
Where the ingest time goes (webhook path and normalizer apart, writer waits, a profile by package):
``.venv/bin/python -m bench.spine [--profile]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ingest, lookup, webhooks  # noqa: E402

FULL = {"duration": 10.0, "concurrency": 64, "max_requests": 400_000, "drain_timeout": 180.0,
        "ingest_events": 100_000, "events": 1_000_000, "lookups": 1000, "big_traces": 500, "budget": 60.0}
QUICK = {"duration": 3.0, "concurrency": 64, "max_requests": 100_000, "drain_timeout": 15.0,
         "ingest_events": 6_000, "events": 50_000, "lookups": 150, "big_traces": 50, "budget": 8.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run (< 60 s)")
    parser.add_argument("--only", default="webhooks,ingest,lookup", help="comma-separated subset to run")
    parser.add_argument("--duration", type=float, help="seconds of load per webhook run (default 10)")
    parser.add_argument("--concurrency", type=int, help="loader connections (default 64)")
    parser.add_argument("--ingest-events", type=int, help="events pushed through /ingest (default 100,000)")
    parser.add_argument("--events", type=int, help="stored events for the lookup figure (default 1,000,000)")
    parser.add_argument("--lookups", type=int, help="timed lookups per method (default 1,000)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    for name in ("duration", "concurrency", "ingest_events", "events", "lookups"):
        if getattr(args, name) is not None:
            sizes[name] = getattr(args, name)
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    results_load: dict[str, list[float]] = {}

    started = time.perf_counter()
    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                               "python": platform.python_version(), "sizes": sizes, "loadavg": results_load}
    print(f"crosstrace bench {results['date']} - {os.cpu_count()} CPUs, Python {results['python']}, "
          f"{'quick' if args.quick else 'full'} run", flush=True)
    if "webhooks" in only:
        results_load["webhooks"] = _busy()
        print(f"\n[1] signed webhooks/s over HTTP (uvicorn, 1 worker, httptools+uvloop; c{sizes['concurrency']}, "
              f"{sizes['duration']:.0f} s each)", flush=True)
        with tempfile.TemporaryDirectory(prefix="ct-bench-") as tmp:
            results["webhooks"] = webhooks.run(Path(tmp), duration=sizes["duration"],
                                               concurrency=sizes["concurrency"], limit=sizes["max_requests"],
                                               drain_timeout=sizes["drain_timeout"])
    if "ingest" in only:
        results_load["ingest"] = _busy()
        print(f"\n[2] CloudEvents batches via /ingest, {sizes['ingest_events']:,} events, until normalized+correlated",
              flush=True)
        with tempfile.TemporaryDirectory(prefix="ct-bench-") as tmp:
            results["ingest"] = ingest.run(Path(tmp), events=sizes["ingest_events"])
    if "lookup" in only:
        results_load["lookup"] = _busy()
        print(f"\n[3] transaction(ref) at {sizes['events']:,} stored events", flush=True)
        with tempfile.TemporaryDirectory(prefix="ct-bench-") as tmp:
            results["lookup"] = lookup.run(Path(tmp), events=sizes["events"], lookups=sizes["lookups"],
                                           big_traces=sizes["big_traces"], budget=sizes["budget"])
    results["seconds"] = time.perf_counter() - started
    print(summary(results), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


def _busy() -> list[float]:
    """The 1-minute load average before a figure: above ~0.5 something else shares the 2 cores."""
    load = [round(x, 2) for x in os.getloadavg()]
    if load[0] > 0.5:
        print(f"  note: load average {load[0]} before this figure - other work is sharing the CPUs", flush=True)
    return load


def summary(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str, str]] = []
    if "webhooks" in results:
        w = results["webhooks"]
        rows.append(("signed webhooks/s (HTTP, c{})".format(w["concurrency"]), f"{w['hub']['rps']:,.0f}",
                     f"{w['hello']['rps']:,.0f} hello", f"{w['ratio']:.3f}", "9-14k vs ~29.5k hello"))
        rows.append(("  webhook latency p50 / p99 ms", f"{w['hub']['p50_ms']:.1f} / {w['hub']['p99_ms']:.1f}",
                     f"{w['hello']['p50_ms']:.1f} / {w['hello']['p99_ms']:.1f}", "", ""))
    if "ingest" in results:
        i = results["ingest"]
        rows.append(("events/s normalized+correlated", f"{i['hub']['events_per_s']:,.0f}",
                     f"{i['executemany']['rows_per_s']:,.0f} rows/s", f"{i['ratio']:.3f}", "executemany 70-80k"))
    if "lookup" in results:
        lk = results["lookup"]
        label = f"transaction(ref) @ {lk['events'] / 1e6:g}M events"
        for name, baseline, fact in (("graphql", "bare_json", "5-9 ms"), ("graphql_masked", "graphql", ""),
                                     ("bare_json", "bare_sql", "~0.7 ms"),
                                     ("store", "bare_sql", "0.2-0.8 ms"), ("bare_sql", "", ""),
                                     ("asgi_floor", "", "")):
            r = lk[name]
            ratio_text = f"{r['p50_ms'] / lk[baseline]['p50_ms']:.1f}x {baseline}" if baseline else ""
            rows.append((f"{label}: {name} p50 / p99 ms", f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}", "", ratio_text,
                         fact))
            label = " " * len(label)
    header = ("figure", "crosstrace", "baseline", "ratio", "DESIGN §6")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    lines = ["", f"summary ({results['seconds']:.0f} s, {results['cpus']} CPUs, {results['date']})"]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
