"""Step outcomes' SQL (see hub.exceptions.step_outcomes): replaced per transaction by the evaluator, counted per
group and step by SLA attainment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.bulk import insert_rows
from hub.store.lookups import chunks, one_of, per_statement
from hub.store.metrics_queries import Window
from hub.store.tables import step_outcomes, transaction_attributes, transactions


async def replace(conn: AsyncConnection, tx_ids: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """These transactions' rows are now ``rows`` (none for a transaction that is gone or has no flow; every row
    with the same keys)."""
    for chunk in chunks(tx_ids, per_statement(conn)):
        await conn.execute(delete(step_outcomes).where(one_of(conn, step_outcomes.c.tx_id, chunk)))
    await insert_rows(conn, step_outcomes, rows)  # COPY on PostgreSQL, one executemany on SQLite


def _chosen(kind: str, window: Window) -> Any:
    """The transactions of ``kind`` whose first event is in the window."""
    query = transactions.c.kind == kind
    if window.since is not None:
        query = and_(query, transactions.c.first_at >= window.since)
    if window.until is not None:
        query = and_(query, transactions.c.first_at < window.until)
    return query


async def counts(conn: AsyncConnection, kind: str, window: Window, key: str, attribute: str | None,
                 now: datetime) -> list[Any]:
    """Per group (the channel, or the attribute's value) and step: on_time, late and overdue at ``now``, over the
    window's transactions whose rows were computed with flow ``key``; one grouped statement."""
    o = step_outcomes.c
    source = step_outcomes.join(transactions, transactions.c.id == o.tx_id)
    group: Any = o.channel
    if attribute is not None:
        attrs = transaction_attributes.alias("attr")
        source = source.outerjoin(attrs, and_(attrs.c.tx_id == o.tx_id, attrs.c.name == attribute))
        group = attrs.c.value
    overdue = and_(o.outcome == "pending", o.due_at < now)
    query = (select(group.label("grp"), o.step,
                    func.sum(case((o.outcome == "on_time", 1), else_=0)).label("on_time"),
                    func.sum(case((o.outcome == "late", 1), else_=0)).label("late"),
                    func.sum(case((overdue, 1), else_=0)).label("overdue"))
             .select_from(source).where(_chosen(kind, window), o.flow == key).group_by(group, o.step))
    return list((await conn.execute(query)).all())


async def without_outcomes(conn: AsyncConnection, kind: str, window: Window, key: str, cap: int) -> list[str]:
    """The newest ``cap`` + 1 window transactions with no row of flow ``key`` (not evaluated since it changed)."""
    counted = exists().where(step_outcomes.c.tx_id == transactions.c.id, step_outcomes.c.flow == key)
    query = (select(transactions.c.id).where(_chosen(kind, window), ~counted)
             .order_by(transactions.c.id.desc()).limit(cap + 1))
    return list((await conn.execute(query)).scalars())
