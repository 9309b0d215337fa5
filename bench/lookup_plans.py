"""The plans of one lookup (``bench.lookup --explain``): every read ``get_trace`` sends for a ref (what the lookup
asks: no related, no exceptions), through SQLAlchemy or on the driver directly, explained as it ran.

PostgreSQL: PostgreSQL's ``auto_explain`` (loaded into the lookup's own session, its output sent back as notices)
logs each statement with ``ANALYZE`` and ``BUFFERS``, with its real arguments and the plan it really used (custom or
generic); the lookup runs twice and the second (warm) run is kept: the buffers it touches must not grow with what
is stored. SQLite: sqlite3's trace callback gives each statement with its arguments written in, and a connection of
its own prints its ``EXPLAIN QUERY PLAN``.
"""
from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

from hub.store import Store
from hub.store.trace import get_trace

_AUTO_EXPLAIN = ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0", "SET auto_explain.log_analyze = on",
                 "SET auto_explain.log_buffers = on", "SET auto_explain.log_level = notice")
_READS = ("SELECT", "WITH")


async def explained_postgres(store: Store, ref: str) -> list[dict[str, Any]]:
    """Each read of a warm ``get_trace(ref)`` as auto_explain logged it: its plan lines, the shared buffers its top
    node hit and read, its execution ms."""
    notices: list[str] = []
    async with store.read() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        for statement in _AUTO_EXPLAIN:
            await driver.execute(statement)
        driver.add_log_listener(lambda _conn, message: notices.append(message.message))
        await get_trace(conn, ref, linked=False)
        await _flush(driver, "SET auto_explain.log_min_duration = 0")
        notices.clear()
        await get_trace(conn, ref, linked=False)
        await _flush(driver, "SET auto_explain.log_min_duration = -1")
    plans = []
    for notice in notices:
        text, _, plan = notice.partition("\n")[2].partition("\n")
        if not text.removeprefix("Query Text:").lstrip().upper().startswith(_READS):
            continue
        lines = plan.splitlines()
        top = next((line for line in lines if "Buffers:" in line), "")  # the top node's: the whole statement's
        plans.append({"statement": text.removeprefix("Query Text:").strip(), "plan": lines,
                      "buffers_hit": _count("hit", top), "buffers_read": _count("read", top),
                      "execution_ms": float(re.search(r"duration: ([\d.]+) ms", notice).group(1))})
    return plans


async def _flush(driver: Any, statement: str) -> None:
    """A statement that ends the last one's portal (its plan is logged when the portal closes), then the notices
    received reach the listener (asyncpg calls it soon, not at once)."""
    await driver.execute(statement)
    await asyncio.sleep(0)


def _count(kind: str, buffers: str) -> int:
    found = re.search(rf"shared .*?{kind}=(\d+)", buffers)
    return int(found.group(1)) if found else 0


async def explained_sqlite(store: Store, db: Path, ref: str) -> list[dict[str, Any]]:
    """Each read of ``get_trace(ref)`` with its ``EXPLAIN QUERY PLAN``."""
    sent: list[str] = []
    async with store.read() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.set_trace_callback(sent.append)
        try:
            await get_trace(conn, ref, linked=False)
        finally:
            await driver.set_trace_callback(None)
    explain = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [{"statement": text, "plan": [row[-1] for row in explain.execute(f"EXPLAIN QUERY PLAN {text}")]}
                for text in sent if text.lstrip().upper().startswith(_READS)]
    finally:
        explain.close()


def show(plans: list[dict[str, Any]]) -> None:
    for number, plan in enumerate(plans, 1):
        head = f"  plan {number}: {' '.join(plan['statement'].split())[:150]}"
        if "buffers_hit" in plan:
            head += (f"\n    buffers hit {plan['buffers_hit']} read {plan['buffers_read']}; "
                     f"{plan['execution_ms']:.2f} ms")
        print(head, *(f"    | {line}" for line in plan["plan"]), sep="\n", flush=True)
