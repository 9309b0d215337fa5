"""Timers that scale: 100,000 open transactions due tomorrow cost a tick nothing beyond what falls due.

Measured as work, not time: the statements a tick runs (the same count with 100,000 rows waiting as with
none), the index-range plan of its read of ``tx_due`` (PostgreSQL: actual rows read by EXPLAIN ANALYZE),
and the untouched future rows afterwards. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from hub.config import Config
from hub.exceptions.evaluate import Evaluator
from hub.store import Store
from hub.store.tables import transactions, tx_due

NOW = datetime(2026, 11, 2, 9, 0)
FUTURE = 100_000


_MEASURING: ContextVar[StatementLog | None] = ContextVar("measuring", default=None)


class StatementLog:
    """Every statement the engine sends for the code measured, with its parameters (a real count, no mock).

    Measured: what runs in the opening task's context from here to ``close()`` (tasks it starts inherit the
    context; SQLAlchemy's greenlets carry it to the listener). The app's background loops, started before, also
    send statements whenever they wake (the normalizer's scan for pending deliveries, PostgreSQL's key refresh):
    counting those made the count depend on the scheduler (11 vs 12 under load).
    """

    def __init__(self, store: Store) -> None:
        self.statements: list[tuple[str, Any]] = []
        self._engine = store.engine.sync_engine
        self._token = _MEASURING.set(self)
        event.listen(self._engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if _MEASURING.get() is self:
            self.statements.append((statement, parameters))

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._record)
        _MEASURING.reset(self._token)


async def add_due(store: Store, prefix: str, count: int, due_at: datetime) -> None:
    """Transactions with a due time, inserted in bulk straight through the store."""
    async with store.write() as conn:
        for start in range(0, count, 10_000):
            ids = [f"tx_{prefix}{n:07d}" for n in range(start, min(count, start + 10_000))]
            await conn.execute(transactions.insert(), [
                {"id": i, "kind": "order", "first_at": NOW, "last_at": NOW, "updated_at": NOW, "events": 0,
                 "systems": []} for i in ids])
            await conn.execute(tx_due.insert(), [{"tx_id": i, "due_at": due_at} for i in ids])


async def tick_statements(store: Store, evaluator: Evaluator) -> tuple[int, int, list[tuple[str, Any]]]:
    log = StatementLog(store)
    try:
        result = await evaluator.tick(NOW)
    finally:
        log.close()
    return result.due, result.evaluated, log.statements


async def rows_read_by(store: Store, statement: str, parameters: Any) -> str | int:
    """PostgreSQL: rows the tx_due read actually touched (EXPLAIN ANALYZE). SQLite: its query plan."""
    async with store.read() as conn:
        if store.dialect == "sqlite":
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return " | ".join(str(row[-1]) for row in rows)
        await conn.exec_driver_sql("ANALYZE tx_due")
        [[plan]] = (await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)).all()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    touched = 0
    stack = [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        if node.get("Relation Name") == "tx_due":
            touched += node["Actual Rows"] * node.get("Actual Loops", 1) + node.get("Rows Removed by Filter", 0)
        stack.extend(node.get("Plans", []))
    return touched


@pytest.mark.asyncio
async def test_a_tick_touches_only_what_fell_due(store: Store) -> None:
    evaluator = Evaluator(store, Config(), lambda: NOW)
    await add_due(store, "due", 3, NOW - timedelta(minutes=1))
    baseline_due, _, baseline = await tick_statements(store, evaluator)
    assert baseline_due == 3

    await add_due(store, "later", FUTURE, NOW + timedelta(days=1))
    await add_due(store, "now", 3, NOW - timedelta(minutes=1))
    due, evaluated, statements = await tick_statements(store, evaluator)
    assert (due, evaluated) == (3, 3)
    assert len(statements) == len(baseline)  # 100,000 waiting rows add no statement

    [(read, parameters)] = [(s, p) for s, p in statements if "FROM tx_due" in s and "due_at <=" in s]
    await add_due(store, "again", 3, NOW - timedelta(minutes=1))  # the tick consumed its three: three more
    touched = await rows_read_by(store, read, parameters)
    if store.dialect == "sqlite":
        assert "SEARCH tx_due USING" in touched and "ix_tx_due_due_at (due_at<?)" in touched, touched
    else:
        assert touched == 3, touched  # rows of tx_due the read actually visited, of 100,000+
    async with store.read() as conn:
        waiting = (await conn.execute(select(func.count()).select_from(tx_due)
                                      .where(tx_due.c.due_at == NOW + timedelta(days=1)))).scalar_one()
    assert waiting == FUTURE  # untouched
