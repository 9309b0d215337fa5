"""What the evaluator reads and writes besides exceptions: transactions' kinds and events, and the ``tx_due`` index.

``tx_due`` holds each transaction's next due time; a tick reads only the rows that fell due.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.bulk import insert_rows
from hub.store.lookups import one_of
from hub.store.tables import events, transactions, tx_due

EVALUATE_NOW = datetime(1970, 1, 1)  # a due time every tick has passed: "look at this transaction again"


async def kinds_of(conn: AsyncConnection, tx_ids: Sequence[str]) -> dict[str, str]:
    """Each existing transaction's kind (an unknown id is left out)."""
    return dict((await conn.execute(select(transactions.c.id, transactions.c.kind)  # type: ignore[arg-type]
                                    .where(one_of(conn, transactions.c.id, tx_ids)))).all())


async def events_of(conn: AsyncConnection, tx_ids: Sequence[str]) -> list[Any]:
    """Every event row of these transactions."""
    return list((await conn.execute(select(events).where(one_of(conn, events.c.tx_id, tx_ids)))).all())


async def fell_due(conn: AsyncConnection, at: datetime, limit: int) -> list[str]:
    """The transactions due by ``at``, the longest due first, at most ``limit``."""
    return list((await conn.execute(select(tx_due.c.tx_id).where(tx_due.c.due_at <= at)
                                    .order_by(tx_due.c.due_at).limit(limit))).scalars())


async def forget_due(conn: AsyncConnection, tx_ids: Sequence[str]) -> None:
    await conn.execute(delete(tx_due).where(one_of(conn, tx_due.c.tx_id, tx_ids)))


async def set_due(conn: AsyncConnection, due: Sequence[tuple[str, datetime]]) -> None:
    """Add ``(tx_id, due_at)`` rows (the transactions have none: :func:`forget_due` first)."""
    await insert_rows(conn, tx_due, [{"tx_id": tx_id, "due_at": at} for tx_id, at in due])


async def due_at(conn: AsyncConnection, tx_ids: Sequence[str], at: datetime) -> None:
    """Make these transactions due at ``at``, whatever they were due at before."""
    if tx_ids:
        await forget_due(conn, tx_ids)
        await set_due(conn, [(tx_id, at) for tx_id in tx_ids])
