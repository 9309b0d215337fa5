"""Recording's lookups on PostgreSQL read what they ask for, however much is stored (issue 14, item 4).

The same batch is recorded on a store holding a few orders and on one holding thirty times more; every
``SELECT`` the recording sent is run again under ``EXPLAIN (ANALYZE, FORMAT JSON)``, with the same parameters,
as the custom plan and as the generic plan (asyncpg prepares statements: after five runs PostgreSQL may keep a
generic one). The rows each plan reads (returned plus removed by a filter, times its loops) must not grow with
the store: before the lookups joined ``unnest``, the placeholder check's generic plan read 7,740 rows on the
small store and 181,740 on the large one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import pytest_asyncio
from sqlalchemy import event

from bench.prestore import FIRST, prestore
from hub.correlation.plan import CorrelationSettings
from hub.model import DEFAULT_JUNK_VALUES, Event, Ref
from hub.store import Store
from hub.store.record import Incoming, record_events
from tests.conftest import PG_URL, pg_execute

SETTINGS = CorrelationSettings(junk_values=frozenset(DEFAULT_JUNK_VALUES), placeholder_threshold=50)
T0 = datetime(2026, 11, 1, 12, 0, 0)
SMALL, LARGE = 3_000, 90_000


@pytest_asyncio.fixture
async def pg_schemas() -> AsyncIterator[list[str]]:
    names = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    for name in names:
        await pg_execute(f'CREATE SCHEMA "{name}"')
    try:
        yield names
    finally:
        for name in names:
            await pg_execute(f'DROP SCHEMA "{name}" CASCADE')


def batch() -> list[Incoming]:
    """New orders, and new events of stored ones (their refs are found among what is stored)."""
    items = []
    for n in range(170):  # 510 events: the normalizer's transactions hold up to 500, SQLite chunks by 400
        stored = FIRST + n * 7  # an order the prestore made
        items.append(Event(source="wms", source_event_id=f"late-{n}", type="shipment.delivered", occurred_at=T0,
                           refs=[Ref("erp:sales_order", f"SO-{stored:08d}"), Ref("wms:shipment", f"SH-{stored:08d}")]))
        items.append(Event(source="shop", source_event_id=f"new-{n}", type="order.placed", occurred_at=T0,
                           refs=[Ref("shop:order", f"60{n:010d}"), Ref("shop:order_name", f"#new{n}")]))
        items.append(Event(source="erp", source_event_id=f"new-{n}", type="erp.posted", occurred_at=T0,
                           refs=[Ref("erp:sales_order", f"SO-new{n}"), Ref("shop:order", f"60{n:010d}")]))
    return [Incoming(e, f"dlv_{i}", T0) for i, e in enumerate(items)]


def rows_read(plan: dict) -> float:
    """Rows every node of a plan produced or filtered away, over all its loops."""
    loops = plan.get("Actual Loops", 1)
    own = (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
           + plan.get("Rows Removed by Index Recheck", 0)) * loops
    if "Scan" not in plan["Node Type"]:
        own = 0
    return own + sum(rows_read(child) for child in plan.get("Plans", []))


async def record_and_explain(schema: str, stored: int) -> dict[str, tuple[float, float]]:
    """Per statement of the recording: rows read by its custom and by its generic plan."""
    store = await Store.open(PG_URL, search_path=schema)
    try:
        await prestore(store, stored)
        sent: list[tuple[str, tuple]] = []

        def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
            if statement.lstrip().upper().startswith("SELECT"):
                sent.append((statement, parameters))

        event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
        async with store.write() as conn:
            await record_events(store, conn, batch(), SETTINGS)
        event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
        assert sent, "the recording sent no SELECT"
        read: dict[str, tuple[float, float]] = {}
        async with store.write() as conn:
            for index, (statement, parameters) in enumerate(sent):
                custom = await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
                await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
                await conn.exec_driver_sql(f"PREPARE probe_{index} AS {statement}")
                values = ", ".join(_literal(value) for value in parameters)  # EXECUTE takes no parameters
                generic = await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE probe_{index}({values})")
                await conn.exec_driver_sql("SET LOCAL plan_cache_mode = auto")
                key = f"{index}: {statement[:160]}"
                read[key] = (rows_read(_plan(custom.scalar_one())), rows_read(_plan(generic.scalar_one())))
        return read
    finally:
        await store.close()


def _literal(value: object) -> str:
    if isinstance(value, list):
        return f"ARRAY[{', '.join(_literal(v) for v in value)}]" if value else "'{}'"
    if isinstance(value, bool | int | float):
        return str(value)
    assert isinstance(value, str), value
    return "'" + value.replace("'", "''") + "'"


def _plan(explained: str | list) -> dict:
    return (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]


@pytest.mark.asyncio
async def test_recording_reads_do_not_grow_with_what_is_stored(pg_schemas: list[str]) -> None:
    small = await record_and_explain(pg_schemas[0], SMALL)
    large = await record_and_explain(pg_schemas[1], LARGE)
    assert small.keys() == large.keys()
    # On the small store the planner may prefer a sequential scan (a few thousand rows): the bound is twice the
    # most either plan read there. The namespace-only plan of `IN (…) AND IN (…)` reads 20-30 times more at 90k.
    grown = {statement: (small[statement], large[statement]) for statement in small
             if max(large[statement]) > 2 * max(small[statement])}
    assert not grown, f"rows read (custom, generic plan) at {SMALL:,} → {LARGE:,} stored events: {grown}"
