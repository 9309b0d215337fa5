"""``/ingest`` before and after a change, alternating in one run: bench.growth's in-process run from two source trees.

    git archive <before> | tar -x -C /tmp/before           # the tree to compare with (e.g. main before the change)
    .venv/bin/python -m bench.alternate /tmp/before . --events 6000 --prestore 100000 --repeats 3

Each run is a fresh process on a new SQLite file or PostgreSQL database (``bench.growth``), with the tree first on
its path; the pairs alternate which tree goes first (the machine's load moves figures 2-3x between runs, so compare
within a pair). Prints events/s and the process's CPU ms per 100 events (client, receiver, normalizer, evaluator)
with the load average before each run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

_RUN = """
import asyncio, json, sys, tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from bench.growth import _ingest
with tempfile.TemporaryDirectory() as tmp:
    r = asyncio.run(_ingest(sys.argv[1], Path(tmp), int(sys.argv[2]), int(sys.argv[3])))
print(json.dumps({k: r[k] for k in ("events_per_s", "cpu_ms_per_100", "stored", "dead")}))
"""


def in_tree(tree: Path, code: str, *args: object) -> dict:
    """Run ``code`` in a fresh process with ``tree`` first on its path; the last line it prints, read as JSON."""
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=tree, check=True,
                         env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def two_trees(description: str | None) -> argparse.ArgumentParser:
    """The arguments of a before/after bench: the two trees, ``--repeats`` and ``--stores``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--stores", default="sqlite,postgresql")
    return parser


def runs(args: argparse.Namespace, sizes: Sequence[int] = (0,)) -> Iterator[tuple[int, str, int, str, Path, str]]:
    """(repeat, store, size, tree's name, tree, load average) of each run: the two trees one after the other at each
    store and size, which goes first turned each repeat."""
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    for repeat in range(1, args.repeats + 1):
        for store in args.stores.split(","):
            for size in sizes:
                for name in ("before", "after") if repeat % 2 else ("after", "before"):
                    yield repeat, store, size, name, trees[name], " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = two_trees(__doc__)
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--prestore", type=int, default=100_000)
    args = parser.parse_args(argv)
    for repeat, store, stored, name, tree, load in runs(args, (0, args.prestore)):
        result = in_tree(tree, _RUN, store, args.events, stored)
        print(f"repeat {repeat} {store:10} {stored:>9,} stored {name:6}: {result['events_per_s']:7,.0f} "
              f"events/s, {result['cpu_ms_per_100']:.1f} ms CPU per 100 events ({result['stored']:,} "
              f"stored, {result['dead']} dead); load {load}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
