"""The statements recording and evaluating a batch send, counted (PostgreSQL waits a round trip for each).

Each statement is awaited in turn on the normalizer's path, so their number bounds a batch on PostgreSQL, and a
statement whose text changes with the number of ids (``IN ($1, …, $n)``) is prepared again, in one more round trip,
for each new length. Counted with a listener on the engine (a real count, no mock); on SQLite as well, where a
statement is a hop to aiosqlite's thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from sqlalchemy import event

from hub.config import Config
from hub.correlation.plan import CorrelationSettings
from hub.exceptions.evaluate import Evaluator
from hub.exceptions.lifecycle import Changes
from hub.model import DEFAULT_JUNK_VALUES, Event, Ref
from hub.store import Store
from hub.store.record import Incoming, record_events

T0 = datetime(2026, 11, 1, 12, 0, 0)
SETTINGS = CorrelationSettings(junk_values=frozenset(DEFAULT_JUNK_VALUES), placeholder_threshold=50)


@contextmanager
def sent(store: Store) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", record)


def orders(run: str, count: int, stage: int) -> list[Incoming]:
    """``count`` orders: stage 0 places them (new transactions), stage 1 ships them (joins the stored ones)."""
    source, kind, ref = [("shop", "order.placed", "shop:order"), ("wms", "shipment.delivered", "wms:shipment")][stage]
    return [Incoming(Event(source=source, source_event_id=f"{run}-{stage}-{n}", type=kind, occurred_at=T0,
                           refs=[Ref("erp:sales_order", f"SO-{run}-{n}"), Ref(ref, f"{run}-{n}")]),
                     f"dlv_{run}{stage}{n // 10}", T0) for n in range(count)]


async def record(store: Store, items: list[Incoming]) -> list[str]:
    with sent(store) as statements:
        async with store.write() as conn:
            await record_events(store, conn, items, SETTINGS, whole={item.delivery_id for item in items})
    return statements


@pytest.mark.asyncio
async def test_recording_a_batch_of_stored_orders_sends_few_statements(store: Store) -> None:
    await record(store, orders("a", 300, 0))
    statements = await record(store, orders("a", 300, 1))  # every event joins a stored transaction
    # PostgreSQL: the key locks, the stored events (by key and by delivery: one statement), the deliveries' repeats,
    # the keys, their transactions' locks, the keys again, the placeholder check, new keys (COPY: not counted),
    # key counts, the members with their open exceptions and attributes, the summaries. It sent 14 before.
    # SQLite (no locks): stored events, by delivery, repeats, keys (two chunks of 400), the placeholder check, new keys,
    # key counts, members, summaries, the events and refs (executemany); 14 before.
    assert len(statements) <= (11 if store.dialect == "postgresql" else 12), statements


@pytest.mark.asyncio
@pytest.mark.parametrize("store", ["postgres"], indirect=True)  # SQLite reuses no prepared statements (IN per length)
async def test_evaluation_sends_the_same_statements_for_any_number_of_transactions(store: Store) -> None:
    evaluator = Evaluator(store, Config(), lambda: T0)
    texts = []
    for run, count in (("s", 3), ("m", 7), ("l", 450)):  # 450: more than SQLite's 400 values per statement
        await record(store, orders(run, count, 0))
        async with store.read() as conn:
            ids = [row[0] for row in await conn.exec_driver_sql(
                "SELECT DISTINCT tx_id FROM events WHERE source_event_id LIKE $1", (f"{run}-%",))]
        with sent(store) as statements:
            async with store.write() as conn:
                assert await evaluator.evaluate(conn, ids, T0, Changes()) == count
        texts.append(statements)
    assert texts[0] == texts[1] == texts[2]  # one text each, prepared once; 450 in one chunk, not two
